"""How many colours the app draws in, from what the terminal answered rather than from `TERM` alone.

xterm and mlterm set `TERM=xterm` and no `COLORTERM` by default, from which Textual (through Rich) assumes 16
colours: face thumbnails become red and yellow blocks, half-block video is unrecognisable. Yet both draw 256
colours and more, and a terminal that answered the DA1 probe (tui/graphics/detect.py) is a real xterm-class
terminal, not a pipe or the Linux console. So such a terminal gets at least 256 colours, unless the user said
otherwise: `NO_COLOR`, `TEXTUAL_COLOR_SYSTEM`, `COLORTERM`, or a `TERM` that names its colours (`xterm-16color`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping

from tui.graphics.detect import TerminalGraphics

COLOR_SYSTEM_ENV = "TEXTUAL_COLOR_SYSTEM"  # read by Textual when it is imported
XTERM_CLASS_TERMS = ("xterm", "mlterm", "rxvt", "rxvt-unicode", "vt340", "xterm-xfree86")
_NAMES_ITS_COLOURS = re.compile(r"-(mono|m|8color|16color|88color|256color|direct|truecolor|24bit)$")


def at_least_256_colours(graphics: TerminalGraphics, environ: Mapping[str, str]) -> bool:
    """True when the app should draw in 256 colours though the environment alone says fewer."""
    if not graphics.answered:
        return False  # silence or garbage: maybe not a terminal at all; Textual's own guess stands
    if any(environ.get(name) for name in ("NO_COLOR", COLOR_SYSTEM_ENV, "COLORTERM")):
        return False  # the user (or the terminal) said how many colours
    term = environ.get("TERM", "")
    if _NAMES_ITS_COLOURS.search(term):
        return False
    return term in XTERM_CLASS_TERMS or term.startswith("xterm-")


def apply_colour_depth(graphics: TerminalGraphics, environ: MutableMapping[str, str] | None = None) -> bool:
    """Set TEXTUAL_COLOR_SYSTEM=256 where `at_least_256_colours`, before the app is made. Whether it was set."""
    import os
    import sys

    target: MutableMapping[str, str] = os.environ if environ is None else environ
    if not at_least_256_colours(graphics, target):
        return False
    target[COLOR_SYSTEM_ENV] = "256"
    # Textual reads the variable into textual.constants when it is imported, which rich_pixels (tui.render) has
    # already done by now; the App reads that module attribute when it is created, so it is set there too.
    constants = sys.modules.get("textual.constants")
    if environ is None and constants is not None:
        setattr(constants, "COLOR_SYSTEM", "256")  # noqa: B010  # Final in Textual: the variable's value, read late
    return True
