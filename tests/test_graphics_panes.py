"""The face thumbnails and the landmark outline in the pixel modes (issue 35): drawn as Sixel or Kitty images at the
panes' real pixel size, over cells that Textual keeps; half-blocks unchanged; toggling a pane off stops its images
(and frees a Kitty image)."""

from __future__ import annotations

import re

import pytest

from tests.app_helpers import fake_app, wait_until
from tests.sixel_decoder import decode
from tests.test_graphics_app import BOTH, SIXEL_TERMINAL, SIZE, capture_writes
from tests.test_graphics_kitty import decode_transmission
from tui.app import RESTORE_CURSOR, SAVE_CURSOR, SYNC_BEGIN, SYNC_END
from tui.graphics import kitty
from tui.graphics.detect import parse_replies
from tui.graphics.panes import FACE_IMAGE_ID, LANDMARK_IMAGE_ID, MIN_PANE_CAP, pane_cap
from tui.render import UPPER_HALF

CELL = (8, 16)  # the cell size the test terminals report
SIXEL_AT = re.compile(r"\x1b\[(\d+);(\d+)H(\x1bP[0-9;]*q.*?\x1b\\)", re.S)
OLD_KITTY = parse_replies(b"\x1b_Gi=31;OK\x1b\\\x1b[>|kitty(0.26.5)\x1b\\\x1b[6;16;8t\x1b[?62;c")


def sixel_images(writes: list[str]) -> list[tuple[int, int, str]]:
    """Every Sixel image written, with the screen cell (x, y) it was written at."""
    return [(int(m[2]) - 1, int(m[1]) - 1, m[3]) for write in writes for m in SIXEL_AT.finditer(write)]


def text_of(strips) -> str:
    return "".join(segment.text for strip in strips for segment in strip)


def pane_widgets(app):
    crops = app.faces_pane.crop_widgets()
    return crops, app.landmark_pane.canvas


async def test_sixel_mode_draws_the_thumbnails_and_the_outline_as_sixel_images_over_blank_cells(tmp_path):
    app = fake_app(tmp_path, render="sixel", graphics=SIXEL_TERMINAL)
    writes = capture_writes(app, panes=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.pane_images_written >= 6, what="pane images")
        crops, canvas = pane_widgets(app)
        # The face pane scrolls: a card it shows only in part keeps its blank cells (an image would spill out).
        pane = app.faces_pane.content_region
        whole = {key: widget for key, widget in crops.items() if pane.contains_region(widget.content_region)}
        clipped = {key: widget.content_region for key, widget in crops.items() if key not in whole}
        regions = {key: widget.content_region for key, widget in whole.items()}
        regions["landmarks"] = canvas.content_region
        cells = {key: widget.strips for key, widget in crops.items()} | {"landmarks": canvas.strips}
        figures = app.display_figures()
    assert len(crops) == 2 and len(whole) >= 1  # the fake's two tracked faces; the first card shows whole
    images = sixel_images(writes)
    for region in clipped.values():
        assert not [data for x, y, data in images if (x, y) == (region.x, region.y)]
    for key, region in regions.items():
        at_pane = [data for x, y, data in images if (x, y) == (region.x, region.y)]
        assert at_pane, f"no Sixel image at the {key} pane ({region})"
        image = decode(at_pane[-1].encode("ascii"))
        width, height = image.raster
        # Drawn at the terminal's pixels: as many cells as the image covers at 8x16 pixels a cell, and it fills
        # the pane's cells along one side at least (a face crop is square, the cells are not).
        assert (region.width, region.height) == (-(-width // CELL[0]), -(-height // CELL[1])), (key, image.raster)
        assert width > region.width * CELL[0] - CELL[0] or height > region.height * CELL[1] - CELL[1]
        assert (image.index >= 0).mean() > 0.99  # every pixel drawn: nothing of the blank cells shows through
        # The cells under the image are blank (Textual keeps them; the image is drawn over them).
        assert set(text_of(cells[key])) == {" "}, key
    landmarks_at = (regions["landmarks"].x, regions["landmarks"].y)
    outline = decode([data for x, y, data in images if (x, y) == landmarks_at][-1].encode("ascii"))
    green = outline.rgb()[..., 1] > 150
    assert 0.01 < green.mean() < 0.5  # lines on black, not a filled box
    # Each pane write is one synchronized write, the cursor put back where Textual left it.
    pane_writes = [w for w in writes if len(SIXEL_AT.findall(w)) > 1]
    # (with the letterbox black as the current background: tui/graphics/frames.py's letterbox_background)
    assert pane_writes and all(w.startswith(f"{SYNC_BEGIN}{SAVE_CURSOR}\x1b[40m") for w in pane_writes)
    assert all(w.endswith(f"{RESTORE_CURSOR}{SYNC_END}") for w in pane_writes)
    assert figures["pane_images_written"] >= 6 and figures["pane_image_bytes"] > 0


async def test_half_blocks_keep_half_block_thumbnails_and_write_no_pane_image(tmp_path):
    app = fake_app(tmp_path, render="halfblock", graphics=SIXEL_TERMINAL)
    writes = capture_writes(app, panes=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(app.faces_pane.crop_widgets()) == 2, what="face cards")
        await wait_until(pilot, lambda: app.landmark_pane.canvas.strips != [], what="the outline")
        await pilot.pause(0.6)  # two panel updates more
        crops, canvas = pane_widgets(app)
        assert all(UPPER_HALF in text_of(widget.strips) for widget in crops.values())
        assert UPPER_HALF in text_of(canvas.strips)
        assert writes == [] and app.pane_images_written == 0


async def test_kitty_mode_sends_each_pane_its_own_image_named_by_its_placeholder_cells(tmp_path):
    app = fake_app(tmp_path, render="kitty", graphics=BOTH)
    writes = capture_writes(app, panes=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.pane_images_written >= 6, what="pane images")
        crops, canvas = pane_widgets(app)
        widgets = {FACE_IMAGE_ID + slot: crops[face_id] for slot, face_id in enumerate(sorted(crops))}
        widgets[LANDMARK_IMAGE_ID] = canvas
        cells = {image_id: widget.strips for image_id, widget in widgets.items()}
        cap = pane_cap(app.render_loop.options.max_pixels)
    transmissions: dict[int, str] = {}
    for write in writes:
        body = write.removeprefix(SYNC_BEGIN).removesuffix(SYNC_END)
        body = body.replace(SAVE_CURSOR, "").replace(RESTORE_CURSOR, "")
        commands = re.findall(r"\x1b_Ga=T.*?(?=\x1b_Ga=|\Z)", body, re.S)
        for command in commands:
            transmissions[int(re.search(r"i=(\d+)", command)[1])] = command
    assert set(widgets) <= set(transmissions), "an image for each face card and for the outline"
    for image_id, strips in cells.items():
        keys, pixels = decode_transmission(transmissions[image_id])
        assert keys["U"] == "1"  # shown by placeholders
        # The placeholder cells name this image (its id in their colour) and are as many as the placement's.
        colours = {segment.style.color.triplet for strip in strips for segment in strip}
        assert colours == {kitty.id_color(image_id)}
        assert (int(keys["c"]), int(keys["r"])) == (strips[0].cell_length, len(strips))
        assert set(text_of(strips)[::3]) == {kitty.PLACEHOLDER}
        # At most the pane's pixels, and within the pane cap.
        height, width = pixels.shape[:2]
        assert width <= int(keys["c"]) * CELL[0] and height <= int(keys["r"]) * CELL[1]
        assert width <= cap[0] and height <= cap[1]


@pytest.mark.parametrize("terminal", ["sixel", "old kitty"])
async def test_toggling_the_panes_off_stops_their_images(tmp_path, terminal):
    graphics = SIXEL_TERMINAL if terminal == "sixel" else OLD_KITTY
    app = fake_app(tmp_path, render="sixel" if terminal == "sixel" else "kitty", graphics=graphics)
    writes = capture_writes(app, panes=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.pane_images_written >= 3, what="pane images")
        crops, canvas = pane_widgets(app)
        pane_cells = {(w.content_region.x, w.content_region.y) for w in [*crops.values(), canvas]}
        toggled_at = len(writes)
        await pilot.press("f", "m")
        await pilot.pause(0.1)
        count = len(writes)
        images_before = app.images_written
        await wait_until(pilot, lambda: app.images_written >= images_before + 3, what="video frames after")
        await pilot.pause(0.6)
        after = writes[count:]
        assert app.faces_pane.display is False and app.landmark_pane.display is False
    if terminal == "sixel":
        # Only the video's images are written now, all at the video pane: none where the panes were.
        placed = {(x, y) for x, y, _data in sixel_images(after)}
        assert placed and not placed & pane_cells
        assert all(len(SIXEL_AT.findall(w)) == 1 for w in after)
    else:
        # kitty 0.26.5 places each image directly, over the text: the panes' images are deleted at once (a
        # placement would stay on the screen), and never sent again.
        deleted = {int(m) for w in writes[toggled_at:] for m in re.findall(r"a=d,d=I,i=(\d+)", w)}
        assert {FACE_IMAGE_ID, FACE_IMAGE_ID + 1, LANDMARK_IMAGE_ID} <= deleted
        sent = {int(m) for w in after for m in re.findall(r"a=T[^;]*?i=(\d+)", w)}
        assert sent == {kitty.IMAGE_ID}


def test_the_pane_cap_follows_the_video_cap_down_to_a_floor():
    assert pane_cap((1280, 960)) == (320, 240)
    assert pane_cap((320, 240)) == (80, 60)
    assert pane_cap((100, 80)) == MIN_PANE_CAP
