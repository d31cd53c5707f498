"""End to end: the real `fertui analyze` / `fertui report` on real images, a folder, a video and the demo.

Each run is a fresh process (TensorFlow start-up included), so inputs are small. The emotion model is the
tiny real one the tests export (tests/model_fixtures.py); its labels mean nothing, its numbers are real.
"""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from pipeline.core.frames import LANDMARK_COLUMNS, LOG_COLUMNS, SMOOTHED_PREFIX
from pipeline.core.labels import EMOTIONS
from pipeline.core.paths import installed_models_dir
from pipeline.io.log_format import read_log
from tests.cli_run import fertui
from tests.media import centre_inside, moving_portrait_frames, write_video

ROOT = Path(__file__).resolve().parents[1]


def analyze(source: Path | str, out: Path, models: Path, *extra: str) -> tuple[list[dict], dict]:
    done = fertui("analyze", str(source), "--out", str(out), "--models", str(models), *extra)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    meta = json.loads(Path(f"{out}.meta.json").read_text())
    return read_log(out), meta


def assert_probabilities(rows: list[dict]) -> None:
    for row in rows:
        if row["face_id"] is None:
            assert all(row[e] is None for e in EMOTIONS)
            continue
        assert sum(row[e] for e in EMOTIONS) == pytest.approx(1.0, abs=1e-3)
        assert sum(row[SMOOTHED_PREFIX + e] for e in EMOTIONS) == pytest.approx(1.0, abs=1e-3)
        assert row["emotion"] in (*EMOTIONS, "unclear") and 0.0 < row["confidence"] <= 1.0


def assert_complete(meta: dict, rows: list[dict], frames: int, stills: bool = False) -> None:
    assert meta["interrupted"] is False and meta["reason"] is None
    assert meta["frames"] == frames and meta["rows"] == len(rows)
    ids = "face_ids" if stills else "tracking"
    assert [p["name"] for p in meta["processors"]] == ["detection", ids, "landmarks", "pose", "eyes", "emotion"]
    assert meta["processors"][-1]["model"]["sha256"]


def test_analyze_one_image(hopper_jpg: Path, tiny_models_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "image.csv"
    rows, meta = analyze(hopper_jpg, out, tiny_models_dir)
    assert len(rows) == 1
    (row,) = rows
    assert row["source"] == "hopper.jpg" and row["face_id"] == 1 and row["det_score"] > 0.9
    assert centre_inside((row["x"], row["y"], row["w"], row["h"]), (150, 80, 230, 280))  # her face in the portrait
    assert_probabilities(rows)
    assert_complete(meta, rows, frames=1, stills=True)
    assert meta["source"]["kind"] == "ImageSource" and meta["source"]["resolution"] == [512, 600]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    # With landmarks on (the default), the 68 points follow as x_0..x_67, y_0..y_67 (OpenFace's names).
    assert out.read_text().splitlines()[0].split(",") == list(LOG_COLUMNS) + list(LANDMARK_COLUMNS)
    assert meta["columns"] == list(LOG_COLUMNS) + list(LANDMARK_COLUMNS)
    xs = [row[f"x_{i}"] for i in range(68)]
    ys = [row[f"y_{i}"] for i in range(68)]
    assert all(row["x"] - 10 <= x <= row["x"] + row["w"] + 10 for x in xs), "the points lie on her face"
    assert all(row["y"] - 10 <= y <= row["y"] + row["h"] + 10 for y in ys)
    assert xs[36] < xs[45], "iBUG order: 36 is the outer corner of the eye on the left of the picture, 45 the other"
    bare, bare_meta = analyze(hopper_jpg, tmp_path / "bare.csv", tiny_models_dir, "--no-landmarks")
    assert list(bare[0]) == list(LOG_COLUMNS) and bare_meta["columns"] == list(LOG_COLUMNS)


def test_analyze_a_folder(hopper: object, astronaut: object, tiny_models_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "1-hopper.png"), hopper)
    cv2.imwrite(str(folder / "2-collins.jpg"), astronaut)
    cv2.imwrite(str(folder / "3-wall.png"), hopper[:40, :40])  # a picture with no face
    (folder / "notes.txt").write_text("session notes")
    out = tmp_path / "folder.jsonl"
    done = fertui("analyze", str(folder), "--out", str(out), "--models", str(tiny_models_dir), "--format", "jsonl")
    assert done.returncode == 0, done.stderr[-3000:]
    rows, meta = read_log(out), json.loads(Path(f"{out}.meta.json").read_text())
    assert [r["source"] for r in rows] == ["1-hopper.png", "2-collins.jpg", "3-wall.png"]
    # Face ids restart in every photo: the end table counts a face per image, never "face 1" of both.
    assert "photos: 2 face(s) over 2 of 3 image(s)" in done.stdout, done.stdout
    assert "1-hopper.png #1" in done.stdout and "2-collins.jpg #1" in done.stdout
    drawn = fertui("report", str(out), "--out", str(tmp_path / "photos.png"))
    assert drawn.returncode == 0, drawn.stderr
    assert "photos: 2 face(s) over 3 image(s)" in drawn.stdout
    assert [r["frame"] for r in rows] == [0, 1, 2]
    assert rows[0]["face_id"] is not None and rows[1]["face_id"] is not None and rows[2]["face_id"] is None
    assert_probabilities(rows)
    assert_complete(meta, rows, frames=3, stills=True)
    assert meta["source"]["skipped"] == ["notes.txt"] and meta["format"] == "jsonl"
    # The live app's export key summarises the same way: a face per image, never "face 1" of both photos.
    from tui.snapshot import snapshot_log

    log = SimpleNamespace(path=out, fmt="jsonl", columns=meta["columns"], metadata=meta)
    exported = snapshot_log(log, tmp_path / "exports", "csv")  # type: ignore[arg-type]
    summary = json.loads(exported.summary.read_text())
    assert list(summary["faces"]) == ["1-hopper.png #1", "2-collins.jpg #1"]
    assert [face["frames"] for face in summary["faces"].values()] == [1, 1]


PER_IMAGE_COLUMNS = [c for c in LOG_COLUMNS if c not in ("frame", "time_s", "wall_time", "source")]


def test_each_photo_is_judged_on_its_own_whatever_the_order(hopper, astronaut, tmp_path: Path) -> None:
    # The shipped model: its labels are real. The same five pictures under names that sort in opposite orders.
    pair = np.hstack([cv2.resize(astronaut, (512, 600)), hopper])  # two faces: ids 1 (left) and 2 (right)
    pictures = {
        "hopper": hopper,
        "collins": astronaut,
        "pair": pair,
        "wall": hopper[:40, :40],  # no face
        "hopper-mirrored": hopper[:, ::-1],
    }
    runs = {}
    for order, names in (("forward", list(pictures)), ("backward", list(pictures)[::-1])):
        folder = tmp_path / order
        folder.mkdir()
        for position, name in enumerate(names):
            cv2.imwrite(str(folder / f"{position:02d}-{name}.png"), pictures[name])
        rows, meta = analyze(folder, tmp_path / f"{order}.csv", installed_models_dir())
        assert_complete(meta, rows, frames=len(pictures), stills=True)
        assert meta["config"]["stills"] is True and meta["processors"][-1]["per_image"] is True
        by_picture: dict[str, list[dict]] = {}
        for row in rows:
            by_picture.setdefault(row["source"].split("-", 1)[1].removesuffix(".png"), []).append(row)
        runs[order] = by_picture
    for name in pictures:
        forward = [{c: r[c] for c in PER_IMAGE_COLUMNS} for r in runs["forward"][name]]
        backward = [{c: r[c] for c in PER_IMAGE_COLUMNS} for r in runs["backward"][name]]
        assert forward == backward, name
    pair_rows = runs["forward"]["pair"]
    assert [r["face_id"] for r in pair_rows] == [1, 2] and pair_rows[0]["x"] < pair_rows[1]["x"]
    assert [r["face_id"] for r in runs["forward"]["hopper"]] == [1]  # ids are per image, not per session
    assert runs["forward"]["wall"][0]["face_id"] is None
    for rows in runs["forward"].values():
        for row in rows:
            if row["face_id"] is not None:  # a photo's smoothed columns are its own probabilities
                assert all(row[SMOOTHED_PREFIX + e] == row[e] for e in EMOTIONS)


@pytest.fixture(scope="module")
def video_run(moving_video, tiny_models_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("video") / "video.csv"
    rows, meta = analyze(moving_video[0], out, tiny_models_dir)
    return out, rows, meta, moving_video[1]


def test_analyze_a_video_where_the_face_moves_and_leaves(video_run) -> None:
    _, rows, meta, placements = video_run
    assert len(rows) == 30, "one row per frame: the face, or an empty face id"
    assert [r["frame"] for r in rows] == list(range(30))
    assert rows[10]["time_s"] == pytest.approx(1.0)
    for row, placement in zip(rows, placements, strict=True):
        if placement.box is None:
            assert row["face_id"] is None, f"frame {row['frame']}: no face is in view"
        else:
            assert row["face_id"] is not None, f"frame {row['frame']}: the face is in view"
            assert centre_inside((row["x"], row["y"], row["w"], row["h"]), placement.box)
    before = {r["face_id"] for r in rows[:12]}
    after = {r["face_id"] for r in rows[24:]}
    assert len(before) == 1 and len(after) == 1 and before != after, "1.2 s out of view: a new id"
    assert rows[11]["x"] > rows[0]["x"] + 30, "the box follows the face"
    assert_probabilities(rows)
    assert_complete(meta, rows, frames=30)
    assert meta["source"]["fps"] == pytest.approx(10.0) and meta["run"]["dropped"] == 0


def test_report_draws_the_session(video_run, tmp_path: Path) -> None:
    log, rows, _, _ = video_run
    png = tmp_path / "report.png"
    done = fertui("report", str(log), "--out", str(png))
    assert done.returncode == 0, done.stderr
    assert "2 face(s)" in done.stdout
    image = cv2.imread(str(png))
    assert image is not None and image.shape[0] > 400 and image.shape[1] > 800
    assert stat.S_IMODE(png.stat().st_mode) == 0o600


def test_analyze_the_demo_with_a_frame_limit(tiny_models_dir: Path, tmp_path: Path) -> None:
    rows, meta = analyze("demo", tmp_path / "demo.csv", tiny_models_dir, "--max-frames", "8")
    assert sorted({r["frame"] for r in rows}) == list(range(8))
    faces = [r for r in rows if r["face_id"] is not None]
    assert len(faces) >= 6, "the demo camera mostly sees at least one portrait"
    assert all(0 <= r["x"] < 640 and 0 <= r["y"] < 480 for r in faces)
    assert_probabilities(rows)
    assert_complete(meta, rows, frames=8)


def test_jitter_crops_sets_the_alignments_per_face_in_video_and_in_photos(
    hopper_jpg: Path, tiny_models_dir: Path, tmp_path: Path
) -> None:
    # The defaults (the tiny model costs what the default network does: the budget's 6 per video frame; 25 per
    # photo), then the counts asked for: what the emotion stage ran with, and what it answered.
    _, video = analyze("demo", tmp_path / "video.csv", tiny_models_dir, "--max-frames", "2")
    rows, fewer = analyze("demo", tmp_path / "fewer.csv", tiny_models_dir, "--max-frames", "2", "--jitter-crops", "1")
    assert (video["processors"][-1]["jitter_crops"], video["config"]["jitter_crops"]) == (6, None)
    assert (fewer["processors"][-1]["jitter_crops"], fewer["config"]["jitter_crops"]) == (1, 1)
    photo_rows, photo = analyze(hopper_jpg, tmp_path / "photo.csv", tiny_models_dir)
    two_rows, two = analyze(hopper_jpg, tmp_path / "two.csv", tiny_models_dir, "--jitter-crops", "2")
    assert (photo["processors"][-1]["jitter_crops"], two["processors"][-1]["jitter_crops"]) == (25, 2)
    assert two["config"]["still_jitter_crops"] == 2 and two["config"]["jitter_crops"] is None
    assert two_rows[0]["happy"] != photo_rows[0]["happy"], "2 alignments average to another distribution than 25"
    assert_probabilities(rows + two_rows)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing", "no such file or folder"),
        ("text", "not an image or a video"),
        ("empty_folder", "no images"),
        ("zero_bytes", "empty"),
        ("camera", "no camera at 97"),
        ("out_is_folder", "is a folder"),
        ("out_under_file", "not a folder"),
        ("out_exists", "already exists"),
        ("no_model", "model card not found"),
        ("min_face", "--min-face"),
        ("jitter_crops", "--jitter-crops"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(case: str, expected: str, hopper_jpg: Path, tmp_path: Path) -> None:
    models = ROOT / "tests"  # holds no model card: only reached by the no_model case
    source, out = str(hopper_jpg), tmp_path / "log.csv"
    extra: list[str] = []
    if case == "missing":
        source = str(tmp_path / "nope.mp4")
    elif case == "text":
        (tmp_path / "clip.mp4").write_text("not a video\n" * 100)
        source = str(tmp_path / "clip.mp4")
    elif case == "empty_folder":
        (tmp_path / "empty").mkdir()
        source = str(tmp_path / "empty")
    elif case == "zero_bytes":
        (tmp_path / "zero.jpg").touch()
        source = str(tmp_path / "zero.jpg")
    elif case == "camera":
        source = "97"
    elif case == "out_is_folder":
        out = tmp_path
    elif case == "out_under_file":
        (tmp_path / "file").write_text("x")
        out = tmp_path / "file" / "log.csv"
    elif case == "out_exists":
        out.write_text("an earlier session\n")
    elif case == "min_face":
        extra = ["--min-face", "3"]
    elif case == "jitter_crops":
        extra = ["--jitter-crops", "0"]
    done = fertui("analyze", source, "--out", str(out), "--models", str(models), *extra, timeout=120)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("fertui: ") and expected in lines[0], lines
    if case == "out_exists":
        assert out.read_text() == "an earlier session\n", "nothing already recorded is lost"
    elif case != "out_is_folder":
        assert not out.exists()


def test_report_on_a_log_cut_mid_row_draws_what_is_whole(video_run, tmp_path: Path) -> None:
    log, rows, _, _ = video_run
    text = log.read_text()
    lines = text.splitlines(keepends=True)
    cut = tmp_path / "cut.csv"
    cut.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 3])  # killed while writing the last row
    done = fertui("report", str(cut), "--out", str(tmp_path / "cut.png"))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert len(read_log(cut)) == len(rows) - 1, "every whole row is kept, the cut one left out"

    damaged = tmp_path / "damaged.csv"  # a row cut in the middle of the file is not a fertui log
    damaged.write_text("".join(lines[:5]) + lines[5][:40] + "\n" + "".join(lines[6:]))
    done = fertui("report", str(damaged))
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"fertui: {damaged}: not a fertui session log (line 6 has ")


def test_an_error_that_is_not_fertuis_own_is_one_line_with_the_traceback_saved(
    video_run, tmp_path: Path, monkeypatch, capsys
) -> None:
    import pipeline.summary.report
    from pipeline.commands.cli import main

    def broken(*args, **kwargs):
        raise RuntimeError("matplotlib fell over")

    monkeypatch.setattr(pipeline.summary.report, "render_report", broken)
    monkeypatch.delenv("FERTUI_DEBUG", raising=False)
    assert main(["report", str(video_run[0]), "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fertui: RuntimeError: matplotlib fell over (the traceback is in ")
    saved = Path(err.split("the traceback is in ")[1].split(";")[0])
    assert "Traceback" in saved.read_text() and "matplotlib fell over" in saved.read_text()
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    saved.unlink()


def test_report_refuses_what_is_not_a_log(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.csv"
    bogus.write_text("a,b\n1,2\n")
    for path in (bogus, tmp_path / "missing.csv"):
        done = fertui("report", str(path))
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("fertui: "), done.stderr


def test_two_sessions_on_one_out_at_once_one_writes_the_other_exits_2(moving_video, tiny_models_dir, tmp_path) -> None:
    video, _ = moving_video
    out = tmp_path / "same.csv"
    command = [
        sys.executable,
        "-m",
        "pipeline.commands.cli",
        "analyze",
        str(video),
        "--out",
        str(out),
        "--models",
        str(tiny_models_dir),
    ]
    processes = [
        subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    results = [(process.wait(timeout=300), process.communicate()[1]) for process in processes]
    assert sorted(code for code, _ in results) == [0, 2], results
    refused = next(err for code, err in results if code == 2)
    assert refused.count("\n") == 1 and refused.startswith(f"fertui: {out} already exists"), refused
    rows = read_log(out)
    frames = [row["frame"] for row in rows]
    assert frames == sorted(frames) and sorted(set(frames)) == list(range(30)), "one writer: every frame once, in order"
    meta = json.loads(Path(f"{out}.meta.json").read_text())
    assert meta["interrupted"] is False and meta["rows"] == len(rows)


@pytest.fixture(scope="module")
def long_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """400 frames (40 s at 10 fps): far longer than any signal test waits."""
    frames, _ = moving_portrait_frames(n_frames=400, absent=range(0))
    return write_video(tmp_path_factory.mktemp("long") / "long.avi", frames, fps=10.0)


def data_rows(path: Path) -> int:
    if not path.exists():
        return 0
    return max(0, len(path.read_text().splitlines()) - 1)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL], ids=lambda s: s.name)
def test_a_signal_leaves_a_log_that_parses(sig: signal.Signals, long_video: Path, tiny_models_dir, tmp_path) -> None:
    out = tmp_path / "run.csv"
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline.commands.cli", "analyze", str(long_video), "--out", str(out)]
        + ["--models", str(tiny_models_dir)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while data_rows(out) < 3 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)
        if data_rows(out) < 3:
            process.kill()
            _, early_stderr = process.communicate()
            pytest.fail(f"the analysis never got under way (exit {process.returncode}): {early_stderr[-2000:]}")
        sent_wall = time.time()
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=60)  # a generous ceiling: the order is checked, not a duration
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    rows = read_log(out)
    assert 3 <= len(rows) < 400
    assert [r["frame"] for r in rows] == list(range(len(rows))), "every row present parses, in order"
    meta = json.loads(Path(f"{out}.meta.json").read_text())
    assert meta["interrupted"] is True
    if sig == signal.SIGKILL:
        assert process.returncode == -signal.SIGKILL
        assert "ended before closing" in meta["reason"]
        return
    assert process.returncode == 128 + sig, stderr
    assert meta["reason"] == f"interrupted by {sig.name}"
    assert datetime.fromisoformat(meta["ended"]).timestamp() >= sent_wall - 0.01, "closed after the signal"
    assert meta["rows"] == len(rows)
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith(f"fertui: interrupted by {sig.name}")
