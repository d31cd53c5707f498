"""A live source that is lost and comes back: retried with backoff, the gap logged, the status says "lost"."""

from __future__ import annotations

import json
import time

import numpy as np

from pipeline.commands.analyze import input_notes as _input_notes
from pipeline.core.frames import Face, Frame, FrameResult
from pipeline.engine.runner import DropPolicy, Runner
from pipeline.io.log_format import read_log
from pipeline.io.sinks import SessionLog
from pipeline.io.sources import LOST_SOURCE_NAME, FrameSource, SourceLost
from pipeline.processors.base import Processor
from pipeline.processors.tracking import TrackingProcessor

FPS = 20.0
LOST_FOR_S = 0.8


class UnpluggedCamera(FrameSource):
    """A 20 fps live source that is unplugged after `lost_after` frames and plugged back in `LOST_FOR_S` later."""

    live = True
    name = "camera (test)"

    def __init__(self, n: int, lost_after: int) -> None:
        super().__init__()
        self.n, self.lost_after = n, lost_after
        self.unplugged_at: float | None = None
        self.reopen_attempts = 0

    def _open(self) -> None:
        if self.unplugged_at is not None and time.monotonic() - self.unplugged_at < LOST_FOR_S:
            self.reopen_attempts += 1
            raise SourceLost("camera (test) is still unplugged")

    def _next(self) -> Frame | None:
        if self.frames_read >= self.n:
            return None
        time.sleep(1.0 / FPS)
        if self.frames_read == self.lost_after and self.unplugged_at is None:
            self.unplugged_at = time.monotonic()
            raise SourceLost("camera (test) stopped delivering frames")
        frame = Frame(self._index, self._since_open(), time.time(), np.zeros((8, 8, 3), np.uint8))
        self._index += 1
        return frame


class OneFace(Processor):
    """Finds one fixed face in every real frame (the runner, not detection, is under test here)."""

    name = "one_face"

    def process(self, result: FrameResult) -> FrameResult:
        return result.replace(faces=(Face(box=(1.0, 1.0, 4.0, 4.0), score=1.0),))


def test_a_lost_camera_is_retried_and_the_gap_is_logged(tmp_path) -> None:
    source = UnpluggedCamera(n=30, lost_after=10)
    log = SessionLog(tmp_path / "session.csv", "csv", {"source": {"source": source.name}})
    # BLOCK, not the live default: on a loaded machine a dropped frame would blur the counts checked below
    runner = Runner(source, [OneFace(), TrackingProcessor()], [log], drop_policy=DropPolicy.BLOCK)
    runner.start()
    deadline = time.monotonic() + 10
    while runner.stats().source_state != "lost" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert runner.stats().source_state == "lost", "the status line can say the camera is lost"

    def events_on_disk() -> list[str]:
        return [e["event"] for e in json.loads(log.meta_path.read_text()).get("events", [])]

    while not events_on_disk() and time.monotonic() < deadline + 20:  # a generous ceiling, not a duration
        time.sleep(0.02)
    assert events_on_disk()[0] == "source_lost", "on disk during the gap, before close"
    assert not log.closed
    assert runner.wait(15)
    runner.stop(reason=None)
    stats = runner.stats()
    assert stats.source_state == "ended" and stats.error is None
    assert source.reopen_attempts >= 2, "retried with backoff until it came back"

    rows = read_log(log.path)
    meta = json.loads(log.meta_path.read_text())
    assert [e["event"] for e in meta["events"]] == ["source_lost", "source_restored"]
    assert meta["interrupted"] is False and meta["rows"] == len(rows)
    frames = [r["frame"] for r in rows]
    assert frames == list(range(len(rows))), "one row per frame, the gap numbered like frames"
    times = [r["time_s"] for r in rows]
    assert times == sorted(times), "the session clock carries on across the gap"
    gap = [r for r in rows if r["source"] == LOST_SOURCE_NAME]
    assert all(r["face_id"] is None and r["emotion"] is None for r in gap), "the gap: frames with no face"
    assert len(gap) == stats.gap_frames
    assert 0.5 * LOST_FOR_S * FPS <= len(gap) <= 2.0 * LOST_FOR_S * FPS, "about one row per frame interval"
    first_gap, last_gap = rows.index(gap[0]), rows.index(gap[-1])
    assert [r["frame"] for r in rows[first_gap : last_gap + 1]] == [r["frame"] for r in gap], "one stretch"
    assert first_gap == 10 and all(r["face_id"] == 1 for r in rows[:first_gap])
    after = rows[last_gap + 1 :]
    assert len(after) == 20 and all(r["face_id"] is not None for r in after), "the session resumes"
    assert after[0]["time_s"] - rows[first_gap - 1]["time_s"] >= LOST_FOR_S * 0.9
    (note,) = _input_notes(source, stats)  # what `fertui analyze` prints at the end
    assert f"lost 1 time(s); the gaps are in the log ({len(gap)} rows with no face" in note
