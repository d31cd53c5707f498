"""Kitty graphics without Unicode placeholders (kitty before 0.28): the version from XTVERSION, the image placed
directly at the pane (no `U` key, which old kitty rejects), blank cells under it, and the app moving the cursor."""

from __future__ import annotations

import numpy as np
import pytest

from tests.app_helpers import fake_app, wait_until
from tests.test_graphics_kitty import decode_transmission, parse
from tui.app import SAVE_CURSOR
from tui.graphics import kitty
from tui.graphics.detect import parse_replies, queries
from tui.graphics.frames import PixelRenderer
from tui.graphics.kitty_version import has_placeholders, kitty_version

KITTY_OK = b"\x1b_Gi=31;OK\x1b\\"
DA1 = b"\x1b[?62;c"


def xtversion(text: str) -> bytes:
    return b"\x1bP>|" + text.encode() + b"\x1b\\"


@pytest.mark.parametrize(
    ("answer", "placeholders"),
    [("kitty(0.26.5)", False), ("kitty(0.27.1)", False), ("kitty(0.28.0)", True), ("kitty(0.35.2)", True)],
)
def test_the_kitty_version_decides_placeholders(answer: str, placeholders: bool) -> None:
    graphics = parse_replies(KITTY_OK + xtversion(answer) + DA1)
    assert graphics.kitty and graphics.version == answer
    assert graphics.kitty_placeholders is placeholders
    assert graphics.figures()["kitty_placeholders"] is placeholders


def test_a_terminal_that_is_not_kitty_or_does_not_say_keeps_placeholders() -> None:
    assert kitty_version("ghostty 1.1.0") is None and has_placeholders("ghostty 1.1.0")
    assert parse_replies(KITTY_OK + DA1).kitty_placeholders  # no XTVERSION answer
    assert kitty_version("kitty(0.26.5)") == (0, 26, 5)


def test_the_probe_asks_for_the_version_before_da1() -> None:
    asked = queries(tmux=False)
    assert asked.index("\x1b[>q") < asked.index("\x1b[c")


def test_a_direct_transmission_has_no_u_key_and_keeps_the_cursor() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (24, 32, 3), np.uint8)
    commands = kitty.transmit(rgb, 8, 3, placeholders=False)
    keys, image = decode_transmission(commands)
    assert "U" not in keys and keys["C"] == "1" and keys["p"] == str(kitty.PLACEMENT_ID)
    assert (keys["c"], keys["r"], keys["a"]) == ("8", "3", "T")
    assert np.array_equal(image, rgb)
    assert all("U" not in command_keys for command_keys, _ in parse(commands))
    assert parse(kitty.delete_placements()) == [({"a": "d", "d": "i", "i": str(kitty.IMAGE_ID), "q": "2"}, "")]


def test_direct_frames_leave_blank_cells_and_are_drawn_at_the_cursor() -> None:
    image = np.full((240, 320, 3), 128, np.uint8)
    options = dict(mode="kitty", max_cells=(40, 15), cell_px=(8, 16), colors="5", palette="256")
    video, frame = PixelRenderer().render(image, (), kitty_placeholders=False, **options)  # type: ignore[arg-type]
    assert frame.at_cursor and kitty.PLACEHOLDER not in "".join(s.text for s in video.strips)
    video, frame = PixelRenderer().render(image, (), **options)  # type: ignore[arg-type]
    assert not frame.at_cursor and kitty.PLACEHOLDER in video.strips[0].text


async def test_the_app_places_an_old_kittys_image_at_the_pane_and_says_so(tmp_path) -> None:
    old_kitty = parse_replies(KITTY_OK + xtversion("kitty(0.26.5)") + b"\x1b[6;16;8t" + DA1)
    app = fake_app(tmp_path, render="kitty", graphics=old_kitty)
    written: list[str] = []
    async with app.run_test(size=(120, 40)) as pilot:
        app._terminal_write = written.append  # type: ignore[method-assign]  # what would go to the terminal
        await wait_until(pilot, lambda: app.images_written > 3, what="images written")
        region = app.video.content_region
        image = [data for data in written if "a=T" in data][-1]  # the layout has settled by now
        assert f"{SAVE_CURSOR}\x1b[{region.y + 1};{region.x + 1}H\x1b_G" in image, "at the pane's first cell"
        assert ",U=1," not in image
        assert "placed directly" in app.status_figures().colors
        await pilot.press("question_mark")
        assert kitty.delete_placements() in written, "the image leaves the screen under the help screen"
