"""fertui summarize's face signal columns (blinks, eye aspect ratios, head movement) on hand-made logs with known
answers, left out where the logs lack them, the same from CSV, JSON Lines and Parquet; and end to end on a video
analysed with the face mesh."""

from __future__ import annotations

import csv
import math
import random
from pathlib import Path

import numpy as np
import pytest

from pipeline.core.frames import EYE_COLUMNS, LOG_COLUMNS, POSE_COLUMNS
from pipeline.summary import logs
from pipeline.summary.accumulate import quaternion, summarize_log, turn_deg
from pipeline.summary.events import WHOLE_SESSION, windows_for
from pipeline.summary.study import LogEntry, find_logs
from pipeline.summary.table import ALL_SIGNAL_COLUMNS, build
from tests.summary_logs import FrameSpec, write_events, write_log

SIGNAL_TABLE_COLUMNS = (
    "blinks",
    "blinks_per_min",
    "mean_ear_left",
    "mean_ear_right",
    "sd_pose_Rx_deg",
    "sd_pose_Ry_deg",
    "sd_pose_Rz_deg",
    "head_speed_deg_s",
)
OLD_COLUMNS = tuple(c for c in LOG_COLUMNS if c not in (*POSE_COLUMNS, *EYE_COLUMNS))
"""A log written before #33: no pose or eye columns at all."""


def face(yaw_deg: float, ear_left: float, blinks: int, ear_right: float = 0.25, pitch_deg: float = 0.0) -> dict:
    return {
        "pose_Rx": math.radians(pitch_deg),
        "pose_Ry": math.radians(yaw_deg),
        "pose_Rz": 0.0,
        "ear_left": ear_left,
        "ear_right": ear_right,
        "blinks": blinks,
    }


TURNING: list[FrameSpec] = [
    (0, 0.0, [(1, "happy", face(0, 0.3, 0))]),
    (1, 0.5, [(1, "happy", face(10, 0.2, 1))]),
    (2, 1.0, [(1, "happy", face(10, 0.3, 1))]),
    (3, 2.0, [(1, "happy", face(20, 0.3, 3))]),
]
"""Spans 0.5, 0.5, 1.0 and (the median interval) 0.5 s: 2.5 s. Yaw 0, 10, 10, 20 degrees: time-weighted mean 10,
mean square (0 + 50 + 100 + 200) / 2.5 = 140, SD sqrt(40). The head turns 10, 0 and 10 degrees in 0.5, 0.5 and
1.0 s: 20 degrees in 2 s, 10 deg/s. Three blinks (the count rises by 1, then 2) in 2.5 s with the eyes measured:
72 a minute. Left eye (0.3 x 0.5 + 0.2 x 0.5 + 0.3 x 1.0 + 0.3 x 0.5) / 2.5 = 0.28; right 0.25 throughout."""


def table(logs_: list[Path], column: str | None = None, baseline: str | None = None) -> list[dict]:
    entries = [LogEntry(log, log.name, fields={"participant": "p1"}) for log in logs_]
    summaries = [summarize_log(log, windows_for(log, column, None)) for log in logs_]
    summary = build(entries, summaries, baseline)
    for row in summary.rows:
        assert set(row) <= set(summary.columns), set(row) - set(summary.columns)
    return [{**row, "_columns": summary.columns} for row in summary.rows]


def test_blinks_eyes_and_head_movement_by_hand(tmp_path: Path) -> None:
    (row,) = table([write_log(tmp_path / "turning.csv", TURNING)])
    assert row["condition"] == WHOLE_SESSION and row["face_seconds"] == 2.5
    assert row["blinks"] == 3 and row["blinks_per_min"] == 72.0
    assert row["mean_ear_left"] == 0.28 and row["mean_ear_right"] == 0.25
    assert row["sd_pose_Ry_deg"] == round(math.sqrt(40), 6) == 6.324555
    assert row["sd_pose_Rx_deg"] == 0.0 and row["sd_pose_Rz_deg"] == 0.0
    assert row["head_speed_deg_s"] == 10.0
    assert set(SIGNAL_TABLE_COLUMNS) <= set(row["_columns"])


def test_a_frame_without_the_pose_breaks_the_turn_and_the_eyes_time(tmp_path: Path) -> None:
    frames: list[FrameSpec] = [
        (0, 0.0, [(1, "happy", face(0, 0.3, 0))]),
        (1, 0.5, [(1, "happy")]),  # the face, but no landmarks: no pose, no eyes
        (2, 1.0, [(1, "happy", face(30, 0.3, 0))]),
        (3, 1.5, [(1, "happy", face(35, 0.3, 1))]),
    ]
    (row,) = table([write_log(tmp_path / "gap.jsonl", frames)])
    # the only pair of consecutive frames with a pose: 5 degrees in 0.5 s; the 30 degrees across the gap are not a
    # measured movement
    assert row["head_speed_deg_s"] == 10.0
    # eyes measured 1.5 s of the face's 2 s; one blink
    assert row["face_seconds"] == 2.0 and row["blinks"] == 1 and row["blinks_per_min"] == 40.0


def test_the_turn_is_the_rotation_between_orientations_whatever_its_axis() -> None:
    """The angle from two Euler triples equals the angle of R1^T R2 built with OpenFace's R = Rx Ry Rz."""
    from pipeline.processors.head_pose import matrix_from_euler

    rng = np.random.default_rng(5)
    for _ in range(50):
        a, b = rng.uniform(-0.8, 0.8, 3), rng.uniform(-0.8, 0.8, 3)
        relative = matrix_from_euler(*a).T @ matrix_from_euler(*b)
        expected = math.degrees(math.acos(np.clip((np.trace(relative) - 1) / 2, -1, 1)))
        assert turn_deg(quaternion(tuple(a)), quaternion(tuple(b))) == pytest.approx(expected, abs=1e-6)
    assert turn_deg(quaternion((0.0, 0.1, 0.0)), quaternion((0.0, 0.1, 0.0))) == 0.0


def test_blinks_count_in_the_window_where_they_end(tmp_path: Path) -> None:
    frames: list[FrameSpec] = [
        (i, i * 0.5, [(1, "happy", face(0, 0.3, blinks))]) for i, blinks in enumerate([0, 1, 1, 1, 2, 4, 4, 4])
    ]
    log = write_log(tmp_path / "windows.csv", frames)
    write_events(log, [(1.0, "rest"), (2.0, "task")])
    rows = {r["condition"]: r for r in table([log], "trial_type", baseline="rest")}
    # frames at 0.0 and 0.5 s come before the first event: the blink ending at 0.5 s is there
    # rest: 1.0-2.0 s (frames at 1.0 and 1.5): no new blink, 1 s of eyes; task: 2.0-4.0 s, blinks end at 2.0 and 2.5
    assert rows["rest"]["blinks"] == 0 and rows["rest"]["blinks_per_min"] == 0.0
    assert rows["task"]["blinks"] == 3 and rows["task"]["blinks_per_min"] == 3 / 2.0 * 60 == 90.0
    assert rows["task"]["delta_blinks_per_min"] == 90.0
    assert rows["task"]["delta_head_speed_deg_s"] == 0.0 and "delta_mean_ear_left" in rows["task"]["_columns"]


def test_a_blink_count_written_as_a_float_still_counts(tmp_path: Path) -> None:
    """A JSON Lines log exported from a CSV one before read_log typed `blinks` as an integer holds 3.0."""
    log = write_log(tmp_path / "floats.jsonl", TURNING)
    log.write_text(log.read_text().replace('"blinks": 3', '"blinks": 3.0'))
    assert '"blinks": 3.0' in log.read_text()
    (row,) = table([log])
    assert row["blinks"] == 3 and row["blinks_per_min"] == 72.0


def test_read_log_gives_the_blink_count_as_an_integer(tmp_path: Path) -> None:
    from pipeline.io.log_format import read_log

    rows = read_log(write_log(tmp_path / "turning.csv", TURNING))
    assert [row["blinks"] for row in rows] == [0, 1, 1, 3] and all(type(row["blinks"]) is int for row in rows)


def test_logs_without_the_signals_get_no_signal_columns(tmp_path: Path) -> None:
    plain: list[FrameSpec] = [(i, i * 0.1, [(1, "happy")]) for i in range(5)]
    for log in (
        write_log(tmp_path / "old.csv", plain, columns=OLD_COLUMNS),  # from before the columns existed
        write_log(tmp_path / "old.parquet", plain, columns=OLD_COLUMNS),
        write_log(tmp_path / "no_landmarks.csv", plain),  # the columns, empty: a session without landmarks
    ):
        (row,) = table([log], baseline=WHOLE_SESSION)
        assert not set(row["_columns"]) & (ALL_SIGNAL_COLUMNS | {f"delta_{c}" for c in ALL_SIGNAL_COLUMNS})
        assert not set(row) & ALL_SIGNAL_COLUMNS


def test_a_study_mixing_logs_with_and_without_leaves_the_cells_empty(tmp_path: Path) -> None:
    plain: list[FrameSpec] = [(i, i * 0.5, [(1, "happy")]) for i in range(4)]
    with_signals, without = write_log(tmp_path / "a.csv", TURNING), write_log(tmp_path / "b.csv", plain)
    entries = [LogEntry(log, log.name, fields={"participant": log.stem}) for log in (with_signals, without)]
    summaries = [summarize_log(log, windows_for(log, None, None)) for log in (with_signals, without)]
    out = tmp_path / "summary.csv"
    from pipeline.summary.table import write_table

    write_table(build(entries, summaries), out, "csv")
    with out.open(newline="") as handle:
        rows = {row["participant"]: row for row in csv.DictReader(handle)}
    assert rows["a"]["blinks"] == "3" and rows["a"]["head_speed_deg_s"] == "10.0"
    assert all(rows["b"][column] == "" for column in SIGNAL_TABLE_COLUMNS)  # empty, not 0


def test_photos_get_the_eyes_but_no_blinks_or_head_movement(tmp_path: Path) -> None:
    frames: list[FrameSpec] = [(0, 0.0, [(1, "happy", face(0, 0.3, 0))]), (1, 1.0, [(1, "sad", face(30, 0.2, 0))])]
    log = write_log(tmp_path / "photos.csv", frames, stills=True)
    entry = find_logs([log])[0]
    assert entry.stills
    entry.fields["participant"] = "p"
    (row,) = build([entry], [summarize_log(log, windows_for(log, None, None), stills=True)]).rows
    assert row["mean_ear_left"] == 0.25 and row["mean_ear_right"] == 0.25  # one image, one weight
    assert "head_speed_deg_s" not in row and "blinks_per_min" not in row


def random_signal_frames(n: int, seed: int = 11) -> list[FrameSpec]:
    rng = random.Random(seed)
    frames, time_s, frame, blinks = [], 0.0, 0, {1: 0, 2: 0}
    for _ in range(n):
        faces: list = []
        for face_id in (1, 2):
            if rng.random() < 0.2:
                continue
            if rng.random() < 0.1:
                faces.append((face_id, "happy"))  # no landmarks this frame
                continue
            blinks[face_id] += rng.random() < 0.05
            signals = face(rng.uniform(-30, 30), round(rng.uniform(0.1, 0.35), 4), blinks[face_id])
            signals["pose_Rx"] = round(rng.uniform(-0.3, 0.3), 4)
            signals["pose_Ry"] = round(signals["pose_Ry"], 4)  # as the log rounds them
            faces.append((face_id, rng.choice(["happy", "sad", "unclear"]), signals))
        frames.append((frame, round(time_s, 4), faces))
        time_s += rng.choice([0.033, 0.034, 0.05, 0.1])
        frame += rng.choice([1, 1, 1, 2])
    return frames


def test_csv_jsonl_and_parquet_give_the_same_signal_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "BLOCK_BYTES", 4096)  # many blocks, cut at different rows in each format
    monkeypatch.setattr(logs, "BLOCK_ROWS", 97)
    frames = random_signal_frames(2000)
    tables = []
    for suffix in (".csv", ".jsonl", ".parquet"):
        log = write_log(tmp_path / f"study{suffix}", frames)
        write_events(log, [(10.0, "a"), (25.5, "b"), (40.0, "a")])
        rows = table([log], "trial_type", baseline="a")
        tables.append([{k: repr(v) for k, v in row.items() if k != "log"} for row in rows])
    assert len(tables[0]) == 6
    assert all(math.isfinite(float(row["head_speed_deg_s"])) for row in tables[0])
    assert tables[0] == tables[1] == tables[2]


ROLL_STEP_DEG = 2.0
FPS = 10.0


def test_a_video_analysed_with_the_mesh_summarises_its_head_turn(tmp_path: Path) -> None:
    """Grace Hopper's portrait turned 2 degrees further in the image plane every frame at 10 fps: the head rolls at
    20 deg/s, its roll over 0..30 degrees has an SD of 2 sqrt((16^2 - 1) / 12) = 9.22 degrees, and she never blinks."""
    import cv2

    from pipeline.core.paths import installed_models_dir
    from tests.cli_run import fertui
    from tests.media import portrait, write_video

    canvas = cv2.resize(portrait("hopper"), (256, 300))
    frames = []
    for index in range(16):
        turn = cv2.getRotationMatrix2D((128, 150), -ROLL_STEP_DEG * index, 1.0)  # clockwise: positive roll
        frames.append(cv2.warpAffine(canvas, turn, (256, 300), borderMode=cv2.BORDER_REPLICATE))
    video = write_video(tmp_path / "turning.avi", frames, fps=FPS)
    log = tmp_path / "turning.jsonl"
    models = str(installed_models_dir())
    done = fertui("analyze", str(video), "--out", str(log), "--landmarks", "mesh", "--models", models)
    assert done.returncode == 0, done.stderr[-2000:]
    done = fertui("summarize", str(log), "--out", str(tmp_path / "summary.csv"))
    assert done.returncode == 0, done.stderr[-2000:]
    with (tmp_path / "summary.csv").open(newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["face_id"] == "1" and float(row["face_share"]) == 1.0
    assert float(row["sd_pose_Rz_deg"]) == pytest.approx(2 * math.sqrt((16**2 - 1) / 12), abs=1.0)
    # measured 9.33 and 21.1: the mesh's frame-to-frame jitter adds a little turning of its own
    assert float(row["head_speed_deg_s"]) == pytest.approx(ROLL_STEP_DEG * FPS, rel=0.15)
    assert float(row["sd_pose_Ry_deg"]) < 3.0 and float(row["sd_pose_Rx_deg"]) < 3.0  # no turn or nod
    assert row["blinks"] == "0" and float(row["blinks_per_min"]) == 0.0  # measured, and none: a real zero
    assert 0.15 < float(row["mean_ear_left"]) < 0.45 and 0.15 < float(row["mean_ear_right"]) < 0.45
