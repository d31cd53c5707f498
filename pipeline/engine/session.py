"""One session: a source, the processors, the runner, the session log and its metadata, from start to a typed stop.

`fertui analyze` and the live app are front ends over a Session; they differ in what they show while it runs
(a progress bar, the terminal app), not in how it starts, records, stops or says why it stopped. A session
stops once, for one `Stop`: the source ended or the user quit, Ctrl-C in the app, a signal (SIGINT, SIGTERM,
SIGHUP when an SSH link drops), the source failing, the disk filling, a stage failing. The log's metadata and
the process's exit code both follow from that Stop.

Signals reach a session through one SignalCatcher: its handler only records the signal and hands it on, so a
front end decides when to stop (stopping threads from inside a handler could deadlock on a lock the
interrupted main thread holds).
"""

from __future__ import annotations

import enum
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline.core.frames import Frame
from pipeline.engine.runner import Runner
from pipeline.io.events import Event, EventsLog, EventSource, iso_utc
from pipeline.io.sinks import SessionLog, Sink
from pipeline.io.sources import FrameSource
from pipeline.processors.base import Processor
from pipeline.processors.eyes import Blink, EyeProcessor

if TYPE_CHECKING:
    from pipeline.engine import EngineConfig
    from pipeline.io.lsl import LslStreams

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopReason(enum.Enum):
    FINISHED = "finished"  # the source ended, or the user quit (q): the log is complete
    CTRL_C = "ctrl-c"  # Ctrl-C pressed in the live app
    SIGNAL = "signal"  # SIGINT, SIGTERM, or SIGHUP (the terminal or the SSH link went away)
    SOURCE_FAILED = "source failed"  # the source broke (a lost camera is retried, not this)
    DISK_FULL = "disk full"  # the log could not be written
    STAGE_ERROR = "stage error"  # a processor, or fertui itself, failed


@dataclass(frozen=True)
class Stop:
    """Why a session stopped: the reason, and the detail it needs (the signal, the error)."""

    reason: StopReason
    detail: str = ""
    signum: int | None = None

    @classmethod
    def finished(cls) -> Stop:
        return cls(StopReason.FINISHED)

    @classmethod
    def from_signal(cls, signum: int) -> Stop:
        return cls(StopReason.SIGNAL, signal.Signals(signum).name, int(signum))

    @property
    def text(self) -> str | None:
        """The metadata's `reason`: None for a session that ran to its end, else one line saying why it stopped."""
        if self.reason is StopReason.FINISHED:
            return None
        if self.reason is StopReason.CTRL_C:
            return "ctrl-c"
        if self.reason is StopReason.SIGNAL:
            return f"interrupted by {self.detail}"
        return self.detail or self.reason.value

    @property
    def exit_code(self) -> int:
        """0 for a complete session, 128 + the signal for a signal (130 for Ctrl-C), 1 for a failure."""
        if self.reason is StopReason.FINISHED:
            return 0
        if self.reason is StopReason.CTRL_C:
            return 128 + int(signal.SIGINT)
        if self.reason is StopReason.SIGNAL and self.signum is not None:
            return 128 + self.signum
        return 1


def session_metadata(
    command: str, source: FrameSource, config: EngineConfig, processors: Sequence[Processor], **extra: object
) -> dict[str, object]:
    """The metadata a session log starts with, the same for every front end (`extra`: what one adds)."""
    return {
        "command": command,
        "source": source.describe(),
        "config": config.describe(),
        "processors": [processor.describe() for processor in processors],
        # Exactly the model files that ran, path -> sha256 (a ModelSet's, or a reference detector's weights).
        "models": {path: digest for processor in processors for path, digest in processor.model_files().items()},
        **extra,
    }


class Session:
    """Owns a source, its processors, the runner, the session log, its events file and the LSL streams, and stops
    them all for one Stop.

    `events`: the events file beside the log (markers, an experiment's events, LSL markers); `streams`: the Lab
    Streaming Layer outlets and inlet (`--lsl`, `--lsl-markers`), whose expression outlet is one more sink.
    """

    def __init__(
        self,
        source: FrameSource,
        processors: Sequence[Processor],
        log: SessionLog | None,
        *,
        extra_sinks: Sequence[Sink] = (),
        events: EventsLog | None = None,
        streams: LslStreams | None = None,
    ) -> None:
        self.source = source
        self.processors = list(processors)
        self.log = log
        self.events = events
        self.streams = streams
        sinks = [*([log] if log is not None else []), *extra_sinks]
        if streams is not None and streams.sink is not None:
            sinks.append(streams.sink)
        self.runner = Runner(source, self.processors, sinks)
        self.eyes = [processor for processor in self.processors if isinstance(processor, EyeProcessor)]
        if events is not None:
            for eyes in self.eyes:  # blinks go to the events file as they end
                eyes.on_blink = self._blink
        self._stop: Stop | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Open the source (a SourceError surfaces here), start the LSL streams on its clock, then the threads."""
        self.source.open()
        if self.streams is not None:
            self.streams.start(self.source.clock_origin, self.events)
        self.runner.start()

    def mark(self, trial_type: str, frame: Frame, *, value: str | None = None, source: EventSource = "key") -> Event:
        """Drop a marker at `frame` (the frame shown): its onset is the frame's time_s, its wall time now; it goes to
        the events file and the LSL marker stream (stamped with the frame's capture time, as its samples are)."""
        event = Event(
            onset=round(frame.time_s, 4),  # as the log writes time_s, so the two compare equal
            trial_type=trial_type,
            value=value,
            frame=frame.index,
            wall_time=iso_utc(time.time()),
            source=source,
        )
        if self.events is not None:
            self.events.add(event)
        if self.streams is not None:
            self.streams.send_marker(event, frame.captured)
        return event

    def _blink(self, face_id: int, blink: Blink, frame: int) -> None:
        """A `blink` row in the events file (called in the processing thread; EventsLog is thread-safe)."""
        assert self.events is not None
        self.events.add(
            Event(
                onset=round(blink.onset_s, 4),
                duration=round(blink.duration_s, 4),
                trial_type="blink",
                value=f"face {face_id}",
                frame=frame,
                wall_time=iso_utc(time.time()),
                source="eyes",
            )
        )

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the session has come to a stop by itself (see `poll`) or was stopped; True when it has."""
        return self.runner.wait(timeout) or self.poll() is not None

    def poll(self) -> Stop | None:
        """The stop the session has come to by itself, if any: the disk filled, the source or a stage failed, or
        the source ended."""
        if self.log is not None and self.log.write_error:
            return Stop(StopReason.DISK_FULL, self.log.write_error)
        if not self.runner.done:
            return None
        stats = self.runner.stats()
        if stats.error:
            reason = StopReason.SOURCE_FAILED if stats.error_in == "source" else StopReason.STAGE_ERROR
            return Stop(reason, stats.error)
        return Stop.finished()

    @property
    def stopped(self) -> Stop | None:
        """The stop, once `stop` ran."""
        return self._stop

    def stop(self, stop: Stop | None = None, *, timeout: float = 1.5, **metadata: object) -> Stop:
        """Stop the session: the threads, the processors and the log, which gets the stop's reason, the run's
        figures and `metadata`. Idempotent: the first stop is the session's. Without `stop`, the one the session
        came to by itself; a session stopped early for no reason at all is a fertui error."""
        with self._lock:
            if self._stop is not None:
                return self._stop
            self._stop = stop or self.poll() or Stop(StopReason.STAGE_ERROR, "stopped by an error in fertui")
        started = time.monotonic()
        self.runner.stop(timeout=timeout, reason=self._stop.text)
        lab: dict[str, object] = {}
        if self.streams is not None:
            self.streams.close()
            lab["lsl"] = self.streams.describe()
        if self.events is not None:
            self.events.close()
            lab["events_file"] = self.events.describe()
        if self.eyes:
            lab["blinks"] = self.eyes[0].blink_counts()  # per face id: both eyes, and each eye on its own
        close_errors = list(self.runner.stats().close_errors)
        if self.log is not None:
            # A write stuck past the timeout keeps the log open: the session still stops, and says so.
            if not self.log.close_within(self._stop.text, max(0.0, timeout - (time.monotonic() - started))):
                close_errors.append(f"{self.log.path}: a write was still stuck when the session stopped")
            elif self.log.write_error:
                close_errors.insert(0, self.log.write_error)
            if self.log.closed:
                self.log.update_metadata(
                    source=self.source.describe(), run=self.runner.stats().figures(), **lab, **metadata
                )
        if close_errors and self._stop.reason is StopReason.FINISHED:
            # The session ran to its end, but what it recorded may be incomplete: that is no success.
            with self._lock:
                self._stop = Stop(StopReason.DISK_FULL, close_errors[0])
        return self._stop


class SignalCatcher:
    """Catch SIGINT, SIGTERM and SIGHUP while a session runs: remember the first and pass it to `on_signal`.

    The handler runs between two bytecodes of the main thread, so `on_signal` may only hand the work on (set
    a flag, `loop.call_soon_threadsafe`); the previous handlers come back on exit.
    """

    def __init__(self, on_signal: Callable[[int], None] | None = None) -> None:
        self.received: int | None = None
        self._on_signal = on_signal
        self._previous: dict[int, Any] = {}  # signal -> its handler before (a callable, SIG_DFL or SIG_IGN)

    def _handle(self, signum: int, _frame: object) -> None:
        if self.received is None:
            self.received = signum
            if self._on_signal is not None:
                self._on_signal(signum)

    def __enter__(self) -> SignalCatcher:
        if threading.current_thread() is threading.main_thread():  # signals can only be caught there
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    @property
    def stop(self) -> Stop | None:
        return None if self.received is None else Stop.from_signal(self.received)
