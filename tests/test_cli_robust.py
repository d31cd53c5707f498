"""Never lose a session, end to end: damaged input, a full or unwritable disk, no network, private files.

Each test runs the real `fertui analyze` in a fresh process on media the test writes, with the tiny real
emotion model. Inputs are small and several cases share one run, to keep the suite fast.
"""

from __future__ import annotations

import json
import resource
import signal
import stat
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.io.log_format import read_log
from tests.cli_run import fertui
from tests.media import background, centre_inside, moving_portrait_frames, write_video

ROOT = Path(__file__).resolve().parents[1]


def stderr_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.strip()]


def file_size_limit(max_bytes: int):
    """A preexec_fn: files this process writes cannot grow past `max_bytes` (a disk that is full)."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return limit


# -- damaged images: converted, or skipped with a count -----------------------------------------------------


def test_a_folder_of_odd_and_damaged_images(hopper: np.ndarray, tiny_models_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    gray = cv2.cvtColor(hopper, cv2.COLOR_BGR2GRAY)
    cv2.imwrite(str(folder / "1-one-pixel.png"), hopper[:1, :1])
    cv2.imwrite(str(folder / "2-gray.png"), gray)
    cv2.imwrite(str(folder / "3-gray16.png"), gray.astype(np.uint16) * 257)
    cv2.imwrite(str(folder / "4-alpha.png"), cv2.cvtColor(hopper, cv2.COLOR_BGR2BGRA))
    eight_k = cv2.resize(background((1920, 1080)), (7680, 4320), interpolation=cv2.INTER_NEAREST)
    big = cv2.resize(hopper, (hopper.shape[1] * 4, hopper.shape[0] * 4), interpolation=cv2.INTER_LINEAR)
    eight_k[1000 : 1000 + big.shape[0], 3000 : 3000 + big.shape[1]] = big
    cv2.imwrite(str(folder / "5-8k.jpg"), eight_k, [cv2.IMWRITE_JPEG_QUALITY, 80])
    (folder / "6-empty.jpg").touch()
    (folder / "7-cut.jpg").write_bytes(b"\xff\xd8\xff\xe0 a jpeg that ends here")
    (folder / "notes.txt").write_text("session notes")
    out = tmp_path / "odd.csv"
    done = fertui("analyze", str(folder), "--out", str(out), "--models", str(tiny_models_dir), "--min-face", "100")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    rows = read_log(out)
    assert [r["source"] for r in rows] == ["1-one-pixel.png", "2-gray.png", "3-gray16.png", "4-alpha.png", "5-8k.jpg"]
    assert rows[0]["face_id"] is None, "a 1x1 image is a frame with no face, not a crash"
    for row in rows[1:4]:
        assert row["face_id"] is not None, f"{row['source']}: converted to BGR and her face found"
        assert centre_inside((row["x"], row["y"], row["w"], row["h"]), (150, 80, 230, 280))
    eight = rows[4]
    assert eight["face_id"] is not None, "an 8K frame is scaled down (to 3840 wide) and analysed"
    assert centre_inside((eight["x"], eight["y"], eight["w"], eight["h"]), (1500 + 300, 500 + 160, 460, 560))
    meta = json.loads(Path(f"{out}.meta.json").read_text())
    assert meta["interrupted"] is False and meta["frames"] == 5
    assert sorted(meta["source"]["skipped"]) == ["6-empty.jpg", "7-cut.jpg", "notes.txt"]
    notes = [line for line in stderr_lines(done) if line.startswith("fertui: note:")]
    assert len(notes) == 1 and "skipped 3 file(s) that are not readable images" in notes[0], done.stderr


# -- damaged videos: a frame that fails to decode, a truncated file, random bytes --------------------------------


def mjpeg_frame_offsets(data: bytes) -> list[int]:
    """Where each frame's JPEG starts in an MJPG .avi (its start-of-image marker)."""
    return [i for i in range(len(data) - 3) if data[i : i + 3] == b"\xff\xd8\xff"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 frames (10 fps) of a face that is always in view."""
    frames, _ = moving_portrait_frames(n_frames=20, absent=range(0))
    return write_video(tmp_path_factory.mktemp("clip") / "clip.avi", frames, fps=10.0)


def test_a_frame_that_fails_to_decode_is_skipped_and_counted(clip: Path, tiny_models_dir, tmp_path) -> None:
    data = bytearray(clip.read_bytes())
    starts = mjpeg_frame_offsets(bytes(data))
    assert len(starts) == 20
    rng = np.random.default_rng(0)
    begin, end = starts[8] + 2, starts[9] - 16
    data[begin:end] = rng.integers(0, 256, end - begin, dtype=np.uint8).tobytes()  # frame 8's picture is noise
    damaged = tmp_path / "damaged.avi"
    damaged.write_bytes(bytes(data))
    out = tmp_path / "damaged.csv"
    done = fertui("analyze", str(damaged), "--out", str(out), "--models", str(tiny_models_dir), "--no-landmarks")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    rows = read_log(out)
    assert [r["frame"] for r in rows] == [*range(8), *range(9, 20)], "frame 8 skipped, the rest kept in place"
    assert rows[8]["time_s"] == pytest.approx(0.9), "later frames keep their time in the video"
    meta = json.loads(Path(f"{out}.meta.json").read_text())
    assert meta["source"]["undecodable_frames"] == 1 and meta["source"]["ended_early"] is False
    assert "fertui: note: skipped 1 video frame(s) that could not be decoded" in stderr_lines(done)


def test_a_truncated_video_keeps_what_was_read_and_says_so(clip: Path, tiny_models_dir, tmp_path) -> None:
    data = clip.read_bytes()
    starts = mjpeg_frame_offsets(data)
    truncated = tmp_path / "truncated.avi"
    truncated.write_bytes(data[: starts[12] + 100])  # the recording stops in the middle of frame 12
    out = tmp_path / "truncated.csv"
    done = fertui("analyze", str(truncated), "--out", str(out), "--models", str(tiny_models_dir), "--no-landmarks")
    assert done.returncode == 0, done.stderr[-2000:]
    rows = read_log(out)
    assert [r["frame"] for r in rows] == list(range(12))
    assert all(r["face_id"] is not None for r in rows)
    meta = json.loads(Path(f"{out}.meta.json").read_text())
    assert meta["source"]["ended_early"] is True and meta["frames"] == 12
    (note,) = [line for line in stderr_lines(done) if line.startswith("fertui: note:")]
    assert "ended after 12 of the 20 frames" in note


def test_random_bytes_named_mp4_is_refused_with_one_line(tmp_path: Path) -> None:
    bogus = tmp_path / "session.mp4"
    bogus.write_bytes(np.random.default_rng(1).integers(0, 256, 200_000, dtype=np.uint8).tobytes())
    out = tmp_path / "log.csv"
    done = fertui("analyze", str(bogus), "--out", str(out), timeout=120)
    assert done.returncode == 2
    assert stderr_lines(done) == [f"fertui: {bogus}: not an image or a video that can be read"]
    assert not out.exists()


# -- the disk: unwritable or full at start, full during the run --------------------------------------------------


def test_an_unwritable_log_location_is_refused_at_start(hopper_jpg: Path, tiny_models_dir, tmp_path) -> None:
    if not Path("/proc/self").is_dir():
        pytest.skip("needs /proc: a folder that nobody, not even root, can create files in")
    out = Path("/proc/fertui-cannot-write-here/log.csv")
    done = fertui("analyze", str(hopper_jpg), "--out", str(out), "--models", str(tiny_models_dir), timeout=120)
    lines = stderr_lines(done)
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("fertui: "), done.stderr
    assert "/proc/fertui-cannot-write-here" in lines[0]


def test_a_full_disk_at_start_is_refused(hopper_jpg: Path, tiny_models_dir, tmp_path) -> None:
    out = tmp_path / "log.csv"
    done = fertui(
        "analyze", str(hopper_jpg), "--out", str(out), "--models", str(tiny_models_dir), preexec_fn=file_size_limit(64)
    )
    lines = stderr_lines(done)
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith(f"fertui: cannot write log {out}: File too large")
    assert not out.exists() and not Path(f"{out}.meta.json").exists(), "a refused start leaves nothing behind"


def test_a_disk_that_fills_during_the_run_stops_recording_and_keeps_the_rows(
    tiny_models_dir: Path, tmp_path: Path
) -> None:
    frames, _ = moving_portrait_frames(n_frames=80, absent=range(0))
    video = write_video(tmp_path / "long.avi", frames, fps=10.0)
    out = tmp_path / "full.csv"
    args = ("analyze", str(video), "--out", str(out), "--models", str(tiny_models_dir), "--no-landmarks")
    done = fertui(*args, preexec_fn=file_size_limit(9000))
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    lines = stderr_lines(done)
    assert any(line.startswith(f"fertui: warning: recording stopped: cannot write {out}") for line in lines), lines
    assert lines[-1].startswith("fertui: analysis stopped: recording stopped")
    rows = read_log(out)  # every row present parses
    assert 5 < len(rows) < 80 and out.stat().st_size <= 9000
    assert [r["frame"] for r in rows] == list(range(len(rows)))
    assert all(r["face_id"] is not None and r["emotion"] for r in rows), "no half-written row"
    meta = json.loads(Path(f"{out}.meta.json").read_text())
    assert meta["interrupted"] is True and meta["rows"] == len(rows)
    assert meta["write_error"].startswith("recording stopped") and meta["reason"] == meta["write_error"]
    assert meta["run"]["frames_processed"] < 80, "the analysis stops once nothing more can be recorded"


# -- privacy: no network, nothing saved but the log, owner-only files ------------------------------------------------

NO_NETWORK = """
import socket, sys
attempts = []
def refuse(*args, **kwargs):
    attempts.append(repr(args)[:200])
    sys.stderr.write("NETWORK ATTEMPT " + repr(args)[:200] + "\\n")
    raise OSError("network disabled by the test")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.socket.sendto = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
sys.path.insert(0, {root!r})
from pipeline.commands.cli import main
code = main(sys.argv[1:])
sys.stderr.write("network attempts: %d\\n" % len(attempts))
sys.exit(code)
"""


def test_the_whole_pipeline_runs_with_the_network_disabled_and_saves_only_the_log(
    moving_video, tiny_models_dir: Path, tmp_path: Path
) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    video, _ = moving_video
    done = subprocess.run(
        [sys.executable, "-c", NO_NETWORK.format(root=str(ROOT))]
        + ["analyze", str(video), "--out", "session.csv", "--models", str(tiny_models_dir)],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "NETWORK ATTEMPT" not in done.stderr
    assert "network attempts: 0" in done.stderr
    assert len(read_log(workdir / "session.csv")) == 30
    assert sorted(p.name for p in workdir.iterdir()) == ["session.csv", "session.csv.meta.json"], (
        "no frames or face crops are saved unless asked"
    )
    for path in workdir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_exported_model_files_are_owner_only(tiny_models_dir: Path, tmp_path: Path) -> None:
    """What `fertui export` writes (the converted model and its card), from the committed tiny model's bytes (the
    fixture itself is a copy, with whatever mode a checkout gave it)."""
    from pipeline.modelling.conversion import write_model_files
    from pipeline.runtime.emotion.model_card import ModelCard

    card = ModelCard.read(tiny_models_dir)
    out = write_model_files(
        (tiny_models_dir / card.model).read_bytes(),
        tmp_path / "exported",
        parameters=card.parameters,
        multiply_adds=int(card.files[card.model]["multiply_adds_per_face"]),
    )
    # The detector's networks come along: an exported folder is a whole ModelSet that `--models` runs.
    assert sorted(path.name for path in out.iterdir()) == ["MODEL_CARD.md", card.model, "mtcnn"]
    for path in out.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path
