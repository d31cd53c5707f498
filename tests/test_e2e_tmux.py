"""End to end: the real `fertui --source VIDEO` inside tmux, driven with send-keys and read with capture-pane.

The video is written by the test from a public-domain portrait; the model is models/emotion.tflite when the
project has one, else the tiny real model from tests/model_fixtures.py (never a fake in the real command).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from pipeline.core.frames import log_columns
from pipeline.core.labels import EMOTIONS
from pipeline.core.paths import installed_models_dir
from pipeline.io.log_format import read_log
from tests.media import moving_portrait_frames, write_video
from tui.app import SIGNAL_EXIT_GRACE_S

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

FERTUI = Path(sys.executable).with_name("fertui")
START_TIMEOUT_S = 120  # TensorFlow's import alone takes a while on a busy 2-core machine
ANSI = re.compile(r"\x1b\[[0-9;:?]*[a-zA-Z]")


@pytest.fixture(scope="module")
def models_dir(request) -> Path:
    if (installed_models_dir() / "emotion.tflite").is_file():
        return installed_models_dir()
    return request.getfixturevalue("tiny_models_dir")


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    frames, _ = moving_portrait_frames(n_frames=40, size=(320, 240), absent=range(0))
    return write_video(tmp_path_factory.mktemp("video") / "portrait.avi", frames, fps=10.0)


@pytest.fixture(scope="module")
def long_video(tmp_path_factory) -> Path:
    """60 s of video: the app is still reading it when a signal test stops it."""
    frames, _ = moving_portrait_frames(n_frames=600, size=(320, 240), absent=range(0))
    return write_video(tmp_path_factory.mktemp("long") / "portrait.avi", frames, fps=10.0)


class Tmux:
    """One private tmux server (its own socket) with one 120x40 session."""

    def __init__(self, name: str) -> None:
        self.socket = f"fertui-test-{os.getpid()}-{name}"

    def run(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10)
        return done.stdout

    def start(self, command: str) -> None:
        self.run("new-session", "-d", "-s", "app", "-x", "120", "-y", "40", command)

    def screen(self, escapes: bool = False) -> str:
        return self.run("capture-pane", "-t", "app", "-p", *(["-e"] if escapes else []))

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "app", *keys)

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)


def wait_for(condition, timeout: float, what: str, tmux: Tmux | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    screen = "" if tmux is None else "; the screen:\n" + tmux.screen()
    raise AssertionError(f"timed out waiting for {what}{screen}")


def start_fertui(tmux: Tmux, folder: Path, video: Path, models_dir: Path) -> None:
    env = "env -u COLUMNS -u LINES TERM=xterm-256color COLORTERM=truecolor"  # pytest sets COLUMNS
    # The log named relative to the folder the app starts in: the status line shows it whole however deep pytest's
    # tmp_path is (under pytest-xdist it is one folder deeper, and the line cut the name off).
    args = f"--source {video} --models {models_dir} --export-dir {folder} --log session.csv"
    tmux.start(f"cd {folder} && {env} {FERTUI} {args}; echo $? > {folder / 'exit.txt'}")


def test_live_app_in_tmux_shows_video_histogram_and_exports(tmp_path, video, models_dir):
    tmux = Tmux("keys")
    try:
        start_fertui(tmux, tmp_path, video, models_dir)
        wait_for(lambda: "session.csv" in tmux.screen() and "rows" in tmux.screen(), START_TIMEOUT_S, "the app", tmux)
        wait_for(lambda: tmux.screen().count("▀") > 200, 30, "video cells", tmux)
        screen, coloured = tmux.screen(), tmux.screen(escapes=True)
        assert "▀" in screen
        assert re.search(r"\x1b\[[0-9;]*(38;2;|38;5;)[0-9;]*m▀", coloured), "half blocks carry colours"
        for emotion in EMOTIONS:
            assert emotion in screen, emotion
        wait_for(lambda: re.search(r"\b([1-9]\d*) rows", tmux.screen()), 60, "rows recorded", tmux)

        tmux.keys("e")
        exported = wait_for(lambda: sorted(tmp_path.glob("fertui-export-*.csv")), 20, "the export")
        tmux.keys("q")
        wait_for(lambda: (tmp_path / "exit.txt").exists(), 20, "fertui to exit")
    finally:
        tmux.kill()
    assert (tmp_path / "exit.txt").read_text().strip() == "0"
    rows = read_log(exported[0])
    assert rows and set(rows[0]) == set(log_columns(landmarks=True))  # the live log has the landmarks too
    summary = json.loads(exported[0].with_name(exported[0].stem + ".summary.json").read_text())
    assert summary["rows"] == len(rows)
    meta = json.loads((tmp_path / "session.csv.meta.json").read_text())
    assert meta["interrupted"] is False and meta["ended"]
    assert len(read_log(tmp_path / "session.csv")) == meta["rows"] >= len(rows)


def _fertui_pid(tmux: Tmux) -> int:
    pane_shell = int(tmux.run("display-message", "-p", "-t", "app", "#{pane_pid}").strip())
    children = subprocess.run(["pgrep", "-P", str(pane_shell)], capture_output=True, text=True).stdout.split()
    assert len(children) == 1, f"expected fertui as the pane shell's only child, got {children}"
    return int(children[0])


def _gone(pid: int) -> bool:
    """True once the process has exited (a zombie waiting for its parent counts as exited)."""
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] == "Z"
    except (FileNotFoundError, IndexError):
        return True


def test_closing_the_terminal_leaves_the_log_complete(tmp_path, long_video, models_dir):
    tmux = Tmux("hangup")
    try:
        start_fertui(tmux, tmp_path, long_video, models_dir)
        wait_for(lambda: re.search(r"\b([1-9]\d*) rows", tmux.screen()), START_TIMEOUT_S, "rows recorded", tmux)
        pid = _fertui_pid(tmux)
    finally:
        tmux.kill()  # the pane's processes get SIGHUP, as when an SSH link drops
    meta_path = tmp_path / "session.csv.meta.json"
    meta = wait_for(lambda: (m := json.loads(meta_path.read_text())) and m["ended"] and m, 15, "the log closed")
    assert meta["reason"] == "interrupted by SIGHUP"  # the same words as analyze
    assert len(read_log(tmp_path / "session.csv")) == meta["rows"] > 0
    # Nothing is left running on the lab machine once its terminal is gone.
    try:
        wait_for(lambda: _gone(pid), SIGNAL_EXIT_GRACE_S + 10, "fertui to exit after the hangup")
    finally:
        if not _gone(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_to_the_live_app_closes_the_log_within_two_seconds(sig, tmp_path, long_video, models_dir):
    tmux = Tmux(f"signal-{sig.name}")
    try:
        start_fertui(tmux, tmp_path, long_video, models_dir)
        wait_for(lambda: re.search(r"\b([1-9]\d*) rows", tmux.screen()), START_TIMEOUT_S, "rows recorded", tmux)
        pid = _fertui_pid(tmux)
        sent = time.time()
        os.kill(pid, sig)
        wait_for(lambda: (tmp_path / "exit.txt").exists(), 20, "fertui to exit", tmux)
    finally:
        tmux.kill()
    assert (tmp_path / "exit.txt").read_text().strip() == str(128 + sig)
    meta = json.loads((tmp_path / "session.csv.meta.json").read_text())
    assert meta["interrupted"] is True and sig.name in meta["reason"]
    closed_after = datetime.fromisoformat(meta["ended"]).timestamp() - sent
    assert closed_after < 2.0, f"the log was closed {closed_after:.2f} s after the signal"
    assert len(read_log(tmp_path / "session.csv")) == meta["rows"] > 0
