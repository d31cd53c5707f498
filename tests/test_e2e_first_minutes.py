"""End to end, what a new user sees first in real terminals (issue 35): the colours xterm gets under its default
`TERM=xterm` and no `COLORTERM`, and, in tmux at 80x24 and 120x40, a help screen that shows every key and a key bar
that keeps `?` Help and `q` Quit.

xterm runs under Xvfb and is read back with xwd (as tests/test_e2e_xterm.py does); tmux is read with capture-pane.
Each test skips where its tools are absent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from tests.test_e2e_tmux import FERTUI, START_TIMEOUT_S, Tmux, wait_for
from tests.test_e2e_xterm import display, models_dir, screenshot  # noqa: F401  # fixtures used by name

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
            time.sleep(2)
            pane = screenshot(display)[side]
            colours = len(np.unique(pane.reshape(-1, 3), axis=0))
            if colours > 40:
                break
        # In xterm's 16 colours the pane holds at most 16 (plus the cursor's); a photograph in 256 holds many more.
        assert colours > 40, f"the face pane shows {colours} colours"
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
