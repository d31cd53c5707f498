"""The runner's threads, queue and drop policy, with small real sources, processors and sinks."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from pipeline.core.frames import Face, Frame, FrameResult
from pipeline.engine.runner import DropPolicy, Runner
from pipeline.io.sources import DemoSource, FrameSource, SourceLost, open_source
from pipeline.processors.base import Processor


class CountingSource(FrameSource):
    """`n` small frames whose first pixel encodes the index; `delay_s` between reads."""

    def __init__(self, n: int, *, live: bool = False, delay_s: float = 0.0, lost_at: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.n, self.live, self.delay_s = n, live, delay_s
        self.name = "counting"
        self.lost_at = set(lost_at)
        self.failed_reopens = 0
        self._index = 0

    def _open(self) -> None:
        pass

    def reopen(self) -> None:
        if self.failed_reopens < 2:
            self.failed_reopens += 1
            raise SourceLost("still unplugged")

    def _next(self) -> Frame | None:
        if self.frames_read >= self.n:
            return None
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.frames_read in self.lost_at:
            self.lost_at.discard(self.frames_read)
            raise SourceLost("camera unplugged")
        image = np.zeros((4, 4, 3), np.uint8)
        image[0, 0, 0] = self._index % 256
        frame = Frame(self._index, self._index / 30, time.time(), image)
        self._index += 1
        return frame


class BoxFinder(Processor):
    """Adds one face whose box encodes the frame index; optionally slow or failing."""

    name = "boxes"

    def __init__(self, delay_s: float = 0.0, fail_at: int | None = None) -> None:
        self.delay_s, self.fail_at = delay_s, fail_at
        self.setup_thread: str | None = None
        self.closed = False

    def setup(self) -> None:
        self.setup_thread = threading.current_thread().name

    def process(self, result: FrameResult) -> FrameResult:
        if result.frame.index == self.fail_at:
            raise ValueError("this stage broke")
        if self.delay_s:
            time.sleep(self.delay_s)
        index = float(result.frame.image[0, 0, 0])
        return result.replace(faces=(Face(box=(index, 0.0, 1.0, 1.0), score=1.0),))

    def close(self) -> None:
        self.closed = True


class ListSink:
    def __init__(self) -> None:
        self.results: list[FrameResult] = []
        self.closed_with: list[str | None] = []

    def write(self, result: FrameResult) -> None:
        self.results.append(result)

    def close(self, reason: str | None = None) -> None:
        self.closed_with.append(reason)


def test_file_source_blocks_and_processes_every_frame_in_order() -> None:
    sink, finder = ListSink(), BoxFinder(delay_s=0.002)
    runner = Runner(CountingSource(40), [finder], [sink], queue_size=2)
    assert runner.drop_policy is DropPolicy.BLOCK
    runner.start()
    assert runner.wait(10)
    runner.stop(reason=None)
    stats = runner.stats()
    assert [r.frame.index for r in sink.results] == list(range(40))
    assert [r.faces[0].box[0] for r in sink.results] == [float(i) for i in range(40)]
    assert stats.frames_processed == stats.frames_captured == 40 and stats.dropped == 0
    assert stats.source_state == "ended" and stats.error is None
    assert sink.closed_with == [None], "a source that ended is a complete session"
    assert finder.setup_thread == "fertui-processing" and finder.closed
    assert set(sink.results[0].timings_ms) == {"boxes"} and stats.stage_ms["boxes"] >= 2.0
    assert stats.latency_ms_p50 is not None and stats.latency_ms_p95 >= stats.latency_ms_p50
    assert runner.latest() is sink.results[-1]


def test_live_source_drops_the_oldest_and_counts_it() -> None:
    sink = ListSink()
    runner = Runner(CountingSource(60, live=True, delay_s=0.002), [BoxFinder(delay_s=0.03)], [sink], queue_size=2)
    assert runner.drop_policy is DropPolicy.DROP_OLDEST
    runner.start()
    assert runner.wait(15)
    runner.stop(reason=None)
    stats = runner.stats()
    indices = [r.frame.index for r in sink.results]
    assert stats.dropped > 0
    assert indices == sorted(indices), "results stay in capture order"
    assert stats.frames_processed + stats.dropped == stats.frames_captured == 60
    assert indices[-1] == 59, "the newest frame is kept, not dropped"


def test_stop_is_prompt_and_closes_the_sinks_with_the_reason() -> None:
    sink, finder = ListSink(), BoxFinder()
    runner = Runner(DemoSource(live=True, fps=30), [finder], [sink])
    runner.start()
    deadline = time.monotonic() + 10
    while runner.stats().frames_processed < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    runner.stop(timeout=2.0, reason="interrupted by SIGTERM")
    assert runner.done and runner.wait(0), "stop() returns once both threads ended, not before"
    assert sink.closed_with == ["interrupted by SIGTERM"] and finder.closed
    assert runner.stats().frames_processed >= 3


def test_an_error_in_a_stage_ends_the_run_with_the_reason() -> None:
    sink, finder = ListSink(), BoxFinder(fail_at=5)
    runner = Runner(CountingSource(100), [finder], [sink])
    runner.start()
    assert runner.wait(10), "a failing stage must end the run, never hang it"
    error = runner.stats().error
    assert error is not None and "boxes" in error and "this stage broke" in error
    assert [r.frame.index for r in sink.results] == [0, 1, 2, 3, 4]
    assert sink.closed_with == [error] and finder.closed
    runner.stop()
    assert sink.closed_with == [error], "sinks close once"


def test_a_stuck_stage_does_not_keep_the_log_open() -> None:
    entered, release = threading.Event(), threading.Event()

    class StuckStage(BoxFinder):
        def process(self, result: FrameResult) -> FrameResult:
            entered.set()
            release.wait()
            return super().process(result)

    sink = ListSink()
    runner = Runner(CountingSource(10), [StuckStage()], [sink])
    runner.start()
    assert entered.wait(30), "the stage never started"
    try:
        runner.stop(timeout=0.5, reason="interrupted by SIGINT")  # returns while the stage is still stuck
        assert not release.is_set() and not runner.done
        assert sink.closed_with == ["interrupted by SIGINT"]
    finally:
        release.set()
    assert runner.wait(30) and sink.closed_with == ["interrupted by SIGINT"], "closed once"


def test_latest_is_a_one_slot_mailbox() -> None:
    runner = Runner(CountingSource(25), [BoxFinder()], [])
    assert runner.latest() is None
    runner.start()
    assert runner.wait(10)
    runner.stop(reason=None)
    latest = runner.latest()
    assert latest is not None and latest.frame.index == 24


def test_pausing_a_file_source_skips_nothing() -> None:
    sink = ListSink()
    runner = Runner(CountingSource(30, delay_s=0.002), [BoxFinder()], [sink], queue_size=2)
    runner.set_paused(True)
    runner.start()
    time.sleep(0.3)
    assert runner.paused and runner.stats().frames_processed == 0
    assert runner.stats().frames_captured <= 3, "capture waits for room while paused"
    runner.set_paused(False)
    assert runner.wait(10)
    runner.stop(reason=None)
    assert [r.frame.index for r in sink.results] == list(range(30))


def _wait_until(condition, timeout_s: float = 10.0) -> bool:
    """Poll `condition` until it holds or `timeout_s` passes (a loaded machine may be slow, never wrong)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_pausing_a_live_source_discards_frames_and_counts_them() -> None:
    sink = ListSink()
    runner = Runner(CountingSource(100_000, live=True, delay_s=0.005), [BoxFinder()], [sink])
    runner.start()
    assert _wait_until(lambda: runner.stats().frames_processed >= 5)
    runner.set_paused(True)
    time.sleep(0.05)  # a frame already taken from the queue may still finish
    processed = runner.stats().frames_processed
    assert _wait_until(lambda: runner.stats().paused_skipped > 10)
    assert runner.stats().frames_processed <= processed + 1
    runner.set_paused(False)
    assert _wait_until(lambda: runner.stats().frames_processed > processed + 5)
    runner.stop()


def test_a_lost_live_source_is_retried_until_it_returns() -> None:
    sink = ListSink()
    source = CountingSource(12, live=True, lost_at=(5,))
    runner = Runner(source, [BoxFinder()], [sink])
    runner.start()
    assert runner.wait(10)
    runner.stop(reason=None)
    stats = runner.stats()
    assert [e["event"] for e in stats.events] == ["source_lost", "source_restored"]
    assert source.failed_reopens == 2 and stats.source_state == "ended"
    indices = [r.frame.index for r in sink.results]
    assert indices == sorted(set(indices)), "stand-in frames for the gap continue the numbering"
    assert stats.gap_frames > 0 and len([r for r in sink.results if not r.faces]) == stats.gap_frames
    assert stats.frames_processed + stats.dropped == stats.frames_captured == 12


def test_stand_ins_dropped_during_a_gap_are_not_counted_as_dropped_frames() -> None:
    # A slow stage and a two-slot queue make the stand-ins for the lost source overflow the queue.
    sink = ListSink()
    source = CountingSource(12, live=True, lost_at=(5,))
    runner = Runner(source, [BoxFinder(delay_s=0.2)], [sink], queue_size=2)
    runner.start()
    assert runner.wait(20)
    runner.stop(reason=None)
    stats = runner.stats()
    assert stats.frames_captured == 12 and stats.gap_frames > 0
    assert stats.frames_processed + stats.dropped == stats.frames_captured
    assert stats.frames_processed == len([r for r in sink.results if r.faces])


@pytest.mark.parametrize("policy", list(DropPolicy))
def test_drop_policy_can_be_chosen_explicitly(policy: DropPolicy) -> None:
    runner = Runner(CountingSource(5), [BoxFinder()], [], drop_policy=policy)
    assert runner.drop_policy is policy


def test_a_video_played_live_keeps_its_pace_and_drops_what_processing_cannot_take(moving_video) -> None:
    # The 30-frame, 10 fps clip (3 s) played as the live app plays it, through a stage that needs 0.25 s a frame:
    # the run still takes about the clip's length, the frames processed are the current ones, and the rest are
    # counted as dropped. Read unpaced (analyze), every frame is processed and the run takes 30 x 0.25 s.
    path, _ = moving_video
    sink = ListSink()
    runner = Runner(open_source(str(path), live=True), [BoxFinder(delay_s=0.25)], [sink], queue_size=2)
    started = time.monotonic()
    runner.start()
    assert runner.wait(20.0)
    elapsed = time.monotonic() - started
    stats = runner.stats()
    assert runner.drop_policy is DropPolicy.DROP_OLDEST
    assert stats.frames_captured == 30
    assert elapsed >= 2.5, elapsed  # paced: the clip's 3 s of frames cannot arrive sooner
    # ... and processing kept to that pace by dropping, rather than taking each frame's 0.25 s (7.5 s in all)
    assert stats.dropped > 10 and stats.frames_processed + stats.dropped == 30
    indices = [result.frame.index for result in sink.results]
    assert indices == sorted(indices) and indices[-1] >= 27  # it kept up with the video to its end
    assert stats.figures()["dropped"] == stats.dropped


def test_stop_keeps_its_timeout_while_a_sink_write_is_stuck(tmp_path) -> None:
    # The processing thread is stuck inside the log's write (a hung disk), holding the log's lock: stop() must
    # still return, leaving the close to a helper that waits for the write.
    from pipeline.io.sinks import SessionLog

    entered, release = threading.Event(), threading.Event()

    class HungLog(SessionLog):
        def write(self, result: FrameResult) -> None:
            with self._lock:
                entered.set()
                release.wait()

    log = HungLog(tmp_path / "hung.csv", "csv", {})
    runner = Runner(CountingSource(10), [BoxFinder()], [log])
    runner.start()
    assert entered.wait(30), "the write never started"
    stopper = threading.Thread(target=runner.stop, kwargs={"timeout": 0.5, "reason": "interrupted by SIGINT"})
    stopper.start()
    stopper.join(30)  # a generous ceiling; a stop blocked on the log's lock never returns
    try:
        assert not stopper.is_alive(), "stop() waited for the stuck write"
        assert not log.closed and not release.is_set()
    finally:
        release.set()
    stopper.join(30)
    assert runner.wait(30) and log.closed, "once the write returns, the log is closed"


def test_session_histogram_quantiles_are_within_2_percent_of_the_exact_ones() -> None:
    from pipeline.engine.runner import SessionHistogram

    values = np.random.default_rng(0).lognormal(mean=3.0, sigma=1.0, size=20_000)  # ms, a long right tail
    histogram = SessionHistogram()
    for value in values:
        histogram.add(float(value))
    for q in (0.05, 0.5, 0.95, 0.99):
        assert histogram.quantile(q) == pytest.approx(np.percentile(values, 100 * q), rel=0.02)
    assert histogram.quantile(1.0) == pytest.approx(values.max()) and SessionHistogram().quantile(0.5) is None


def test_stage_times_and_latency_cover_the_whole_session_not_the_last_frames() -> None:
    # 40 slow frames (at least 20 ms each) then 60 fast ones: the last 60 frames alone would say ~0 ms.
    class SlowThenFast(BoxFinder):
        def process(self, result: FrameResult) -> FrameResult:
            if result.frame.index < 40:
                time.sleep(0.02)
            return super().process(result)

    runner = Runner(CountingSource(100), [SlowThenFast()], [ListSink()])
    runner.start()
    assert runner.wait(60)
    runner.stop(reason=None)
    stats = runner.stats()
    assert stats.frames_processed == 100
    assert stats.stage_ms["boxes"] >= 0.4 * 20.0 * 0.99, stats.stage_ms
    assert stats.latency_ms_p95 is not None and stats.latency_ms_p95 >= 20.0 * 0.99
