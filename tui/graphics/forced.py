"""A video mode the user forced (`--render sixel`, `--render kitty`) that the terminal did not answer for.

It is drawn as asked (the user may know better: a terminal that draws Sixel without saying so), but a pane that
stays blank without a word is the worst first five minutes (Sixel inside tmux 3.3a built without it), so the
status line says so once, for a few seconds after the app starts.
"""

from __future__ import annotations

from tui.graphics.detect import TerminalGraphics

WARNING_SHOWN_S = 15.0
PROBE_NAMES = {"sixel": "the Sixel probe", "kitty": "the Kitty graphics query"}


def forced_mode_warning(requested: str, graphics: TerminalGraphics) -> str:
    """The status line's warning for `--render requested`, or "" (a mode the terminal answered for, `auto`, or a
    terminal that was not asked at all, such as a test's)."""
    if requested not in PROBE_NAMES or requested in graphics.modes or graphics.how.endswith("not probed"):
        return ""
    if requested == "kitty" and graphics.tmux:
        return ""  # tmux never passes the Kitty reply back: forcing it is the documented way there
    where = " (tmux passes it through only when built with it)" if graphics.tmux and requested == "sixel" else ""
    probe = PROBE_NAMES[requested]
    return f"--render {requested}: the terminal did not answer {probe}{where}; the video may stay blank"
