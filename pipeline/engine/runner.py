"""The threads: a capture thread reads the source into a bounded queue; a processing thread runs the
processors on each frame and hands every result to the sinks (in order) and to a one-slot mailbox.

Drop policy (see DropPolicy): a live source never waits for processing, so the queue keeps the newest
frames and counts what it drops; a file source blocks the capture thread instead, so nothing is lost.

Pause: processing stops, the view and the log freeze. For a live source the camera keeps streaming and
frames captured while paused are discarded (counted in `paused_skipped`), so resuming shows the present,
not a stale backlog. For a file source nothing is read while paused, so resuming continues exactly where
it stopped and no frame of the recording is skipped.

A lost live source (SourceLost: a camera unplugged) is retried with backoff; `stats().source_state` is
"lost" meanwhile, `source_lost` / `source_restored` events go to the stats and to every sink that takes
events (the session log's metadata, written at once). The gap is logged: at the frame rate the source
had before it was lost, the capture thread queues a stand-in frame (FrameSource.gap_frame) that skips the
processors and reaches the sinks as a frame with no face, so the log's time line has no hole.

Shutdown: one threading.Event. `stop()` sets it and joins both threads with a timeout; the processing
thread closes the processors (it set them up) and the sinks. If a stage is stuck past the timeout the
sinks are closed from the caller, so the log is always closed. An exception in a stage or the source
ends the run with `stats().error` set and the sinks closed with that reason.
"""

from __future__ import annotations

import contextlib
import enum
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, cast

import numpy as np

from pipeline.core.frames import Frame, FrameResult
from pipeline.io.sinks import EventSink, Sink
from pipeline.io.sources import FrameSource, SourceLost
from pipeline.processors.base import Processor

RECENT = 60
"""How many recent frames the fps figures are computed over (the live rate). Latency and stage times are the
whole session's (SessionHistogram, running means), as the sidecar's `run` reports them."""

RETRY_DELAYS_S = (0.1, 0.2, 0.5, 1.0, 2.0)
"""Backoff between attempts to get a lost live source back (the last delay repeats)."""

CLOSE_GRACE_S = 0.2
"""After a stop's timeout, how long the caller still waits for sinks that close at once (a stuck one is left)."""

GAP_FPS_FALLBACK = 10.0
"""Rows per second logged for a gap when the source was lost before its frame rate could be measured."""


SourceState = Literal["running", "lost", "ended"]
"""The source as the status line shows it: delivering frames, lost (a live source being retried), or ended."""


class DropPolicy(enum.Enum):
    DROP_OLDEST = "drop_oldest"  # live: keep the newest frames, count the drops
    BLOCK = "block"  # files: the capture thread waits for room, nothing is dropped


class SessionHistogram:
    """Quantiles of a whole session's values (ms) in fixed memory: counts in bins 2% wide on a log scale from
    0.01 ms to about 3 hours, so a quantile is within 1% of the exact one (and exact at the extremes)."""

    LOW_MS = 0.01
    RATIO = 1.02
    BINS = 1200

    def __init__(self) -> None:
        self.counts = np.zeros(self.BINS, dtype=np.int64)
        self.n = 0
        self.low = math.inf
        self.high = -math.inf

    def add(self, value_ms: float) -> None:
        ratio = max(value_ms, self.LOW_MS) / self.LOW_MS
        self.counts[min(self.BINS - 1, int(math.log(ratio) / math.log(self.RATIO)))] += 1
        self.n += 1
        self.low, self.high = min(self.low, value_ms), max(self.high, value_ms)

    def quantile(self, q: float) -> float | None:
        """The q-quantile (0..1) of every value added; None before the first."""
        if self.n == 0:
            return None
        rank = q * (self.n - 1) + 1  # the ordinal of the value the quantile falls on, 1-based
        index = int(np.searchsorted(np.cumsum(self.counts), rank))
        middle = self.LOW_MS * self.RATIO ** (index + 0.5)
        return float(min(self.high, max(self.low, middle)))


@dataclass(frozen=True)
class RunnerStats:
    capture_fps: float = 0.0
    processed_fps: float = 0.0
    frames_captured: int = 0
    frames_processed: int = 0
    dropped: int = 0
    paused_skipped: int = 0
    latency_ms_p50: float | None = None  # capture to result, over the whole session (SessionHistogram)
    latency_ms_p95: float | None = None
    stage_ms: dict[str, float] = field(default_factory=dict)  # mean ms per stage over the whole session
    source_state: SourceState = "running"
    error: str | None = None
    error_in: str | None = None  # "source" or "stage": where the error that ended the run came from
    events: tuple[dict[str, object], ...] = ()
    gap_frames: int = 0  # stand-in frames logged while the source was lost
    close_errors: tuple[str, ...] = ()  # a sink that failed to close, one line each

    def figures(self) -> dict[str, object]:
        """The run as the session metadata's `run` records it (analyze and the live app alike)."""
        return {
            "frames_captured": self.frames_captured,
            "frames_processed": self.frames_processed,
            "dropped": self.dropped,
            "paused_skipped": self.paused_skipped,
            "latency_ms_p50": self.latency_ms_p50,
            "latency_ms_p95": self.latency_ms_p95,
            "stage_ms": self.stage_ms,
            "events": list(self.events),
            "error": self.error,
            "close_errors": list(self.close_errors),
        }


LIVE_QUEUE_SIZE = 1
FILE_QUEUE_SIZE = 4

_END = object()  # queue marker: the source has ended


def _fps(stamps: deque[float]) -> float:
    if len(stamps) < 2 or stamps[-1] <= stamps[0]:
        return 0.0
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


class Runner:
    """Runs `processors` on every frame of `source` and hands results to `sinks` and `latest()`."""

    def __init__(
        self,
        source: FrameSource,
        processors: Sequence[Processor],
        sinks: Sequence[Sink] = (),
        *,
        queue_size: int | None = None,
        drop_policy: DropPolicy | None = None,
    ) -> None:
        self.source = source
        self.processors = list(processors)
        self.sinks = list(sinks)
        self.drop_policy = drop_policy or (DropPolicy.DROP_OLDEST if source.live else DropPolicy.BLOCK)
        if queue_size is None:
            # Live: only the newest frame waits, so what is shown is at most one frame older than processing
            # allows (a 4-deep queue that processing cannot drain added 4 frame periods of latency). Files:
            # a few frames of slack so the capture thread's decoding overlaps processing.
            queue_size = LIVE_QUEUE_SIZE if self.drop_policy is DropPolicy.DROP_OLDEST else FILE_QUEUE_SIZE
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, queue_size))
        self._stop = threading.Event()
        self._done = threading.Event()
        self._paused = threading.Event()
        self._lock = threading.Lock()
        self._latest: FrameResult | None = None
        self._threads: list[threading.Thread] = []
        self._reason: str | None = None
        self._sinks_closed = False
        self._sinks_done = threading.Event()
        self._stage = "setup"  # the stage running now, named in an error
        # figures, written by the two threads, read by stats()
        self._captured = 0
        self._processed = 0
        self._dropped = 0
        self._paused_skipped = 0
        self._gap_frames = 0
        self._capture_stamps: deque[float] = deque(maxlen=RECENT)
        self._process_stamps: deque[float] = deque(maxlen=RECENT)
        self._latencies_ms = SessionHistogram()
        self._stage_ms: dict[str, list[float]] = {}  # stage -> [total ms, frames]
        self._source_state: SourceState = "running"
        self._error: str | None = None
        self._error_in: str | None = None
        self._events: list[dict[str, object]] = []
        self._close_errors: list[str] = []

    # -- control ----------------------------------------------------------------------------------------

    def start(self) -> None:
        """Open the source (a SourceError surfaces here, in the caller) and start both threads."""
        if self._threads:
            raise RuntimeError("a Runner can be started once")
        self.source.open()
        self._threads = [
            threading.Thread(target=self._capture_loop, name="fertui-capture", daemon=True),
            threading.Thread(target=self._process_loop, name="fertui-processing", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 2.0, reason: str | None = "stopped") -> None:
        """Stop both threads and close processors and sinks; `reason` (None: a normal end) goes to the log.

        Returns within about `timeout` seconds even if a stage, or a sink's write, is stuck: the sinks are then
        closed from a helper thread, which waits for the stuck write rather than making the caller wait.
        """
        with self._lock:
            if self._reason is None and not self._done.is_set():
                self._reason = reason
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if not self._done.is_set():
            closer = threading.Thread(
                target=self._close_sinks, args=(self._reason or "stopped",), name="fertui-close", daemon=True
            )
            closer.start()
            closer.join(max(CLOSE_GRACE_S, deadline - time.monotonic()))

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the run is over (source ended, error, or stopped); True when it is."""
        return self._done.wait(timeout)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    def set_paused(self, paused: bool) -> None:
        if paused:
            self._paused.set()
        else:
            self._paused.clear()

    def latest(self) -> FrameResult | None:
        """The newest result (a one-slot mailbox); never blocks."""
        return self._latest

    def stats(self) -> RunnerStats:
        with self._lock:
            return RunnerStats(
                capture_fps=_fps(self._capture_stamps),
                processed_fps=_fps(self._process_stamps),
                frames_captured=self._captured,
                frames_processed=self._processed,
                dropped=self._dropped,
                paused_skipped=self._paused_skipped,
                latency_ms_p50=self._latencies_ms.quantile(0.50),
                latency_ms_p95=self._latencies_ms.quantile(0.95),
                stage_ms={name: total / count for name, (total, count) in self._stage_ms.items() if count},
                source_state=self._source_state,
                error=self._error,
                error_in=self._error_in,
                events=tuple(self._events),
                gap_frames=self._gap_frames,
                close_errors=tuple(self._close_errors),
            )

    # -- the capture thread ---------------------------------------------------------------------------

    def _event(self, kind: str, detail: str = "") -> None:
        event = {"event": kind, "wall_time": time.time(), "detail": detail}
        with self._lock:
            self._events.append(event)
        for sink in self.sinks:
            if isinstance(sink, EventSink):  # the sinks that keep metadata
                with contextlib.suppress(Exception):  # an event must never stop the capture thread
                    sink.record_event(event)

    def _fail(self, message: str, where: str) -> None:
        with self._lock:
            if self._error is None:
                self._error, self._error_in = message, where
        self._stop.set()

    def _capture_loop(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    frame = self.source.read()
                except SourceLost as exc:
                    self._recover(str(exc))
                    continue
                if frame is None:
                    with self._lock:
                        self._source_state = "ended"
                    self._put_end()
                    return
                now = time.monotonic()
                with self._lock:
                    self._captured += 1
                    self._capture_stamps.append(now)
                self._enqueue((frame, now, False))
        except Exception as exc:  # any source failure ends the run with a clear reason
            self._fail(f"source {self.source.name}: {exc}", "source")
        finally:
            self.source.close()  # here, in the thread that reads it

    def _recover(self, message: str) -> None:
        """Retry a lost live source with backoff until it returns or the run is stopped; log the gap meanwhile."""
        with self._lock:
            self._source_state = "lost"
            fps = _fps(self._capture_stamps) or GAP_FPS_FALLBACK
            self._capture_stamps.clear()  # the capture rate after the gap is measured afresh
        self._event("source_lost", message)
        gap_interval = 1.0 / min(max(fps, 1.0), 60.0)
        attempt = 0
        next_gap = time.monotonic() + gap_interval
        while not self._stop.is_set():
            next_try = time.monotonic() + RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)]
            attempt += 1
            while (now := time.monotonic()) < next_try:
                if next_gap <= now:
                    self._enqueue((self.source.gap_frame(), now, True))
                    next_gap += gap_interval
                if self._stop.wait(max(0.0, min(next_gap, next_try) - time.monotonic())):
                    return
            try:
                self.source.reopen()
            except SourceLost:
                continue
            with self._lock:
                self._source_state = "running"
            self._event("source_restored", f"after {attempt} attempts")
            return

    def _enqueue(self, item: tuple[Frame, float, bool]) -> None:
        if self.drop_policy is DropPolicy.DROP_OLDEST:
            while True:
                try:
                    self._queue.put_nowait(item)
                    return
                except queue.Full:
                    try:
                        oldest = self._queue.get_nowait()
                    except queue.Empty:
                        continue
                    # Only captured frames count as dropped; a stand-in for a lost source was never captured.
                    if oldest is not _END and not cast(tuple[Frame, float, bool], oldest)[2]:
                        with self._lock:
                            self._dropped += 1
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _put_end(self) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(_END, timeout=0.1)
                return
            except queue.Full:
                continue

    # -- the processing thread ------------------------------------------------------------------------

    def _process_loop(self) -> None:
        set_up: list[Processor] = []
        try:
            for processor in self.processors:
                processor.setup()
                set_up.append(processor)
            self._consume()
        except Exception as exc:  # a failing stage stops the run, never hangs it
            self._fail(f"{self._stage}: {type(exc).__name__}: {exc}", "stage")
        finally:
            self._stop.set()
            for processor in set_up:
                with contextlib.suppress(Exception):  # one failing close must not keep the others open
                    processor.close()
            with self._lock:
                reason = self._error or self._reason
            self._close_sinks(reason)
            self._done.set()

    def _consume(self) -> None:
        live = self.drop_policy is DropPolicy.DROP_OLDEST
        while not self._stop.is_set():
            if self._paused.is_set() and not live:
                self._stop.wait(0.05)
                continue
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is _END:
                return
            if self._paused.is_set():
                with self._lock:
                    self._paused_skipped += 1
                continue
            frame, captured_at, gap = cast(tuple[Frame, float, bool], item)
            if gap:
                self._write_gap(frame)
            else:
                self._process(frame, captured_at)

    def _process(self, frame: Frame, captured_at: float) -> None:
        result = FrameResult(frame)
        for processor in self.processors:
            self._stage = processor.name
            started = time.perf_counter()
            result = processor.process(result)
            result = result.with_timing(processor.name, (time.perf_counter() - started) * 1000.0)
        self._stage = "sink"
        self._latest = result
        for sink in self.sinks:
            sink.write(result)
        now = time.monotonic()
        with self._lock:
            self._processed += 1
            self._process_stamps.append(now)
            self._latencies_ms.add((now - captured_at) * 1000.0)
            for name, ms in result.timings_ms.items():
                total = self._stage_ms.setdefault(name, [0.0, 0])
                total[0] += ms
                total[1] += 1

    def _write_gap(self, frame: Frame) -> None:
        """A stand-in frame of a lost source: no processor sees it, the sinks log it as a frame with no face."""
        self._stage = "sink"
        result = FrameResult(frame)
        for sink in self.sinks:
            sink.write(result)
        with self._lock:
            self._gap_frames += 1

    def _close_sinks(self, reason: str | None) -> None:
        """Close every sink once; a second caller waits until the first has closed them (so `done` means closed)."""
        with self._lock:
            closing_elsewhere = self._sinks_closed
            self._sinks_closed = True
        if closing_elsewhere:
            self._sinks_done.wait()
            return
        try:
            self._close_each_sink(reason)
        finally:
            self._sinks_done.set()

    def _close_each_sink(self, reason: str | None) -> None:
        for sink in self.sinks:
            try:
                sink.close(reason)
            except Exception as exc:  # the other sinks must still close; this one's failure is kept and reported
                with self._lock:
                    self._close_errors.append(f"closing {type(sink).__name__}: {type(exc).__name__}: {exc}")
