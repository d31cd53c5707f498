"""The live app under stress: a 40x12 terminal resized again and again, and a camera that is lost and returns.

The real app, Runner and SessionLog on the fake source (tests/fakes.py); the log must come out whole.
"""

from __future__ import annotations

import json
import stat
import time

from pipeline.io.log_format import read_log
from pipeline.io.sources import LOST_SOURCE_NAME, SourceLost
from tests.app_helpers import wait_until
from tests.fakes import FakeSource, FixedResultsProcessor
from tui.app import make_app
from tui.config import AppConfig

SIZES = [(40, 12), (120, 40), (41, 13), (200, 60), (40, 12), (12, 5), (80, 24), (40, 12), (160, 50), (40, 12)]


def assert_log_whole(app) -> None:
    meta = json.loads(app.session_log.meta_path.read_text())
    rows = read_log(app.session_log.path)
    assert meta["interrupted"] is False and meta["ended"], meta["reason"]
    assert meta["rows"] == len(rows) == app.session_log.rows_written > 0
    frames = [r["frame"] for r in rows]
    assert frames == sorted(frames), "rows in frame order"
    stats = app.runner.stats()
    assert len(set(frames)) == stats.frames_processed + stats.gap_frames, "every processed frame is in the log"


async def test_a_tiny_terminal_resized_rapidly_keeps_running_and_the_log_whole(tmp_path) -> None:
    app = make_app(
        AppConfig(source="fake", export_dir=tmp_path, log_path=tmp_path / "session.csv"),
        source=FakeSource(),
        processors=[FixedResultsProcessor()],
    )
    async with app.run_test(size=(40, 12)) as pilot:
        await wait_until(pilot, lambda: app.last_view is not None, what="a shown frame at 40x12")
        for _ in range(3):
            for width, height in SIZES:
                await pilot.resize_terminal(width, height)
                await pilot.pause(0.01)
        shown = app.last_view.result.frame.index
        await wait_until(pilot, lambda: app.last_view.result.frame.index > shown + 3, what="frames after resizes")
        assert app.size == (40, 12)
        await pilot.press("q")
    assert app.return_code in (0, None)
    assert_log_whole(app)


class FlakyCamera(FakeSource):
    """The fake camera, unplugged after 15 frames for `lost_for_s` seconds."""

    def __init__(self, lost_for_s: float = 1.0) -> None:
        super().__init__(fps=20.0)
        self.lost_for_s = lost_for_s
        self.unplugged_at: float | None = None

    def _open(self) -> None:
        if self.unplugged_at is None:
            super()._open()
        elif time.monotonic() - self.unplugged_at < self.lost_for_s:
            raise SourceLost("fake camera still unplugged")

    def _next(self):
        if self.frames_read == 15 and self.unplugged_at is None:
            self.unplugged_at = time.monotonic()
            raise SourceLost("fake camera unplugged")
        return super()._next()


async def test_the_status_line_says_the_camera_is_lost_and_the_session_resumes(tmp_path) -> None:
    source = FlakyCamera()
    app = make_app(
        AppConfig(source="fake", export_dir=tmp_path, log_path=tmp_path / "session.csv"),
        source=source,
        processors=[FixedResultsProcessor()],
    )
    status = lambda: str(app.query_one("#status").render())  # noqa: E731
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_until(pilot, lambda: "[lost]" in status(), what="the status line saying lost")
        await wait_until(pilot, lambda: "[running]" in status(), what="the camera back", timeout=15)
        await wait_until(pilot, lambda: app.session_log.frames_written > 40, what="frames after the gap")
        await pilot.press("q")
    assert_log_whole(app)
    rows = read_log(app.session_log.path)
    assert any(r["source"] == LOST_SOURCE_NAME and r["face_id"] is None for r in rows), "the gap is in the log"
    meta = json.loads(app.session_log.meta_path.read_text())
    assert [e["event"] for e in meta["events"]] == ["source_lost", "source_restored"]


async def test_exports_and_snapshots_are_owner_only(tmp_path) -> None:
    exports = tmp_path / "new" / "exports"
    app = make_app(
        AppConfig(source="fake", export_dir=exports, log_path=tmp_path / "session.csv"),
        source=FakeSource(),
        processors=[FixedResultsProcessor()],
    )
    async with app.run_test(size=(100, 32)) as pilot:
        await wait_until(pilot, lambda: app.session_log.frames_written > 3, what="a few frames logged")
        await pilot.press("e")
        await pilot.press("s")
        await wait_until(pilot, lambda: hasattr(app, "last_export") and hasattr(app, "last_snapshot"), what="both")
        await pilot.press("q")
    assert stat.S_IMODE(exports.stat().st_mode) == 0o700
    written = sorted(p.name for p in exports.iterdir())
    assert len(written) == 4, written  # the exported log, its summary and summary table, the snapshot
    for path in [*exports.iterdir(), app.session_log.path, app.session_log.meta_path]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
