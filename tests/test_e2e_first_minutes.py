"""End to end, what a new user sees first in real terminals (issue 35): the colours xterm gets under its default
`TERM=xterm` and no `COLORTERM`; in tmux at 80x24 and 120x40, a help screen that shows every key and a key bar
that keeps `?` Help and `q` Quit; and Kitty graphics in a real kitty (Debian 12's 0.26.5 has no placeholders).

xterm runs under Xvfb and is read back with xwd (as tests/test_e2e_xterm.py does); tmux is read with capture-pane.
Each test skips where its tools are absent.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.media import portrait
from tests.test_e2e_tmux import FERTUI, START_TIMEOUT_S, Tmux, wait_for
from tests.test_e2e_xterm import display, models_dir, picture_box, screenshot  # noqa: F401  # fixtures used by name

XTERM_TOOLS = [tool for tool in ("xterm", "Xvfb", "xwd") if shutil.which(tool) is None]
CELL = (6, 13)  # xterm's default font, in pixels
KEY_DESCRIPTIONS = (
    "Boxes", "Landmarks", "Faces", "Outline", "Histogram", "Next face", "Pause", "Rec", "Export", "Snapshot",
    "Marker", "Note", "Help", "Quit",
)  # fmt: skip


@pytest.mark.skipif(bool(XTERM_TOOLS), reason=f"{', '.join(XTERM_TOOLS)} not installed (apt-get install xterm xvfb)")
def test_xterm_with_term_xterm_gets_at_least_256_colours(tmp_path, display, models_dir):  # noqa: F811
    columns, rows = 120, 40
    args = f"--demo --models {models_dir} --export-dir {tmp_path} --log {tmp_path / 'session.csv'}"
    script = f"cd {tmp_path} && exec env -u COLUMNS -u LINES -u COLORTERM -u NO_COLOR {FERTUI} {args}"
    environ = {k: v for k, v in os.environ.items() if k not in ("COLORTERM", "TEXTUAL_COLOR_SYSTEM", "NO_COLOR")}
    xterm = subprocess.Popen(
        ["xterm", "-geometry", f"{columns}x{rows}+0+0", "-e", "sh", "-c", script],
        env={**environ, "DISPLAY": display, "TERM": "xterm"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # The side column (40 cells on the right) holds the face thumbnails and probability bars.
        side = (slice(2 * CELL[1], 20 * CELL[1]), slice((columns - 38) * CELL[0], (columns - 2) * CELL[0]))
        deadline = time.monotonic() + START_TIMEOUT_S
        colours = 0
        while time.monotonic() < deadline and xterm.poll() is None:
            time.sleep(0.5)
            pane = screenshot(display)[side]
            colours = len(np.unique(pane.reshape(-1, 3), axis=0))
            if colours > 24:
                break
        # In xterm's 16 colours the pane holds at most 17 (16 and the cursor's); a photograph in 256 holds more: the
        # demo's faces show 27 to 42 as they change (a bound of 40 waited for the rare moment above it).
        assert colours > 24, f"the face pane shows {colours} colours"
        # Half-blocks (no Sixel in this xterm): two colours a cell, so no block of many colours, no pixel image.
        assert picture_box(pane) is None
    finally:
        xterm.terminate()
        xterm.wait(20)


def start_at(tmux: Tmux, size: tuple[int, int], folder: Path, models_dir: Path) -> None:  # noqa: F811
    env = "env -u COLUMNS -u LINES TERM=xterm-256color COLORTERM=truecolor"
    args = f"--demo --models {models_dir} --export-dir {folder} --log {folder / 'session.csv'}"
    command = f"cd {folder} && {env} {FERTUI} {args}; echo $? > {folder / 'exit.txt'}"
    tmux.run("new-session", "-d", "-s", "app", "-x", str(size[0]), "-y", str(size[1]), command)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_help_and_key_bar_in_tmux(size, tmp_path, models_dir):  # noqa: F811
    tmux = Tmux(f"help-{size[0]}x{size[1]}")
    try:
        start_at(tmux, size, tmp_path, models_dir)
        wait_for(lambda: "rows" in tmux.screen(), START_TIMEOUT_S, "the app", tmux)
        last_line = lambda: tmux.screen().splitlines()[size[1] - 1]  # noqa: E731
        bar = wait_for(lambda: "Next face" in (line := last_line()) and line, 30, "the key bar", tmux)
        assert "? Help" in bar and "q Quit" in bar, f"the key bar: {bar!r}"
        assert not bar.rstrip().endswith(("…", "Pau")), "no key is cut in half"
        tmux.keys("?")
        screen = wait_for(lambda: "fertui keys" in (s := tmux.screen()) and s, 20, "the help screen", tmux)
        for description in KEY_DESCRIPTIONS:
            assert description in screen, f"{description} is not on the help screen:\n{screen}"
        assert "escape or ? closes this screen" in screen
        lines = screen.splitlines()
        top = next(i for i, line in enumerate(lines) if "fertui keys" in line)
        bottom = next(i for i in range(top + 1, len(lines)) if "╰" in lines[i])
        assert bottom - top >= 16, "the box holds a row per key, not an empty frame"
        tmux.keys("Escape")
        wait_for(lambda: "fertui keys" not in tmux.screen(), 20, "the help screen to close", tmux)
        tmux.keys("q")
        wait_for(lambda: (tmp_path / "exit.txt").exists(), 30, "fertui to exit", tmux)
    finally:
        tmux.kill()
    assert (tmp_path / "exit.txt").read_text().strip() == "0"


KITTY_TOOLS = [tool for tool in ("kitty", "Xvfb", "xwd") if shutil.which(tool) is None]


def read_xwd_any(data: bytes) -> np.ndarray:
    """An X window dump as BGR, whatever its bits per pixel say: with kitty's OpenGL window on Xvfb, xwd reports
    24 bits per pixel, and its pixels are then 3 bytes each, packed, with each line padded to `bytes_per_line`
    (4 bytes a pixel there). Reading them as 4 bytes a pixel squeezed the screen to 3/4 of its width and striped
    every colour, which made the antialiased text in the side panes look like a photograph."""
    header = struct.unpack(">25I", data[:100])
    header_size, width, height = header[0], header[4], header[5]
    byte_order, bits_per_pixel, bytes_per_line, n_colors = header[7], header[11], header[12], header[19]
    start = header_size + 12 * n_colors
    step = bits_per_pixel // 8
    assert step in (3, 4) and bytes_per_line >= width * step, f"an xwd dump of {bits_per_pixel} bits a pixel"
    rows = np.frombuffer(data[start : start + bytes_per_line * height], np.uint8).reshape(height, bytes_per_line)
    pixels = rows[:, : width * step].reshape(height, width, step)
    return np.ascontiguousarray(pixels[..., :3] if byte_order == 0 else pixels[..., [step - 1, step - 2, step - 3]])


KITTY_WINDOW = (1000, 700)  # pixels; kitty's window sits at the X screen's origin (Xvfb has no window manager)
KITTY_VIDEO_PANE = (0.65, 0.88)
"""The part of kitty's window (width, height) that only the video pane covers: at font_size 9 the terminal is about
142x46 cells of 7x15 pixels, of which the side column takes the right 40 cells and the status and key bars the
bottom 3 rows. kitty draws text antialiased, so a 12x12 block of text there has many colours, and picture_box took
the status lines and the emotion table for a photograph before any image had been written: the video pane is the
only place the picture is looked for."""


def kitty_video_pane(shot: np.ndarray) -> np.ndarray:
    return shot[: int(KITTY_WINDOW[1] * KITTY_VIDEO_PANE[1]), : int(KITTY_WINDOW[0] * KITTY_VIDEO_PANE[0])]


def test_xwd_dumps_of_24_and_32_bits_a_pixel_read_alike():
    """Deterministic check of the reader the kitty test relies on: the same picture dumped with packed 3-byte
    pixels in padded lines (what xwd gives for kitty's window) and with 4-byte pixels."""
    picture = np.random.default_rng(35).integers(0, 256, (7, 5, 3), dtype=np.uint8)  # BGR
    height, width = picture.shape[:2]

    def dump(bits_per_pixel: int) -> bytes:
        """Least significant byte first (xwd's byte order 0): blue, green, red, then a pad byte at 32 bits."""
        step, bytes_per_line = bits_per_pixel // 8, 4 * width  # 24 bits: packed pixels, lines padded
        pad = np.zeros((height, width, step - 3), np.uint8)
        pixels = np.concatenate([picture, pad], axis=2).reshape(height, width * step)
        lines = b"".join(row.tobytes().ljust(bytes_per_line, b"\0") for row in pixels)
        fields = [100, 7, 2, 24, width, height, 0, 0, 32, 0, 8, bits_per_pixel, bytes_per_line]
        return struct.pack(">25I", *fields, *([0] * 12)) + lines

    for bits in (24, 32):
        assert np.array_equal(read_xwd_any(dump(bits)), picture), f"{bits} bits a pixel"


def kitty_like_screen(photo: bool) -> np.ndarray:
    """kitty's window as the kitty test sees it: antialiased text in the side column and the two status lines (7x15
    pixel cells), and in the video pane either nothing yet or a photograph."""
    screen = np.full((KITTY_WINDOW[1], KITTY_WINDOW[0], 3), 17, np.uint8)
    for row in range(46):
        side, status = ("angry      0%   happy  100%", 720), ("demo 640x480 [running] cap 9.6 fps " * 4, 2)
        text, left = side if row < 43 else status
        colour = (220, 220, 220) if row % 2 else (80, 200, 240)
        cv2.putText(screen, text, (left, 15 * row + 12), cv2.FONT_HERSHEY_PLAIN, 0.8, colour, 1, cv2.LINE_AA)
    if photo:
        screen[40:580, 0:714] = cv2.resize(portrait(), (714, 540), interpolation=cv2.INTER_AREA)
    return screen


def test_the_kitty_test_finds_the_picture_in_the_video_pane_and_not_in_antialiased_text():
    """Before any image is written, the whole screen's "picture" is the antialiased text (the flaky failure: the
    test stopped the app at that moment, and its log said no image had been shown); the video pane's is none."""
    assert picture_box(kitty_like_screen(photo=False)) is not None
    assert picture_box(kitty_video_pane(kitty_like_screen(photo=False))) is None
    box = picture_box(kitty_video_pane(kitty_like_screen(photo=True)))
    assert box is not None and box[2] >= 240 and box[3] >= 180


@pytest.mark.skipif(
    bool(KITTY_TOOLS), reason=f"{', '.join(KITTY_TOOLS)} not installed (apt-get install kitty xvfb x11-apps)"
)
def test_kitty_graphics_in_a_real_kitty(tmp_path, display, models_dir):  # noqa: F811
    """kitty (Debian 12's is 0.26.5, without Unicode placeholders) under Xvfb with software OpenGL: the video pane
    holds the picture and kitty logs no graphics command it could not parse."""
    log = tmp_path / "session.csv"
    args = f"--demo --render kitty --models {models_dir} --export-dir {tmp_path} --log {log}"
    script = f"echo $$ > {tmp_path / 'pid'}; cd {tmp_path} && exec env -u COLUMNS -u LINES {FERTUI} {args}"
    kitty_log = tmp_path / "kitty.log"
    environ = {**os.environ, "DISPLAY": display, "LIBGL_ALWAYS_SOFTWARE": "1"}
    with kitty_log.open("w") as kitty_output:
        terminal = subprocess.Popen(
            [
                "kitty",
                "--config",
                "NONE",
                "-o",
                "remember_window_size=no",
                "-o",
                "initial_window_width=1000",
                "-o",
                "initial_window_height=700",
                "-o",
                "font_size=9",
                "sh",
                "-c",
                script,
            ],  # fmt: skip
            env=environ,
            stdout=kitty_output,
            stderr=kitty_output,
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            box = None
            while time.monotonic() < deadline and terminal.poll() is None:
                time.sleep(0.5)
                dump = subprocess.run(["xwd", "-root", "-silent", "-display", display], capture_output=True, timeout=20)
                if dump.returncode != 0 or len(dump.stdout) < 100:
                    continue
                shot = read_xwd_any(dump.stdout)
                box = picture_box(kitty_video_pane(shot))
                if box is not None and box[2] >= 240 and box[3] >= 180:
                    break
            assert terminal.poll() is None, f"kitty ended early: {kitty_log.read_text()[-2000:]}"
            assert box is not None and box[2] >= 240 and box[3] >= 180, f"no picture in the video pane: {box}"
            cv2.imwrite(str(tmp_path / "kitty.png"), shot[:700, :1000])  # kept for a look
            os.kill(int((tmp_path / "pid").read_text()), signal.SIGTERM)  # the app closes its log and ends
            terminal.wait(30)  # kitty closes with its only window
        finally:
            if terminal.poll() is None:
                terminal.kill()
                terminal.wait(10)
    errors = [line for line in kitty_log.read_text().splitlines() if "Graphics" in line or "0x55" in line]
    assert not errors, f"kitty could not parse {len(errors)} graphics commands, first: {errors[0]}"
    meta = json.loads(Path(f"{log}.meta.json").read_text())
    terminal_said = meta["display"]["terminal"]
    assert terminal_said["kitty"] is True and terminal_said["version"].startswith("kitty(")
    version = tuple(int(part) for part in terminal_said["version"][6:-1].split("."))
    assert terminal_said["kitty_placeholders"] is (version >= (0, 28)), terminal_said
    assert meta["display"]["images_shown"] > 0


def lit_size(pane: np.ndarray) -> tuple[int, int]:
    """(width, height) of the picture in the video pane: the rows and columns that are mostly not the pane's black
    letterbox (a photograph has flat areas, which picture_box's many-colour blocks miss)."""
    lit = pane.astype(int).sum(axis=2) > 40
    columns = np.flatnonzero(lit.mean(axis=0) > 0.3)
    rows = np.flatnonzero(lit.mean(axis=1) > 0.3)
    if not len(columns) or not len(rows):
        return (0, 0)
    return (int(columns[-1] - columns[0] + 1), int(rows[-1] - rows[0] + 1))


@pytest.mark.skipif(bool(XTERM_TOOLS), reason=f"{', '.join(XTERM_TOOLS)} not installed (apt-get install xterm xvfb)")
def test_the_sixel_picture_fills_the_pane_of_a_large_xterm(tmp_path, models_dir):  # noqa: F811
    """xterm at about 1600x1000 pixels (266x76 cells of 6x13): the picture fills at least 80% of the video pane's
    width or height (measured in a screenshot), where it used to be capped at 320x240. xterm draws no Sixel image
    larger than its maxGraphicSize (1000x1000 by default, which gives 79% here), so it is raised, as a user would."""
    columns, rows = 266, 76
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1700x1100x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        display_name = f":{pipe.readline().strip()}"
    log = tmp_path / "session.csv"
    args = f"--demo --render sixel --models {models_dir} --export-dir {tmp_path} --log {log}"
    script = f"echo $$ > {tmp_path / 'pid'}; cd {tmp_path} && exec env -u COLUMNS -u LINES {FERTUI} {args}"
    xterm = subprocess.Popen(
        [
            "xterm",
            "-ti",
            "vt340",
            "-xrm",
            "XTerm*numColorRegisters: 256",
            "-xrm",
            "XTerm*maxGraphicSize: 2000x2000",
            "-geometry",
            f"{columns}x{rows}+0+0",
            "-e",
            "sh",
            "-c",
            script,
        ],  # fmt: skip
        env={**os.environ, "DISPLAY": display_name, "TERM": "xterm"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        best = (0, 0)
        while time.monotonic() < deadline and xterm.poll() is None and max(best) == 0:
            time.sleep(0.5)
            if picture_box(screenshot(display_name)) is not None:  # a photograph is up
                time.sleep(3)  # a few frames more: the picture's size settles with the pane's layout
                best = lit_size(screenshot(display_name)[: (rows - 3) * CELL[1], : (columns - 40) * CELL[0]])
        os.kill(int((tmp_path / "pid").read_text()), signal.SIGTERM)
        xterm.wait(30)
    finally:
        if xterm.poll() is None:
            xterm.kill()
            xterm.wait(10)
        server.terminate()
        server.wait(10)
    shown = json.loads(Path(f"{log}.meta.json").read_text())["display"]
    pane_w, pane_h = shown["video_cells"][0] * CELL[0], shown["video_cells"][1] * CELL[1]
    assert best[0] >= 0.8 * pane_w or best[1] >= 0.8 * pane_h, f"picture {best} in a {pane_w}x{pane_h} pane"
    assert shown["image_size"][0] > 320 and shown["governor_level"] == 0, shown  # within the byte budget


MLTERM_TOOLS = [tool for tool in ("mlterm", "Xvfb", "xwd") if shutil.which(tool) is None]


@pytest.mark.skipif(bool(MLTERM_TOOLS), reason=f"{', '.join(MLTERM_TOOLS)} not installed (apt-get install mlterm)")
def test_no_white_line_under_the_sixel_picture_in_mlterm(tmp_path, display, models_dir):  # noqa: F811
    """mlterm (white background by default) fills what a Sixel image leaves of its last cell row with the current
    background: the app makes that the letterbox black before each image, so the pixel rows right under the picture
    are black, not a white line (issue 35, finding 5)."""
    log = tmp_path / "session.csv"
    args = f"--demo --render sixel --models {models_dir} --export-dir {tmp_path} --log {log}"
    script = f"echo $$ > {tmp_path / 'pid'}; cd {tmp_path} && exec env -u COLUMNS -u LINES {FERTUI} {args}"
    terminal = subprocess.Popen(
        ["mlterm", "-g", "110x36+0+0", "-e", "sh", "-c", script],
        env={**os.environ, "DISPLAY": display},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        box = None
        while time.monotonic() < deadline and terminal.poll() is None:
            time.sleep(0.5)
            shot = read_xwd_any(subprocess.run(["xwd", "-root", "-silent", "-display", display], capture_output=True,
                                               check=True, timeout=20).stdout)  # fmt: skip
            box = picture_box(shot[:, :600])  # the video pane (the side column starts past 700 pixels)
            if box is not None and box[2] >= 240 and box[3] >= 180:
                time.sleep(3)  # a few frames more: the picture's size settles with the layout
                break
        assert terminal.poll() is None, "mlterm ended early"
        assert box is not None and box[2] >= 240 and box[3] >= 180, f"no picture in the video pane: {box}"
        shot = read_xwd_any(subprocess.run(["xwd", "-root", "-silent", "-display", display], capture_output=True,
                                           check=True, timeout=20).stdout)  # fmt: skip
        cv2.imwrite(str(tmp_path / "mlterm.png"), shot[:720, :1120])  # kept for a look
        os.kill(int((tmp_path / "pid").read_text()), signal.SIGTERM)
        terminal.wait(30)
    finally:
        if terminal.poll() is None:
            terminal.kill()
            terminal.wait(10)
    meta = json.loads(Path(f"{log}.meta.json").read_text())["display"]
    width, height = meta["image_size"]
    cell_w, cell_h = meta["terminal"]["cell_px"]
    assert height % cell_h, "this check needs a picture that does not fill its last cell row"
    # The video pane's pixels: mlterm's window has a 2-pixel margin at the top and its scroll bar on the left, and
    # the status and key bars are the terminal's last 3 rows.
    rows = meta["terminal_size"][1]
    pane = shot[2 : 2 + (rows - 3) * cell_h, 20 : 20 + width]
    white = (pane >= 250).all(axis=2).mean(axis=1)
    assert white.max() < 0.5, f"a white line {int(np.argmax(white))} pixels down the video pane"
