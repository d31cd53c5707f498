"""The app in the pixel modes: one synchronized image write per shown frame, the pane's cells kept by
Textual, the mode key, modal screens, and the governor's budget over SSH."""

from __future__ import annotations

import re
from dataclasses import replace

import cv2
import numpy as np
from rich.color import ColorSystem

from pipeline.commands.cli import main
from tests.app_helpers import fake_app, wait_until
from tests.fakes import portrait_frame
from tests.sixel_decoder import decode
from tests.test_graphics_kitty import decode_transmission, parse
from tui.app import RESTORE_CURSOR, SAVE_CURSOR, SYNC_BEGIN, SYNC_END, make_governor
from tui.config import SSH_BUDGET, AppConfig, display_settings
from tui.graphics import kitty, sixel
from tui.graphics.detect import TerminalGraphics
from tui.graphics.frames import letterbox_background

SIZE = (120, 40)
SIXEL_TERMINAL = TerminalGraphics(sixel=True, cell_px=(8, 16), answered=True)
BOTH = TerminalGraphics(sixel=True, kitty=True, cell_px=(8, 16), answered=True)


def capture_writes(app, *, panes: bool = False) -> list[str]:
    """What the app writes to the terminal (the headless test driver has none): the video's images, and with
    `panes` the face and landmark panes' images too (tests/test_graphics_panes.py)."""
    writes: list[str] = []
    in_panes = False

    def write(data: str) -> None:
        if panes or not in_panes:
            writes.append(data)

    def write_pane_images(*args) -> None:
        nonlocal in_panes
        in_panes = True
        try:
            write_panes(*args)
        finally:
            in_panes = False

    write_panes = app._write_pane_images
    app._terminal_write = write
    app._write_pane_images = write_pane_images
    return writes


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.astype(float).ravel(), b.astype(float).ravel())[0, 1])


async def test_sixel_mode_writes_one_synchronized_image_per_shown_frame(tmp_path):
    app = fake_app(tmp_path, render="sixel", graphics=SIXEL_TERMINAL)
    writes = capture_writes(app)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.images_written >= 5, what="five images")
        # The status bar is drawn at 4 Hz, and five images can come sooner than its first refresh.
        await wait_until(pilot, lambda: app.status_bar._shown is not None, what="the status bar")
        assert app.images_shown == app.frames_shown
        assert len(writes) == app.images_written >= app.images_shown  # plus redraws after the start-up layout
        region = app.video.content_region
        status = app.status_bar._shown
        cells = app.video.strips
    # The picture fills the pane, so frames drawn while the layout settles (the side panes filling in) may sit
    # elsewhere; each write is still one image at a cell, and the last one is at the pane's first cell.
    for write in writes:
        assert write.startswith(f"{SYNC_BEGIN}{SAVE_CURSOR}\x1b[") and "H\x1bP" in write
        assert write.endswith(f"\x1b\\{RESTORE_CURSOR}{SYNC_END}") and write.count("\x1bP") == 1
    # The letterbox black is the current background while the image is drawn (mlterm fills the image's last cell
    # row with it; headless, Textual's colours are the 16 standard ones), and the cursor's restore undoes it.
    letterbox = letterbox_background(ColorSystem.STANDARD)
    assert letterbox == "\x1b[40m"
    assert writes[-1].startswith(f"{SYNC_BEGIN}{SAVE_CURSOR}{letterbox}\x1b[{region.y + 1};{region.x + 1}H\x1bP")
    image = decode(writes[-1].encode("ascii"))
    width, height = image.raster
    assert (image.index >= 0).all() and width * 3 == height * 4  # the frame's 4:3
    # The picture fills the pane's pixels (8x16 a cell here) up to the governor's first cap, not a fixed 320x240.
    pane_w, pane_h = app.render_loop.options.video_cells[0] * 8, app.render_loop.options.video_cells[1] * 16
    assert width >= 0.8 * pane_w or height >= 0.8 * pane_h, ((width, height), (pane_w, pane_h))
    # The picture is the frame in the palette (the fake's portrait), but for the face boxes drawn on it.
    frame = cv2.cvtColor(cv2.resize(portrait_frame(), (width, height), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    palette = sixel.palette("256")
    expected = palette.colors()[palette.index(frame)]
    same = (np.abs(image.rgb().astype(int) - expected) <= 1).all(axis=2)
    assert same.mean() > 0.9 and correlation(image.rgb(), expected) > 0.9
    # Textual keeps blank cells under the image: as many as the image covers at 8x16 pixels a cell.
    assert (len(cells), cells[0].cell_length) == (-(-height // 16), -(-width // 8))
    assert all(set("".join(seg.text for seg in strip)) == {" "} for strip in cells)
    assert status is not None and "256 · Sixel" in status.plain


async def test_kitty_mode_keeps_one_image_and_g_cycles_the_modes(tmp_path):
    app = fake_app(tmp_path, render="kitty", graphics=BOTH)
    writes = capture_writes(app)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.images_written >= 3, what="three images")
        texts = ["".join(seg.text for seg in strip) for strip in app.video.strips]
        assert all(set(text[::3]) == {kitty.PLACEHOLDER} for text in texts)
        transmissions = [w.removeprefix(SYNC_BEGIN).removesuffix(SYNC_END) for w in writes]
        ids = {decode_transmission(t)[0]["i"] for t in transmissions}
        assert ids == {str(kitty.IMAGE_ID)}
        keys, pixels = decode_transmission(transmissions[-1])
        assert (int(keys["c"]), int(keys["r"])) == (len(texts[0]) // 3, len(texts))

        await pilot.press("g")  # kitty -> half-blocks (the modes are half-blocks, Sixel, Kitty)
        await wait_until(pilot, lambda: "▀" in "".join(s.text for s in app.video.strips[0]), what="half-blocks")
        assert parse(writes[-1]) == parse(kitty.delete())  # the one image is freed
        count = len(writes)
        await pilot.press("g")  # -> Sixel
        await wait_until(pilot, lambda: len(writes) > count + 2, what="Sixel images")
        assert app.settings.render == "sixel" and writes[-1].count("\x1bP0;1;0q") == 1


async def test_half_blocks_by_default_and_no_mode_key_without_graphics(tmp_path):
    app = fake_app(tmp_path)
    writes = capture_writes(app)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.frames_shown >= 3, what="frames")
        await pilot.press("g")
        await pilot.pause(0.2)
        assert app.settings.render == "halfblock" and writes == [] and app.images_written == 0
        assert "▀" in "".join(seg.text for seg in app.video.strips[0])


async def test_no_image_over_a_modal_screen_and_one_after_it(tmp_path):
    app = fake_app(tmp_path, render="sixel", graphics=SIXEL_TERMINAL)
    writes = capture_writes(app)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.images_written >= 2, what="images")
        await pilot.press("question_mark")
        await pilot.pause(0.1)
        during = len(writes)
        await pilot.pause(0.5)
        assert len(writes) == during  # the help screen is not painted over
        await pilot.press("space")  # (a key for the help screen: it does nothing there)
        await pilot.press("escape")
        await pilot.press("space")  # pause: no new frames, yet the image comes back
        await wait_until(pilot, lambda: len(writes) > during, what="the image redrawn after the help screen")


def test_bad_render_and_palette_are_one_line_errors(capsys):
    assert main(["--demo", "--render", "bogus"]) == 2
    assert main(["--demo", "--render", "sixel", "--palette", "12"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and re.search(r"--render must be one of halfblock, sixel, kitty, auto", lines[0])
    assert "--palette" in lines[1]


def test_over_ssh_sixel_starts_slow_and_the_governor_keeps_within_its_budget():
    config = AppConfig(ssh=True, render="sixel", graphics=SIXEL_TERMINAL)
    settings = display_settings(config)
    assert (settings.render, settings.fps, settings.palette) == ("sixel", 8.0, "64")
    # Real frame sizes: the portrait at 320x240.
    rgb = cv2.cvtColor(cv2.resize(portrait_frame(), (320, 240)), cv2.COLOR_BGR2RGB)
    frame_bytes = {size: len(sixel.encode(rgb, size)) for size in sixel.PALETTE_SIZES}
    governor = make_governor(replace(settings, palette="256"))  # from 256 colours: the palette steps first
    # A link a quarter of the SSH budget: the ladder's floor (5 fps at 64 colours, ~100 KB/s here) fits in it.
    governor.budget = SSH_BUDGET // 4
    rates = []
    for _second in range(60):
        quality = governor.quality
        rates.append(frame_bytes[quality.colors] * quality.fps)
        governor.observe(rates[-1])
    assert rates[0] > governor.budget  # it starts over budget...
    assert all(rate <= governor.budget for rate in rates[-30:])  # ...and settles within it
    assert governor.quality.colors == "64"  # palette first, then frame rate
