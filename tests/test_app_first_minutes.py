"""In the app, what a new user meets first (issue 35): a help screen whose keys are on screen (not a 0x0 box), a key
bar that keeps `?` and `q` at 80 columns, and a warning when a forced video mode was not answered for."""

from __future__ import annotations

import pytest

from tests.app_helpers import fake_app, wait_until
from tui.app import HelpScreen
from tui.graphics.detect import parse_replies
from tui.graphics.forced import forced_mode_warning
from tui.widgets.keybar import keys_that_fit

TMUX_DA1 = b"\x1b[?1;2c"  # tmux 3.3a built without Sixel answers DA1 itself, without attribute 4
SIXEL_DA1 = b"\x1b[?63;1;2;4;6;9;15;16;22;28c"


@pytest.mark.parametrize("size", [(80, 24), (200, 60)], ids=["80x24", "200x60"])
async def test_the_help_screen_holds_every_key_inside_the_screen(tmp_path, size) -> None:
    app = fake_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help screen")
        await pilot.pause()
        box = app.screen.query_one("#help")
        table, hint = list(box.query("Static"))
        screen = app.screen.region
        assert screen.contains_region(box.region), f"the help box {box.region} is cut by the screen {screen}"
        shown_keys = sum(1 for binding in app.BINDINGS if getattr(binding, "show", False))
        assert table.region.height >= shown_keys + 1, f"{table.region.height} rows for {shown_keys} keys"
        assert table.region.width >= 60 and hint.region.height == 1


async def test_the_key_bar_keeps_help_and_quit_at_80_columns(tmp_path) -> None:
    app = fake_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: any(key.display for key in app.query("FooterKey")), what="the key bar")
        await pilot.pause()
        shown = [key for key in app.query("FooterKey") if key.display]
        actions = {key.action for key in shown}
        assert {"help", "quit"} <= actions
        assert sum(key.outer_size.width for key in shown) <= 80, "no key is cut at the edge"


def test_keys_that_fit_take_the_most_needed_first_each_whole() -> None:
    widths = [("next_face", 15), ("toggle('show_boxes')", 9), ("toggle('paused')", 13), ("help", 8), ("quit", 8)]
    assert keys_that_fit(widths, 16) == {3, 4}  # ? and q before anything else
    assert keys_that_fit(widths, 30) == {2, 3, 4}  # then Pause; Next face (15) no longer fits, Boxes (9) does not
    assert keys_that_fit(widths, 100) == {0, 1, 2, 3, 4}


def test_a_forced_mode_the_terminal_did_not_answer_for_is_named() -> None:
    inside_tmux = parse_replies(TMUX_DA1, tmux=True)
    warning = forced_mode_warning("sixel", inside_tmux)
    assert "did not answer the Sixel probe" in warning and "tmux" in warning
    assert forced_mode_warning("sixel", parse_replies(SIXEL_DA1)) == ""  # answered
    assert forced_mode_warning("auto", inside_tmux) == ""  # auto never picks what was not answered
    assert forced_mode_warning("halfblock", inside_tmux) == ""
    assert "Kitty graphics query" in forced_mode_warning("kitty", parse_replies(SIXEL_DA1))
    assert forced_mode_warning("kitty", inside_tmux) == ""  # tmux never passes the reply back (README)


async def test_the_status_line_warns_once_about_a_forced_sixel(tmp_path) -> None:
    app = fake_app(tmp_path, render="sixel", graphics=parse_replies(TMUX_DA1, tmux=True))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert "did not answer the Sixel probe" in app.status_figures().note
        app._render_warning_until = 0.0  # the few seconds have passed
        assert "Sixel probe" not in app.status_figures().note


def test_the_pixel_modes_step_their_image_cap_before_colours_and_frame_rate() -> None:
    from tui.governor import PIXEL_CAPS, Quality, quality_ladder

    ladder = quality_ladder(
        Quality("256", 20.0, PIXEL_CAPS[0]),
        govern_colors=True,
        govern_fps=True,
        color_steps=("256", "64"),
        pixel_steps=PIXEL_CAPS,
    )
    assert [q.pixels for q in ladder[: len(PIXEL_CAPS)]] == list(PIXEL_CAPS)
    assert ladder[len(PIXEL_CAPS)] == Quality("64", 20.0, PIXEL_CAPS[-1])
    assert ladder[-1].fps < 20.0 and ladder[-1].pixels == PIXEL_CAPS[-1]


def test_the_largest_sixel_image_the_terminal_draws_caps_the_picture(tmp_path) -> None:
    # xterm answers XTSMGRAPHICS geometry with its maxGraphicSize (1000x1000 by default): larger is not drawn.
    graphics = parse_replies(b"\x1b[?2;0;1000;1000S" + SIXEL_DA1)
    assert graphics.sixel_max_px == (1000, 1000)
    app = fake_app(tmp_path, render="sixel", graphics=graphics)
    assert app.render_loop.options.max_pixels == (1000, 960)  # the governor's first cap, within the terminal's


def test_the_first_status_line_fits_80_columns() -> None:
    from dataclasses import replace

    from tests.app_helpers import FROZEN_STATUS
    from tui.widgets.status import status_text

    busy = replace(FROZEN_STATUS, source="demo", resolution="1920x1080", dropped=12345, faces=3)
    narrow = status_text(busy, 78).plain.splitlines()[0]  # 80 columns less the bar's padding
    assert len(narrow) <= 78 and "faces 3" in narrow, narrow
    assert "cap 20.0 fps" in status_text(busy, 140).plain
