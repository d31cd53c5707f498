"""What a new user meets on the command line in the first minutes (issue 35): read-only places named as such, an
early Ctrl-C without a traceback, a folder with nothing to analyse, absurd option values, a full disk whose sidecar
tells the truth, and a report whose lines at 0 and 1 can be seen.

Each CLI case runs the real `fertui` in a fresh process. A read-only or full file system is a real tmpfs mounted in
a private mount namespace (`unshare -rm`); where the kernel or container does not allow one, those tests skip.
"""

from __future__ import annotations

import errno
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.media import moving_portrait_frames, write_video

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
FERTUI = [sys.executable, "-m", "pipeline.commands.cli"]


def fertui(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FERTUI, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=ENV)


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("fertui: note:")]
    assert "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.fixture(scope="module")
def short_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frames, _ = moving_portrait_frames(n_frames=6)
    return write_video(tmp_path_factory.mktemp("media") / "short.avi", frames)


def in_tmpfs(mount: Path, options: str, command: list[str], *, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `command` with a tmpfs mounted (`options`: "ro", or "size=64k") on `mount`, in a private user and mount
    namespace, so nothing outside the test sees it; skip where namespaces or tmpfs mounts are not allowed."""
    if shutil.which("unshare") is None:
        pytest.skip("needs util-linux's unshare to mount a private tmpfs")
    mount.mkdir(parents=True, exist_ok=True)
    ro = options == "ro"
    size = "1m" if ro else options.removeprefix("size=")
    setup = f"mount -t tmpfs -o size={size} tmpfs {shlex.quote(str(mount))}"
    if ro:  # a folder inside, then the whole file system read-only
        setup += f" && mkdir {shlex.quote(str(mount / 'out'))} && mount -o remount,ro {shlex.quote(str(mount))}"
    script = f"{setup} || exit 99; exec {shlex.join(command)}"
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=ENV
    )
    if done.returncode == 99 or "unshare failed" in done.stderr:
        pytest.skip(f"cannot mount a private tmpfs here: {done.stderr.strip()[:200]}")
    return done


# -- read-only places: the real cause, in one line ----------------------------------------------------------------


@pytest.mark.parametrize("command", ["analyze", "batch", "report"])
def test_a_read_only_file_system_is_named_as_such(command: str, short_video: Path, tmp_path: Path) -> None:
    mount = tmp_path / "ro"
    out = mount / "out"
    if command == "analyze":
        args = ["analyze", str(short_video), "--out", str(out / "log.csv")]
    elif command == "batch":
        args = ["batch", str(short_video), "--out", str(out)]  # an existing read-only folder
    else:
        log = tmp_path / "log.csv"
        made = fertui("analyze", str(short_video), "--out", str(log))
        assert made.returncode == 0, made.stderr
        args = ["report", str(log), "--out", str(out / "r.png")]
    done = in_tmpfs(mount, "ro", [*FERTUI, *args])
    line = one_line_error(done)
    assert done.returncode == 2
    assert "Read-only file system" in line and "permission denied" not in line.lower(), line
    assert str(out) in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into folders without write permission")
def test_a_folder_without_write_permission_is_permission_denied(short_video: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    done = fertui("batch", str(short_video), "--out", str(locked))
    assert done.returncode == 2 and "ermission denied" in one_line_error(done)


# -- Ctrl-C while the command is still starting -------------------------------------------------------------------


INTERPRETER_START_UP = ("init_import_site", "Could not import runpy module")
"""What Python prints for a SIGINT during its own start-up (site's .pth files, runpy), before any line of fertui."""


def test_ctrl_c_in_the_first_tenths_of_a_second_is_one_line(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("fertui")  # the console script users run
    launcher = [str(script)] if script.exists() else FERTUI
    outcomes = []
    for attempt in range(20):
        command = ["analyze", "demo", "--max-frames", "3", "--out", str(tmp_path / f"{attempt}.csv")]
        process = subprocess.Popen(
            [*launcher, *command],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
            # A suite started in the background (`nohup ... &`) hands its children SIGINT ignored, and Python then
            # rightly keeps ignoring it: a command started that way should ignore Ctrl-C too. This test is about a
            # terminal's Ctrl-C, so the child starts with SIGINT's default disposition, as from a shell.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
        outcomes.append((process.returncode, err))
    # On a loaded machine the interpreter's own start-up can outlast 0.1 s; a signal there fails Python itself,
    # before any line of fertui runs, which no program can handle.
    in_fertui = [(code, err) for code, err in outcomes if not any(s in err for s in INTERPRETER_START_UP)]
    tracebacks = [err for _, err in in_fertui if "Traceback" in err]
    assert not tracebacks, tracebacks[0]
    assert all(code == 130 and err.strip() == "fertui: interrupted" for code, err in in_fertui), in_fertui
    assert len(in_fertui) >= 10, f"only {len(in_fertui)} of 20 signals reached fertui's own start-up"


# -- nothing to analyse ---------------------------------------------------------------------------------------------


@pytest.fixture
def non_images(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "readme.txt").write_text("not a picture\n")
    (folder / "table.json").write_text("{}\n")
    (folder / "photo.jpg").write_bytes(b"this is text named like a photo\n")
    return folder


def test_analyze_of_a_folder_of_non_images_is_exit_2(non_images: Path, tmp_path: Path) -> None:
    out = tmp_path / "log.csv"
    done = fertui("analyze", str(non_images), "--out", str(out))
    assert done.returncode == 2 and "no readable images" in one_line_error(done)
    assert not out.exists()


def test_batch_of_a_folder_of_non_images_is_exit_2(non_images: Path, tmp_path: Path) -> None:
    done = fertui("batch", str(non_images), "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and "no videos or photo folders found" in one_line_error(done)


def test_the_live_app_on_a_folder_of_non_images_is_exit_2(non_images: Path) -> None:
    done = fertui("--source", str(non_images), timeout=120)  # not a terminal: fails before the app would start
    assert done.returncode == 2 and "no readable images" in one_line_error(done)


def test_a_folder_with_one_readable_photo_among_broken_ones_still_runs(
    non_images: Path, hopper_jpg: Path, tmp_path: Path
) -> None:
    shutil.copy(hopper_jpg, non_images / "zz-hopper.jpg")
    out = tmp_path / "log.csv"
    done = fertui("analyze", str(non_images), "--out", str(out))
    assert done.returncode == 0, done.stderr
    meta = json.loads(Path(f"{out}.meta.json").read_text())
    assert meta["source"]["images"] == 2 and sorted(meta["source"]["skipped"]) == [
        "photo.jpg",
        "readme.txt",
        "table.json",
    ]


# -- absurd option values: refused, naming the bound --------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["analyze", "demo", "--max-frames", "999999999999"], "--max-frames must be at most 100000000"),
        (["analyze", "demo", "--max-frames", "0"], "--max-frames must be at least 1"),
        (["analyze", "demo", "--jitter-crops", "1000"], "--jitter-crops must be at most 150"),
        (["analyze", "demo", "--min-face", "100000"], "--min-face must be at most 3840"),
        (["analyze", "demo", "--min-face", "5"], "--min-face must be at least 12 (the detector's smallest window)"),
        (["analyze", "demo", "--detect-every", "100000"], "--detect-every must be at most 1000"),
        (["batch", "x.mp4", "--out", "o", "--jitter-crops", "1000"], "--jitter-crops must be at most 150"),
        (["batch", "x.mp4", "--out", "o", "--min-face", "100000"], "--min-face must be at most 3840"),
        (["batch", "x.mp4", "--out", "o", "--jobs", "100000"], "--jobs must be at most 1024"),
        (["batch", "x.mp4", "--out", "o", "--retries", "100000"], "--retries must be at most 100"),
        (["--demo", "--jitter-crops", "1000"], "--jitter-crops must be at most 150"),
    ],
)
def test_absurd_option_values_are_refused_with_the_bound(args: list[str], message: str) -> None:
    done = fertui(*args, timeout=120)
    assert done.returncode == 2
    assert message in one_line_error(done)


# -- a full disk: the sidecar tells the truth ---------------------------------------------------------------------


def test_a_full_disk_leaves_a_truthful_sidecar_and_no_temporary_file(tmp_path: Path) -> None:
    frames, _ = moving_portrait_frames(n_frames=90, absent=range(0))
    video = write_video(tmp_path / "long.avi", frames)
    mount = tmp_path / "small"
    log = mount / "log.csv"
    # 64 KB fills after about 55 frames of rows with landmarks; the listing is taken inside the namespace.
    done = in_tmpfs(
        mount,
        "size=64k",
        [
            "sh",
            "-c",
            f"{shlex.join([*FERTUI, 'analyze', str(video), '--out', str(log)])}"
            f"; echo rc=$?; ls -A {shlex.quote(str(mount))}; cat {shlex.quote(str(log))}.meta.json",
        ],
    )
    stdout = done.stdout
    assert "rc=1" in stdout, done.stderr
    assert "No space left on device" in done.stderr and "Traceback" not in done.stderr
    listing, _, sidecar = stdout.partition("rc=1")[2].strip().partition("\n{")
    names = set(listing.split())
    assert names == {"log.csv", "log.csv.meta.json"}, f"left behind: {names}"
    meta = json.loads("{" + sidecar)
    assert meta["rows"] > 0 and meta["frames"] > 0, "the rows written before the disk filled are counted"
    assert "No space left on device" in meta["write_error"]
    assert meta["interrupted"] is True and "No space left on device" in meta["reason"], (meta, done.stderr)


def test_a_sidecar_that_cannot_be_replaced_on_a_full_disk_is_rewritten_in_place(tmp_path: Path, monkeypatch) -> None:
    import pipeline.io.sinks as sinks
    from pipeline.core.frames import Frame, FrameResult

    log = sinks.SessionLog(tmp_path / "s.csv", "csv", {"source": "clip.avi"})
    frame = Frame(0, 0.0, 1_700_000_000.0, np.zeros((8, 8, 3), np.uint8), "clip.avi")
    log.write(FrameResult(frame, ()))
    log.write_error = "recording stopped: cannot write s.csv: No space left on device"

    def disk_full(path: Path, data: bytes) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(sinks, "write_private_atomic", disk_full)
    log.close("the disk filled")
    meta = json.loads(log.meta_path.read_text())
    assert meta["rows"] == 1 and meta["frames"] == 1 and meta["reason"] == "the disk filled"
    assert meta["write_error"].startswith("recording stopped") and meta["interrupted"] is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv", "s.csv.meta.json"]


# -- the report: lines at 0 and 1 are inside the axes --------------------------------------------------------------


def test_report_lines_at_probability_one_are_visible(tmp_path: Path) -> None:
    import matplotlib.image

    from pipeline.summary.report import render_report
    from tests.summary_logs import log_rows

    rows = log_rows([(index, index * 0.1, [(1, "happy")]) for index in range(50)])
    render_report(rows, tmp_path / "r.png")
    picture = np.round(matplotlib.image.imread(tmp_path / "r.png")[:, :, :3] * 255).astype(int)
    timeline = picture[60:, :850]  # below the legend, left of the share bars
    happy = np.array([0xFF, 0xBF, 0x00])
    visible = int((np.abs(timeline - happy).sum(axis=2) <= 60).sum())
    # Drawn on the axes' top edge (ylim 0..1), the frame covers the line: 0 such pixels.
    assert visible > 500, f"the line at probability 1 shows {visible} pixels"


def test_an_import_failed_by_ctrl_c_is_an_interruption(monkeypatch, capsys) -> None:
    # Ctrl-C while TFLite's native module initialises comes back as "ImportError: initialization failed".
    import pipeline.commands.cli
    import pipeline.commands.live

    def interrupted_import(args) -> int:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise ImportError("initialization failed") from exc

    monkeypatch.setattr(pipeline.commands.live, "run", interrupted_import)
    assert pipeline.commands.cli.main(["--demo"]) == 130
    assert capsys.readouterr().err.strip() == "fertui: interrupted"
