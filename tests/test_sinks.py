"""The session log: CSV and JSON Lines that parse, no-face rows, owner-only files, honest metadata."""

from __future__ import annotations

import csv
import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from pipeline.core.frames import LOG_COLUMNS, Face, Frame, FrameResult, result_rows
from pipeline.core.labels import EMOTIONS
from pipeline.io.log_format import read_log, summarize_rows
from pipeline.io.sinks import SessionLog, SinkError


def result(index: int, faces: tuple[Face, ...] = ()) -> FrameResult:
    frame = Frame(index, index / 10, 1_700_000_000.0 + index / 10, np.zeros((8, 8, 3), np.uint8), "clip.avi")
    return FrameResult(frame, faces)


def face(face_id: int, top: int, label: str | None = None) -> Face:
    probs = np.full(len(EMOTIONS), 0.02, np.float32)
    probs[top] = 1.0 - 0.02 * (len(EMOTIONS) - 1)
    return Face(
        box=(10.0 * face_id, 20.0, 30.0, 40.0),
        score=0.99,
        face_id=face_id,
        probs=probs,
        smoothed=probs,
        label=label or EMOTIONS[top],
        confidence=float(probs[top]),
    )


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_log_rows_parse_and_match_results(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"session.{fmt}"
    with SessionLog(path, fmt, {"source": {"source": "clip.avi"}}) as log:
        log.write(result(0, (face(1, 3), face(2, 6))))
        log.write(result(1))
        log.write(result(2, (face(1, 3),)))
    rows = read_log(path)
    assert len(rows) == log.rows_written == 4
    assert [r["frame"] for r in rows] == [0, 0, 1, 2]
    assert [r["face_id"] for r in rows] == [1, 2, None, 1]
    assert rows[2]["emotion"] is None and rows[2]["source"] == "clip.avi"
    assert sum(rows[0][e] for e in EMOTIONS) == pytest.approx(1.0, abs=1e-4)
    assert rows[1]["emotion"] == "neutral"
    if fmt == "csv":
        with path.open(newline="") as handle:
            assert tuple(next(csv.reader(handle))) == LOG_COLUMNS
    else:
        assert all(set(json.loads(line)) == set(LOG_COLUMNS) for line in path.read_text().splitlines())


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_with_landmarks_the_68_points_follow_as_x_and_y_columns(tmp_path: Path, fmt: str) -> None:
    points = np.stack([np.arange(68) * 1.25, 100 + np.arange(68) * 0.5], axis=1).astype(np.float32)
    path = tmp_path / f"landmarks.{fmt}"
    with SessionLog(path, fmt, {}, landmarks=True) as log:
        log.write(result(0, (face(1, 3).replace(landmarks=points), face(2, 6))))  # face 2: no points found
        log.write(result(1))
    rows = read_log(path)
    columns = (*LOG_COLUMNS, *(f"x_{i}" for i in range(68)), *(f"y_{i}" for i in range(68)))
    assert all(tuple(row) == columns for row in rows)
    assert [rows[0][f"x_{i}"] for i in (0, 1, 67)] == [0.0, 1.2, 83.8]  # rounded to 0.1 px
    assert [rows[0][f"y_{i}"] for i in (0, 67)] == [100.0, 133.5]
    assert all(rows[r][f"x_{i}"] is None for r in (1, 2) for i in range(68))  # no points, no face
    assert json.loads(Path(f"{path}.meta.json").read_text())["columns"] == list(columns)


def test_rows_are_on_disk_after_each_write(tmp_path: Path) -> None:
    path = tmp_path / "live.csv"
    log = SessionLog(path, "csv", {})
    log.write(result(0, (face(1, 3),)))
    assert len(read_log(path)) == 1, "a row must be readable before the log is closed"
    log.write(result(1))
    assert len(read_log(path)) == 2
    log.close()


def test_files_and_new_folders_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "new" / "deeper" / "session.csv"
    with SessionLog(path, "csv", {}) as log:
        log.write(result(0))
    for file in (path, log.meta_path):
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert not list(path.parent.glob(".*.tmp")), "the atomic metadata write leaves no temporary file"


def test_metadata_at_start_says_not_closed_and_at_end_says_complete(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    log = SessionLog(path, "csv", {"source": {"source": "demo"}, "processors": [{"name": "detection"}]})
    during = json.loads(log.meta_path.read_text())
    assert during["interrupted"] is True and during["ended"] is None
    log.write(result(0, (face(1, 3),)))
    log.close()
    meta = json.loads(log.meta_path.read_text())
    assert meta["interrupted"] is False and meta["reason"] is None
    assert meta["frames"] == 1 and meta["rows"] == 1
    assert meta["source"] == {"source": "demo"} and meta["processors"] == [{"name": "detection"}]
    assert meta["columns"] == list(LOG_COLUMNS) and meta["fertui_version"]
    assert meta["started"] <= meta["ended"]


def test_close_with_a_reason_marks_the_session_interrupted(tmp_path: Path) -> None:
    log = SessionLog(tmp_path / "s.jsonl", "jsonl", {})
    log.write(result(0))
    log.close("interrupted by SIGTERM")
    log.close("a second close changes nothing")
    log.update_metadata(run={"dropped": 0})
    meta = json.loads(log.meta_path.read_text())
    assert meta["interrupted"] is True and meta["reason"] == "interrupted by SIGTERM"
    assert meta["run"] == {"dropped": 0}


def test_writes_after_close_or_while_not_recording_are_ignored(tmp_path: Path) -> None:
    log = SessionLog(tmp_path / "s.csv", "csv", {})
    log.recording = False
    log.write(result(0))
    log.recording = True
    log.write(result(1))
    log.close()
    log.write(result(2))
    assert [r["frame"] for r in read_log(log.path)] == [1]


def test_existing_log_is_not_overwritten_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("precious\n")
    with pytest.raises(SinkError, match="already exists"):
        SessionLog(path, "csv", {})
    assert path.read_text() == "precious\n"
    SessionLog(path, "csv", {}, overwrite=True).close()
    assert path.read_text().startswith("frame,")


def test_unwritable_location_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(SinkError, match="is a folder"):
        SessionLog(tmp_path, "csv", {})
    (tmp_path / "file").write_text("x")
    with pytest.raises(SinkError, match="not a folder"):
        SessionLog(tmp_path / "file" / "s.csv", "csv", {})
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(SinkError, match="permission denied"):
            SessionLog(locked / "s.csv", "csv", {})


def test_full_disk_stops_recording_and_keeps_rows_valid(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full to simulate a full disk")
    log = SessionLog(tmp_path / "s.csv", "csv", {})
    log.write(result(0, (face(1, 3),)))
    os.dup2(os.open("/dev/full", os.O_WRONLY), log._fd)  # the disk fills up under the running session
    log.write(result(1, (face(1, 3),)))
    assert log.recording is False and "recording stopped" in (log.write_error or "")
    log.close()
    meta = json.loads(log.meta_path.read_text())
    assert meta["rows"] == 1 and "recording stopped" in meta["write_error"]


def test_summary_gives_each_face_its_share_of_time() -> None:
    rows = []
    for index in range(10):
        faces = (face(1, 3 if index < 7 else 4), face(2, 6, label="unclear"))
        rows.extend(result_rows(result(index, faces)))
    rows.extend(result_rows(result(10)))
    summary = summarize_rows(rows)
    assert set(summary) == {1, 2}
    assert summary[1]["frames"] == 10
    assert summary[1]["share"] == {"happy": pytest.approx(0.7), "sad": pytest.approx(0.3)}
    assert summary[2]["share"] == {"unclear": 1.0}


def test_a_second_writer_on_one_path_is_refused_and_the_first_log_stays_whole(tmp_path: Path, monkeypatch) -> None:
    # Two sessions both pass check_writable before either creates the file (the race of
    # `for f in p*/session.mp4; do fertui analyze "$f" --out same.csv & done`): opening the log decides.
    import pipeline.io.sinks as sinks

    path = tmp_path / "shared.csv"
    monkeypatch.setattr(sinks, "check_writable", lambda p, *, overwrite=False: Path(p))
    first = SessionLog(path, "csv", {"source": "first"})
    first.write(result(0, (face(1, 3),)))
    with pytest.raises(SinkError, match=r"shared\.csv already exists; choose another --out or pass --overwrite"):
        SessionLog(path, "csv", {"source": "second"})
    first.write(result(1, (face(1, 3),)))
    first.close()
    assert [row["frame"] for row in read_log(path)] == [0, 1], "the first log was not truncated nor interleaved"
    meta = json.loads(first.meta_path.read_text())
    assert meta["source"] == "first" and meta["interrupted"] is False


def test_overwrite_still_replaces_an_existing_log(tmp_path: Path) -> None:
    path = tmp_path / "again.csv"
    with SessionLog(path, "csv", {}) as log:
        log.write(result(0))
        log.write(result(1))
    with SessionLog(path, "csv", {}, overwrite=True) as log:
        log.write(result(0))
    assert len(read_log(path)) == 1


def test_atomic_writes_use_a_temporary_name_of_their_own(tmp_path: Path, monkeypatch) -> None:
    import pipeline.core.files as files

    seen: list[str] = []
    real_replace = os.replace
    monkeypatch.setattr(files.os, "replace", lambda src, dst: (seen.append(os.fspath(src)), real_replace(src, dst)))
    target = tmp_path / "meta.json"
    files.write_private_atomic(target, b"one")
    files.write_private_atomic(target, b"two")
    assert len(set(seen)) == 2 and all(str(os.getpid()) in name for name in seen)
    assert target.read_bytes() == b"two" and not list(tmp_path.glob(".*.tmp"))


def test_default_log_names_of_two_processes_in_one_second_differ(tmp_path: Path) -> None:
    from pipeline.io.sinks import default_log_path

    name = default_log_path("demo", "csv", tmp_path).name
    assert name.startswith("fertui-demo-") and name.endswith(f"-{os.getpid()}.csv")


def test_photo_summaries_count_a_face_per_image_not_per_id(tmp_path: Path) -> None:
    from pipeline.io.log_format import is_photo_log
    from pipeline.summary.report import render_report

    def photo(index: int, name: str, faces: tuple[Face, ...]) -> FrameResult:
        frame = Frame(index, float(index), 1_700_000_000.0, np.zeros((8, 8, 3), np.uint8), name)
        return FrameResult(frame, faces)

    path = tmp_path / "photos.csv"
    with SessionLog(path, "csv", {}, per_image=True) as log:
        log.write(photo(0, "a.jpg", (face(1, 3), face(2, 4))))
        log.write(photo(1, "b.jpg", (face(1, 0),)))
    assert list(log.summary()) == [("a.jpg", 1), ("a.jpg", 2), ("b.jpg", 1)]
    rows = read_log(path)
    assert is_photo_log(rows)
    assert summarize_rows(rows, per_image=True) == log.summary()
    drawn = render_report(rows, tmp_path / "photos.png")
    assert drawn["per_image"] and drawn["faces_total"] == 3 and drawn["faces"] == list(log.summary())


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_log_cut_mid_row_reads_without_its_last_row(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"cut.{fmt}"
    with SessionLog(path, fmt, {}) as log:
        for index in range(3):
            log.write(result(index, (face(1, 3),)))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 25])  # the writer was killed inside the last row
    assert [row["frame"] for row in read_log(path)] == [0, 1]
