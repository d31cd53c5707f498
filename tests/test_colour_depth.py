"""The colour depth the app asks Textual for, from what the terminal answered (tui/graphics/colour_depth.py)."""

from __future__ import annotations

import pytest

from tui.graphics.colour_depth import COLOR_SYSTEM_ENV, apply_colour_depth, at_least_256_colours
from tui.graphics.detect import TerminalGraphics, parse_replies

XTERM_DA1 = b"\x1b[?64;1;2;6;9;15;16;17;18;21;22;28c"  # xterm's default (VT420) answer: no Sixel
XTERM_VT340_DA1 = b"\x1b[?63;1;2;4;6;9;15;16;22;28c"  # xterm -ti vt340: attribute 4, Sixel


@pytest.mark.parametrize("answer", [XTERM_DA1, XTERM_VT340_DA1], ids=["da1", "sixel"])
@pytest.mark.parametrize("term", ["xterm", "mlterm", "xterm-new"])
def test_an_xterm_class_terminal_that_answered_gets_256_colours(answer: bytes, term: str) -> None:
    environ = {"TERM": term}
    assert apply_colour_depth(parse_replies(answer), environ) is True
    assert environ[COLOR_SYSTEM_ENV] == "256"


@pytest.mark.parametrize(
    "environ",
    [
        {"TERM": "xterm", "NO_COLOR": "1"},
        {"TERM": "xterm", "TEXTUAL_COLOR_SYSTEM": "standard"},  # the user's own word
        {"TERM": "xterm", "COLORTERM": "truecolor"},  # already more
        {"TERM": "xterm-16color"},  # names its colours
        {"TERM": "xterm-256color"},
        {"TERM": "linux"},
        {"TERM": "dumb"},
    ],
)
def test_the_user_or_the_terminal_name_decides_otherwise(environ: dict[str, str]) -> None:
    assert at_least_256_colours(parse_replies(XTERM_DA1), environ) is False


def test_a_terminal_that_did_not_answer_keeps_textuals_guess() -> None:
    environ = {"TERM": "xterm"}
    assert apply_colour_depth(TerminalGraphics(how="no answer: half-blocks"), environ) is False
    assert COLOR_SYSTEM_ENV not in environ
