"""Detection against fake terminals on a real pseudo-terminal: answers, silence, garbage and tmux.

The fake terminal holds the pty's master side: it reads what the probe writes and, once DA1's query has
arrived, answers as the terminal it plays would (or not at all). Every probe runs with a short budget.
"""

from __future__ import annotations

import os
import pty
import select
import termios
import threading

import pytest

from tui.graphics.detect import DA1_QUERY, KITTY_QUERY, TerminalGraphics, choose_mode, parse_replies, probe

BUDGET_S = 0.3  # the fake answers in microseconds; silence costs this much per test
XTERM_VT340 = b"\x1b[6;13;6t\x1b[?1;0;256S\x1b[?63;1;2;4;6;9;15;22c"  # cell 6x13 px, 256 registers, Sixel
KITTY = b"\x1b_Gi=31;OK\x1b\\\x1b[6;20;10t\x1b[?62;c"
TMUX = b"\x1b[?1;2c"  # tmux answers DA1 itself; it does not pass the Kitty reply back
TMUX_WITH_SIXEL = b"\x1b[?1;2;4c"


class FakeTerminal:
    """The terminal side of a pty: records the queries, answers `answer` after DA1's query (None: silent)."""

    def __init__(self, answer: bytes | None) -> None:
        self.answer = answer
        self.master, self.slave = pty.openpty()
        self.received = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            if not select.select([self.master], [], [], 0.05)[0]:
                continue
            try:
                self.received += os.read(self.master, 4096)
            except OSError:
                return
            if DA1_QUERY.encode() in self.received and self.answer is not None:
                os.write(self.master, self.answer)
                self.answer = None

    def __enter__(self) -> FakeTerminal:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        os.close(self.master)
        os.close(self.slave)

    def probe(self, **environ: str) -> TerminalGraphics:
        return probe(self.slave, self.slave, {"TERM": "xterm-256color", **environ}, budget_s=BUDGET_S)


def test_sixel_terminal():
    with FakeTerminal(XTERM_VT340) as terminal:
        found = terminal.probe()
    assert (found.sixel, found.kitty, found.answered) == (True, False, True)
    assert found.cell_px == (6, 13) and found.sixel_registers == 256
    assert choose_mode("auto", found) == "sixel" and found.modes == ("halfblock", "sixel")
    # The queries went out in order, DA1 last as the sentinel.
    assert terminal.received.index(KITTY_QUERY.encode()) < terminal.received.index(DA1_QUERY.encode())


def test_kitty_terminal():
    with FakeTerminal(KITTY) as terminal:
        found = terminal.probe(TERM="xterm-kitty")
    assert (found.kitty, found.sixel) == (True, False)
    assert found.cell_px == (10, 20)
    assert choose_mode("auto", found) == "kitty"


def test_silent_terminal_means_half_blocks():
    with FakeTerminal(None) as terminal:
        found = terminal.probe()
    assert not found.answered and found.modes == ("halfblock",)
    assert choose_mode("auto", found) == "halfblock"
    assert "no answer" in found.how


def test_garbage_means_half_blocks():
    with FakeTerminal(b"\x1b[?;;zz\x1b_Gi=31;ENOTSUPPORTED\x1b\\garbage") as terminal:
        found = terminal.probe()
    assert choose_mode("auto", found) == "halfblock" and not found.sixel and not found.kitty


def test_a_kitty_error_reply_is_not_kitty():
    found = parse_replies(b"\x1b_Gi=31;EINVAL:bad\x1b\\\x1b[?62;c")
    assert found.answered and not found.kitty and choose_mode("auto", found) == "halfblock"


def test_tmux_passes_only_what_it_passes():
    with FakeTerminal(TMUX) as terminal:
        found = terminal.probe(TMUX="/tmp/tmux-0/default,1,0", TERM="tmux-256color", TERM_PROGRAM="WezTerm")
    # The Kitty query went through tmux's passthrough, nothing came back, and the outer terminal's name in the
    # environment does not make tmux draw Sixel.
    assert b"\x1bPtmux;\x1b\x1b_G" in terminal.received
    assert found.tmux and not found.kitty and not found.sixel
    assert choose_mode("auto", found) == "halfblock"


def test_tmux_with_sixel_says_so_in_its_da1():
    with FakeTerminal(TMUX_WITH_SIXEL) as terminal:
        found = terminal.probe(TMUX="/tmp/tmux-0/default,1,0", TERM="tmux-256color")
    assert found.sixel and choose_mode("auto", found) == "sixel"


def test_environment_adds_sixel_only_for_a_terminal_that_answered():
    iterm = {"LC_TERMINAL": "iTerm2"}
    with FakeTerminal(b"\x1b[?62;22c") as terminal:
        assert terminal.probe(**iterm).sixel  # iTerm2 draws Sixel; its DA1 need not say so
    with FakeTerminal(None) as terminal:
        assert not terminal.probe(**iterm).sixel  # silence: never on a guess


def test_the_user_wins_and_the_tty_is_restored():
    with FakeTerminal(None) as terminal:
        before = termios.tcgetattr(terminal.slave)
        found = terminal.probe()
        assert termios.tcgetattr(terminal.slave) == before
    assert choose_mode("sixel", found) == "sixel" and choose_mode("kitty", found) == "kitty"
    with pytest.raises(ValueError, match="--render"):
        choose_mode("bogus", found)


def test_dumb_and_linux_consoles_are_not_asked():
    with FakeTerminal(XTERM_VT340) as terminal:
        found = terminal.probe(TERM="linux")
    assert terminal.received == b"" and found.modes == ("halfblock",)
