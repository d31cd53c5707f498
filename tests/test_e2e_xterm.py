"""End to end in a real terminal: `fertui --demo --render sixel` in xterm (VT340, 256 colour registers) under
Xvfb, a screenshot, and the video pane must hold the picture at pixel resolution.

Needs Debian's xterm, xvfb and x11-apps (xwd); `.ci/run` installs them, and the test skips where they are absent.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.core.paths import installed_models_dir

MISSING = [tool for tool in ("xterm", "Xvfb", "xwd") if shutil.which(tool) is None]
pytestmark = pytest.mark.skipif(
    bool(MISSING), reason=f"{', '.join(MISSING)} not installed (apt-get install xterm xvfb x11-apps)"
)

FERTUI = Path(sys.executable).with_name("fertui")
START_TIMEOUT_S = 120  # TensorFlow's import alone takes a while on a busy 2-core machine
SCREEN = (1280, 900)


def read_xwd(data: bytes) -> np.ndarray:
    """An X window dump (ZPixmap, 24-bit depth in 32-bit pixels, as Xvfb's root window) as BGR."""
    header = struct.unpack(">25I", data[:100])
    header_size, pixmap_format, depth, width, height = header[0], header[2], header[3], header[4], header[5]
    byte_order, bits_per_pixel, bytes_per_line, n_colors = header[7], header[11], header[12], header[19]
    assert pixmap_format == 2 and depth == 24 and bits_per_pixel == 32, "a 24-bit TrueColor dump"
    start = header_size + 12 * n_colors
    rows = np.frombuffer(data[start : start + bytes_per_line * height], np.uint8).reshape(height, bytes_per_line)
    pixels = rows[:, : width * 4].reshape(height, width, 4)
    return np.ascontiguousarray(pixels[..., :3] if byte_order == 0 else pixels[..., [3, 2, 1]])


@pytest.fixture
def display():
    """A private X server; its display number chosen by the server itself."""
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        number = pipe.readline().strip()
    try:
        assert number, "Xvfb did not start"
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def models_dir(request) -> Path:
    if (installed_models_dir() / "emotion.tflite").is_file():
        return installed_models_dir()
    return request.getfixturevalue("tiny_models_dir")


def screenshot(display: str) -> np.ndarray:
    dump = subprocess.run(["xwd", "-root", "-silent", "-display", display], capture_output=True, check=True, timeout=20)
    return read_xwd(dump.stdout)


BLOCK = 12  # pixels: about two character cells of xterm's default 6x13 font


def picture_box(shot: np.ndarray) -> tuple[int, int, int, int] | None:
    """The bounding box (x, y, w, h) of the largest area of many-coloured blocks: a photograph, not text.

    A character cell holds two colours (text) and a half-block cell two (its halves), so a 12x12 block of
    them a handful; a photograph in 256 colours has many more in any such block.
    """
    height, width = (shot.shape[0] // BLOCK) * BLOCK, (shot.shape[1] // BLOCK) * BLOCK
    packed = shot[:height, :width].astype(np.int32)
    packed = (packed[..., 0] << 16) | (packed[..., 1] << 8) | packed[..., 2]
    blocks = packed.reshape(height // BLOCK, BLOCK, width // BLOCK, BLOCK).transpose(0, 2, 1, 3)
    blocks = np.sort(blocks.reshape(height // BLOCK, width // BLOCK, BLOCK * BLOCK), axis=2)
    colours = 1 + (np.diff(blocks, axis=2) != 0).sum(axis=2)
    mask = cv2.morphologyEx((colours > 8).astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    n, _labels, stats, _centroids = cv2.connectedComponentsWithStats(mask)
    if n < 2:
        return None
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h, _area = (int(v) * BLOCK for v in stats[biggest])
    return x, y, w, h


VIDEO_PANE_COLUMNS = 120 - 40 + 1  # of the 120x40 xterm: the side column is the right 40, plus a block's slack


def test_sixel_video_in_a_real_xterm(tmp_path, display, models_dir):
    args = f"--demo --render sixel --models {models_dir} --export-dir {tmp_path} --log {tmp_path / 'session.csv'}"
    script = f"echo $$ > {tmp_path / 'pid'}; cd {tmp_path} && exec env -u COLUMNS -u LINES {FERTUI} {args}"
    xterm = subprocess.Popen(
        [
            "xterm",
            "-ti",
            "vt340",
            "-xrm",
            "XTerm*numColorRegisters: 256",
            "-geometry",
            "120x40+0+0",
            "-e",
            "sh",
            "-c",
            script,
        ],  # fmt: skip
        env={**os.environ, "DISPLAY": display, "TERM": "xterm"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        box = None
        while time.monotonic() < deadline and xterm.poll() is None:
            time.sleep(0.5)
            shot = screenshot(display)
            # The video pane only: the face thumbnail is a photograph too, and close enough to merge with it.
            box = picture_box(shot[:, : VIDEO_PANE_COLUMNS * 6])
            if box is not None and box[2] >= 288 and box[3] >= 216:
                break
        # 320x240 pixels; block-aligned edges and a dark scene border can each cost a block.
        assert box is not None and box[2] >= 288 and box[3] >= 216, f"no picture in the pane: {box}"
        x, y, w, h = box
        crop = shot[y : y + h, x : x + w]
        cv2.imwrite(str(tmp_path / "xterm-sixel.png"), shot[: 40 * 13 + 8, : 120 * 6 + 8])  # kept for a look
        # A picture of the demo's portraits in up to 256 colours, not the dozen of text and cells...
        assert len(np.unique(crop.reshape(-1, 3), axis=0)) > 40
        # ...drawn at pixel resolution: averaging it over 6x13-pixel cells loses much of it.
        cells = cv2.resize(cv2.resize(crop, (w // 6, h // 13), interpolation=cv2.INTER_AREA), (w, h))
        assert np.abs(crop.astype(int) - cells).mean() > 8
        # The pane is on the left (the search was), above the status lines.
        assert y + h < 40 * 13 - 3 * 13
        # The face thumbnail is a Sixel image too, not half-blocks: a photograph in the face pane (the demo's faces
        # come and go, so it is looked for over a few seconds).
        faces_pane = (slice(13, 14 * 13), slice(81 * 6, 119 * 6))
        thumbnail = None
        deadline = time.monotonic() + 30
        while thumbnail is None and time.monotonic() < deadline:
            found = picture_box(screenshot(display)[faces_pane])
            thumbnail = found if found is not None and found[2] >= 48 and found[3] >= 48 else None
            time.sleep(0.5)
        assert thumbnail is not None, "no picture in the face pane"
        os.kill(int((tmp_path / "pid").read_text()), signal.SIGTERM)
        xterm.wait(30)
    finally:
        if xterm.poll() is None:
            xterm.kill()
            xterm.wait(10)
    meta = json.loads((tmp_path / "session.csv.meta.json").read_text())
    shown = meta["display"]
    assert shown["render"] == "sixel" and shown["terminal"]["sixel"] and shown["terminal"]["cell_px"]
    assert shown["images_shown"] > 0 and shown["image_size"][0] >= 320 and shown["image_size"][1] >= 240
