"""What the terminal can show, asked before the app starts.

Textual's input thread reads every byte the terminal sends once the app runs, so replies to our queries
must be read before `App.run()`. The probe writes, in one go:
  - the Kitty graphics query (`a=q`, a 1x1 image the terminal only validates), wrapped for tmux's passthrough
    inside tmux: only a terminal that implements the protocol answers it;
  - `CSI 16 t`, the cell size in pixels (when the tty's window size does not carry pixels);
  - `CSI ? 1 ; 1 ; 0 S` (XTSMGRAPHICS), how many Sixel colour registers there are, and `CSI ? 2 ; 1 ; 0 S` the
    largest Sixel image it draws (xterm's default is 1000x1000: a larger image is not drawn at all);
  - `CSI > q` (XTVERSION), the terminal's name and version: kitty before 0.28 has no Unicode placeholders;
  - DA1 (`CSI c`) last, as the sentinel: every terminal answers it, and answers in order, so once its reply
    is in, every other reply that will come has come. Attribute 4 in it means Sixel.
Silence (no DA1 within the budget) or garbage means half-blocks: a pane that may be blank is never chosen
on a guess. Environment hints (`TERM`, `TERM_PROGRAM`, `LC_TERMINAL`) add Sixel for terminals known to draw it
without advertising it in DA1, but only once the terminal has answered at all. Inside tmux only what tmux
passes through counts: its own DA1 (Sixel when tmux has it) and a Kitty reply only if one comes back.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import termios
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

RenderMode = Literal["halfblock", "sixel", "kitty"]
RENDER_MODES: tuple[RenderMode, ...] = ("halfblock", "sixel", "kitty")
RENDER_CHOICES = (*RENDER_MODES, "auto")

LOCAL_BUDGET_S = 0.5  # a local terminal answers DA1 in milliseconds; only a silent one costs this much
SSH_BUDGET_S = 2.0  # a round trip over a slow link; a late reply would land in Textual's input as keys

KITTY_QUERY = "\x1b_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\"
CELL_SIZE_QUERY = "\x1b[16t"
SIXEL_REGISTERS_QUERY = "\x1b[?1;1;0S"
SIXEL_GEOMETRY_QUERY = "\x1b[?2;1;0S"
DA1_QUERY = "\x1b[c"
XTVERSION_QUERY = "\x1b[>q"

_DA1_REPLY = re.compile(rb"\x1b\[\?([0-9;]*)c")
_KITTY_REPLY = re.compile(rb"\x1b_Gi=31;([^\x1b]*)\x1b\\")
_CELL_REPLY = re.compile(rb"\x1b\[6;([0-9]+);([0-9]+)t")
_REGISTERS_REPLY = re.compile(rb"\x1b\[\?1;0;([0-9]+)S")
_GEOMETRY_REPLY = re.compile(rb"\x1b\[\?2;0;([0-9]+);([0-9]+)S")
_XTVERSION_REPLY = re.compile(rb"\x1bP>\|([^\x1b]*)\x1b\\")

# Terminals that draw Sixel (from their documentation); some do not say so in DA1.
_SIXEL_TERM_PROGRAMS = ("wezterm", "iterm.app", "mintty", "vscode", "konsole", "contour", "rio")
_SIXEL_TERMS = ("foot", "mlterm", "wezterm", "contour", "yaft")


@dataclass(frozen=True)
class TerminalGraphics:
    """What the probe found. `modes` lists what the `g` key may cycle through (half-blocks always first)."""

    sixel: bool = False
    kitty: bool = False
    cell_px: tuple[int, int] | None = None  # (width, height) of one cell in pixels, when the terminal says
    sixel_registers: int | None = None
    sixel_max_px: tuple[int, int] | None = None  # the largest Sixel image the terminal draws, when it says
    tmux: bool = False
    answered: bool = False  # the terminal answered DA1
    how: str = "not probed"
    hints: tuple[str, ...] = field(default=())
    version: str | None = None  # the XTVERSION answer, like "kitty(0.26.5)" or "XTerm(379)"

    @property
    def kitty_placeholders(self) -> bool:
        """Kitty images through Unicode placeholder cells (kitty 0.28+), else placed directly at the pane."""
        from tui.graphics.kitty_version import has_placeholders

        return has_placeholders(self.version)

    @property
    def modes(self) -> tuple[RenderMode, ...]:
        return ("halfblock", *(("sixel",) if self.sixel else ()), *(("kitty",) if self.kitty else ()))

    def best(self) -> RenderMode:
        """Kitty first (the terminal scales it, and placeholders keep Textual owning the cells), then Sixel."""
        return "kitty" if self.kitty else "sixel" if self.sixel else "halfblock"

    def figures(self) -> dict[str, object]:
        """For the session metadata."""
        return {
            "sixel": self.sixel,
            "kitty": self.kitty,
            "cell_px": None if self.cell_px is None else list(self.cell_px),
            "sixel_registers": self.sixel_registers,
            "sixel_max_px": None if self.sixel_max_px is None else list(self.sixel_max_px),
            "tmux": self.tmux,
            "answered": self.answered,
            "how": self.how,
            "version": self.version,
            "kitty_placeholders": self.kitty_placeholders,
        }


def in_tmux(environ: Mapping[str, str]) -> bool:
    return bool(environ.get("TMUX")) or environ.get("TERM", "").startswith(("tmux", "screen"))


def environment_hints(environ: Mapping[str, str]) -> tuple[str, ...]:
    """What the environment says about the terminal: 'kitty' and/or 'sixel' (hints only, never decisive)."""
    term = environ.get("TERM", "").lower()
    program = environ.get("TERM_PROGRAM", "").lower()
    hints = []
    if term == "xterm-kitty" or environ.get("KITTY_WINDOW_ID") or program == "ghostty":
        hints.append("kitty")
    if (
        program in _SIXEL_TERM_PROGRAMS
        or term.startswith(_SIXEL_TERMS)
        or environ.get("LC_TERMINAL", "").lower() == "iterm2"  # iTerm2 sets it and ssh forwards LC_*
        or environ.get("KONSOLE_VERSION")
    ):
        hints.append("sixel")
    return tuple(hints)


def should_probe(environ: Mapping[str, str]) -> bool:
    """The Linux console and dumb terminals have no graphics and might print the queries."""
    return environ.get("TERM", "") not in ("", "dumb", "linux")


def parse_replies(
    data: bytes, *, tmux: bool = False, hints: tuple[str, ...] = (), cell_px: tuple[int, int] | None = None
) -> TerminalGraphics:
    """Decide from the bytes the terminal sent back (pure: the tests feed it answers directly too)."""
    da1 = _DA1_REPLY.search(data)
    if da1 is None:
        how = "no answer: half-blocks" if not data else "no DA1 in the answer: half-blocks"
        return TerminalGraphics(cell_px=cell_px, tmux=tmux, how=how, hints=hints)
    attributes = {int(a) for a in da1.group(1).split(b";") if a.isdigit()}
    kitty_reply = _KITTY_REPLY.search(data)
    kitty = kitty_reply is not None and kitty_reply.group(1) == b"OK"
    sixel_da1 = 4 in attributes
    # tmux answers DA1 itself; a program name in the environment is tmux's or the outer terminal's, not a
    # promise that tmux draws Sixel, so inside tmux only tmux's own answer counts.
    sixel = sixel_da1 or ("sixel" in hints and not tmux)
    cell = _CELL_REPLY.search(data)
    if cell_px is None and cell is not None and int(cell.group(1)) > 0 and int(cell.group(2)) > 0:
        cell_px = (int(cell.group(2)), int(cell.group(1)))
    registers = _REGISTERS_REPLY.search(data)
    xtversion = _XTVERSION_REPLY.search(data)
    geometry = _GEOMETRY_REPLY.search(data)
    found = [name for name, yes in (("kitty", kitty), ("sixel", sixel)) if yes]
    how = ("answered: " + ", ".join(found)) if found else "answered: no graphics"
    if sixel and not sixel_da1:
        how += " (Sixel from the environment)"
    return TerminalGraphics(
        sixel=sixel,
        kitty=kitty,
        cell_px=cell_px,
        sixel_registers=int(registers.group(1)) if registers else None,
        tmux=tmux,
        answered=True,
        how=how,
        hints=hints,
        version=xtversion.group(1).decode("ascii", "replace") if xtversion else None,
        sixel_max_px=(int(geometry.group(1)), int(geometry.group(2))) if geometry else None,
    )


def tty_cell_px(fd: int) -> tuple[int, int] | None:
    """The cell size from the tty's window size, when the terminal fills in its pixel fields (xterm, kitty)."""
    try:
        rows, cols, xpixel, ypixel = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        return None
    if rows and cols and xpixel and ypixel:
        return (xpixel // cols, ypixel // rows)
    return None


def queries(tmux: bool) -> str:
    kitty = KITTY_QUERY
    if tmux:
        from tui.graphics.kitty import tmux_passthrough

        kitty = tmux_passthrough(KITTY_QUERY)
    return kitty + CELL_SIZE_QUERY + SIXEL_REGISTERS_QUERY + SIXEL_GEOMETRY_QUERY + XTVERSION_QUERY + DA1_QUERY


def probe(
    in_fd: int, out_fd: int, environ: Mapping[str, str] = os.environ, budget_s: float | None = None
) -> TerminalGraphics:
    """Ask the terminal on `in_fd`/`out_fd` (both the tty) and wait at most `budget_s` for DA1's reply."""
    tmux = in_tmux(environ)
    hints = environment_hints(environ)
    cell_px = tty_cell_px(out_fd)
    if not should_probe(environ):
        return TerminalGraphics(cell_px=cell_px, tmux=tmux, how=f"TERM={environ.get('TERM', '')!r}: not probed")
    if budget_s is None:
        budget_s = SSH_BUDGET_S if environ.get("SSH_CONNECTION") else LOCAL_BUDGET_S
    try:
        saved = termios.tcgetattr(in_fd)
    except termios.error:
        return TerminalGraphics(cell_px=cell_px, tmux=tmux, how="not a terminal: not probed")
    raw = termios.tcgetattr(in_fd)
    raw[3] &= ~(termios.ICANON | termios.ECHO)  # replies must neither wait for Enter nor show on screen
    raw[6][termios.VMIN], raw[6][termios.VTIME] = 0, 0
    data = b""
    try:
        termios.tcsetattr(in_fd, termios.TCSANOW, raw)
        os.write(out_fd, queries(tmux).encode("ascii"))
        deadline = time.monotonic() + budget_s
        while _DA1_REPLY.search(data) is None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([in_fd], [], [], left)[0]:
                break
            chunk = os.read(in_fd, 4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    finally:
        termios.tcsetattr(in_fd, termios.TCSANOW, saved)
    return parse_replies(data, tmux=tmux, hints=hints, cell_px=cell_px)


def choose_mode(requested: str, graphics: TerminalGraphics) -> RenderMode:
    """The user's mode wins; `auto` takes the best the terminal answered for."""
    if requested == "auto":
        return graphics.best()
    if requested not in RENDER_MODES:
        raise ValueError(f"--render must be one of {', '.join(RENDER_CHOICES)}, not {requested!r}")
    return requested
