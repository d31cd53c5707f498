"""The pieces of `fertui batch` on real files: finding inputs, naming their logs, the shard split, the manifest,
the skip decision, and Parquet logs read back. The command itself runs end to end in test_batch_cli.py."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.batch.inputs import BatchInput, expand, expected_frames, name_inputs, parse_shard, shard
from pipeline.batch.manifest import MANIFEST_COLUMNS, Manifest
from pipeline.batch.task import BatchSettings, TaskSummary, completed, run_task
from pipeline.core.errors import UsageError
from pipeline.core.frames import LANDMARK_COLUMNS, LOG_COLUMNS, Face, Frame, FrameResult
from pipeline.io.log_format import read_log
from pipeline.io.sinks import SessionLog
from tests.media import moving_portrait_frames, write_video


@pytest.fixture
def study(tmp_path: Path, hopper: np.ndarray) -> Path:
    """study/p01/{a.mp4, notes.txt}, study/p02/{a.mp4, photos/x.jpg}, a hidden folder and an empty one."""
    frames, _ = moving_portrait_frames(n_frames=6, absent=range(0))
    root = tmp_path / "study"
    for folder in ("p01", "p02/photos", ".cache", "empty"):
        (root / folder).mkdir(parents=True)
    write_video(root / "p01" / "a.mp4", frames)
    write_video(root / "p02" / "a.mp4", frames[:4])
    write_video(root / ".cache" / "hidden.mp4", frames)
    (root / "p01" / "notes.txt").write_text("not an input")
    cv2.imwrite(str(root / "p02" / "photos" / "x.jpg"), hopper)
    return root


def test_a_folder_gives_its_videos_and_photo_folders_named_without_collisions(study: Path) -> None:
    inputs = name_inputs(expand([str(study)]))
    assert [i.name for i in inputs] == ["p01/a.mp4", "p02/a.mp4", "p02/photos"]
    assert [i.log_name("csv") for i in inputs] == ["p01/a.mp4.csv", "p02/a.mp4.csv", "p02/photos.csv"]
    assert len({i.key for i in inputs}) == 3
    assert [expected_frames(i) for i in inputs] == [6, 4, 1]


def test_a_list_file_names_paths_relative_to_itself_and_each_input_once(study: Path, tmp_path: Path) -> None:
    listing = study / "inputs.txt"
    listing.write_text("# the study\np01/a.mp4\n\n  p02  \np01/a.mp4\n")
    inputs = name_inputs(expand([f"@{listing}", str(study / "p01" / "a.mp4")]))
    assert [i.name for i in inputs] == ["p01/a.mp4", "p02/a.mp4", "p02/photos"]
    with pytest.raises(UsageError, match="cannot read the input list"):
        expand([f"@{tmp_path / 'missing.txt'}"])


def test_a_named_file_is_an_input_whatever_it_is(study: Path) -> None:
    inputs = name_inputs(expand([str(study / "p01" / "notes.txt"), str(study / "gone.mp4")]))
    assert [i.name for i in inputs] == ["gone.mp4", "p01/notes.txt"]


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_the_shards_cover_every_input_exactly_once(count: int, tmp_path: Path) -> None:
    inputs = [BatchInput(tmp_path / f"v{i:02d}.mp4", f"v{i:02d}.mp4") for i in range(17)]
    parts = [shard(list(reversed(inputs)), index, count) for index in range(1, count + 1)]
    names = [item.name for part in parts for item in part]
    assert sorted(names) == sorted(i.name for i in inputs)
    assert len(names) == len(set(names))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "1/0"])
def test_a_bad_shard_is_one_line(text: str) -> None:
    with pytest.raises(UsageError, match="--shard must be I/N"):
        parse_shard(text)


def test_the_manifest_keeps_other_rows_and_rewrites_on_each_record(tmp_path: Path) -> None:
    path = tmp_path / "manifest.csv"
    manifest = Manifest(path)
    manifest.record(TaskSummary("b.mp4", "failed", error="b.mp4: not an image or a video that can be read"))
    manifest.record(TaskSummary("a.mp4", "done", "a.mp4.csv", frames=20, rows=22, faces=2, seconds=4.0, attempts=1))
    again = Manifest(path)
    assert list(again.rows) == ["a.mp4", "b.mp4"]
    assert again.rows["a.mp4"]["fps"] == "5.00" and again.status("b.mp4") == "failed"
    header = path.read_text().splitlines()[0].split(",")
    assert tuple(header) == MANIFEST_COLUMNS


def _result(index: int, landmarks: np.ndarray | None) -> FrameResult:
    frame = Frame(index, index / 10, 1.7e9 + index, np.zeros((4, 4, 3), np.uint8), "clip.mp4")
    probs = np.array([0.1, 0.0, 0.0, 0.6, 0.1, 0.1, 0.1])
    face = Face(
        (1.0, 2.0, 30.0, 40.0), 0.99, landmarks=landmarks, face_id=1, probs=probs, smoothed=probs, label="happy"
    )
    return FrameResult(frame, (face.replace(confidence=0.6),) if index % 2 == 0 else ())


def test_a_parquet_log_reads_back_as_the_csv_log_does(tmp_path: Path) -> None:
    landmarks = np.arange(136, dtype=np.float64).reshape(68, 2)
    logs = {}
    for fmt in ("csv", "parquet"):
        with SessionLog(tmp_path / f"log.{fmt}", fmt, {}, landmarks=True) as log:
            for index in range(5000):  # more than one row group
                log.write(_result(index, landmarks))
        logs[fmt] = read_log(tmp_path / f"log.{fmt}")
    assert len(logs["parquet"]) == 5000
    assert logs["parquet"] == logs["csv"]
    assert list(logs["parquet"][0]) == [*LOG_COLUMNS, *LANDMARK_COLUMNS]
    assert logs["parquet"][1]["face_id"] is None and logs["parquet"][0]["y_67"] == 135.0


def test_an_earlier_log_stands_only_with_the_same_fingerprint(tmp_path: Path, tiny_models_dir: Path) -> None:
    frames, _ = moving_portrait_frames(n_frames=5, absent=range(0))
    video = write_video(tmp_path / "clip.avi", frames)
    item = BatchInput(video, "clip.avi")
    settings = BatchSettings(out_dir=str(tmp_path / "out"), models_dir=str(tiny_models_dir))
    summary = run_task(item, settings)
    assert (summary.status, summary.frames, summary.rows, summary.attempts) == ("done", 5, 5, 1)
    assert not [p for p in (tmp_path / "out" / ".partial").iterdir()], "nothing left behind"
    meta = json.loads((tmp_path / "out" / "clip.avi.csv.meta.json").read_text())
    assert meta["log"] == "clip.avi.csv" and meta["interrupted"] is False and meta["command"] == "batch"

    assert completed(item, settings, settings.fingerprint(item)) is not None
    other = BatchSettings(**{**settings.__dict__, "min_face": 40})
    assert completed(item, other, other.fingerprint(item)) is None, "other settings: redo"
    assert "jitter_crops" not in settings.fingerprint(item)["settings"], "a default leaves earlier logs standing"
    fewer = BatchSettings(**{**settings.__dict__, "jitter_crops": 1})
    assert completed(item, fewer, fewer.fingerprint(item)) is None, "another crop count: redo"
    assert run_task(item, fewer).status == "done"
    meta = json.loads((tmp_path / "out" / "clip.avi.csv.meta.json").read_text())
    assert meta["processors"][-1]["jitter_crops"] == 1 and meta["config"]["jitter_crops"] == 1
    write_video(video, frames[:4])
    assert completed(item, settings, settings.fingerprint(item)) is None, "a changed input: redo"
