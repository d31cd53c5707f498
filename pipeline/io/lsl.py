"""Lab Streaming Layer: what fertui sees as a stream, its markers as another, and a stimulus program's markers in.

- The expression outlet (type `Expression`, irregular rate, float32) is a sink: one sample per face per processed
  frame, channels EXPRESSION_CHANNELS, each stamped with the frame's capture time (`Frame.captured`) on LSL's clock,
  not when it was computed. Its XML description names the channels with their units (as XDF readers expect),
  fertui's version, the emotion model's sha256 and the session id.
- The marker outlet (type `Markers`, one string channel, irregular) carries every marker dropped in fertui (a number
  key, a note), stamped with the capture time of the frame it was dropped at.
- The marker inlet (`--lsl-markers NAME`) waits for the stimulus program's stream of that name and writes each of
  its markers into the events file, its LSL time mapped onto the log's `time_s` clock.

Clocks: pylsl.local_clock() and time.monotonic() are both CLOCK_MONOTONIC on Linux; their offset is measured once
at start anyway. A camera's `time_s` is monotonic seconds since the source opened, so its frame is at LSL time
`time_origin_lsl + time_s` (a recording played live is read at about that time; its `time_s` is its position).
The sidecar's `lsl.clock` records that origin and the offset between the wall clock and LSL's clock at start and
end, so a log and an XDF recording line up after the fact.

pylsl is imported only here, and only when `--lsl` or `--lsl-markers` is given (import_pylsl). Discovery is by
multicast: on shared machines set LSLAPICFG to a configuration that keeps it on the machine (tests/lsl_loopback.cfg).
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
import uuid
from types import ModuleType
from typing import Any

from pipeline.core.errors import UsageError
from pipeline.core.frames import SMOOTHED_PREFIX, FrameResult
from pipeline.core.labels import EMOTIONS, UNCLEAR
from pipeline.io.events import Event, EventsLog, iso_utc

LSL_HINT = "pip install 'fertui[lsl]' (pylsl, whose wheel carries liblsl; a checkout's uv sync has it)"

EXPRESSION_TYPE = "Expression"
MARKERS_TYPE = "Markers"
EXPRESSION_NAME = "fertui"
MARKERS_NAME = "fertui-markers"

EXPRESSION_CHANNELS: tuple[str, ...] = (
    "face_id",
    "x",
    "y",
    "w",
    "h",
    *EMOTIONS,
    *(SMOOTHED_PREFIX + e for e in EMOTIONS),
    "confidence",
    "unclear",
)
"""The expression stream's channels, in order: the log's columns of the same names; `unclear` is 0 or 1."""

_UNITS = {"face_id": "id", "x": "pixels", "y": "pixels", "w": "pixels", "h": "pixels", "unclear": "boolean"}

MARKER_SOURCES = ("key", "note")
"""The events the marker outlet carries: those dropped in fertui (not an inlet's own, nor a file's)."""

RESOLVE_WAIT_S = 0.5  # the inlet thread looks for the stimulus program's stream this often until it appears
PULL_WAIT_S = 0.1  # and then waits this long for each marker, so a stop is noticed at once


def import_pylsl(option: str = "--lsl") -> ModuleType:
    """pylsl, or a UsageError saying how to install it (pylsl missing, or liblsl not found by it)."""
    try:
        import pylsl
    except (ImportError, RuntimeError, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"{option} needs pylsl and liblsl ({reason}): {LSL_HINT}") from None
    return pylsl


def model_sha256(metadata: dict[str, object]) -> str | None:
    """The emotion model's sha256 in a session's metadata (its emotion stage's `model`), if it has one."""
    for stage in metadata.get("processors") or ():  # type: ignore[attr-defined]
        model = stage.get("model") if isinstance(stage, dict) else None
        if isinstance(model, dict) and model.get("sha256"):
            return str(model["sha256"])
    return None


def expression_sample(face: Any) -> list[float]:
    """A face as one sample of the expression stream (NaN where the log's cell is empty)."""
    nan = math.nan
    x, y, w, h = face.box
    probs = [nan] * len(EMOTIONS) if face.probs is None else [float(p) for p in face.probs]
    smoothed = [nan] * len(EMOTIONS) if face.smoothed is None else [float(p) for p in face.smoothed]
    return [
        nan if face.face_id is None else float(face.face_id),
        float(x),
        float(y),
        float(w),
        float(h),
        *probs,
        *smoothed,
        nan if face.confidence is None else float(face.confidence),
        1.0 if face.label == UNCLEAR else 0.0,
    ]


class LslClock:
    """LSL's clock against time.monotonic() and the wall clock, measured once at start and once at the end."""

    def __init__(self, pylsl: ModuleType) -> None:
        self._pylsl = pylsl
        before = time.monotonic()
        lsl = pylsl.local_clock()
        after = time.monotonic()
        self.lsl_minus_monotonic = lsl - (before + after) / 2
        self.wall_minus_lsl_start = self.wall_minus_lsl()
        self.wall_minus_lsl_end: float | None = None

    def wall_minus_lsl(self) -> float:
        return time.time() - self._pylsl.local_clock()

    def lsl_time(self, monotonic: float) -> float:
        return monotonic + self.lsl_minus_monotonic


class ExpressionOutlet:
    """The expression stream as a sink of the session (runs on the processing thread)."""

    def __init__(self, outlet: Any, offset: list[float]) -> None:
        self._outlet = outlet
        self._offset = offset  # [LSL's clock - time.monotonic()], measured when the session starts
        self.samples = 0

    def write(self, result: FrameResult) -> None:
        if not result.faces or self._outlet is None:
            return
        stamp = result.frame.captured + self._offset[0]
        for face in result.faces:
            self._outlet.push_sample(expression_sample(face), stamp)
        self.samples += len(result.faces)

    def close(self, reason: str | None = None) -> None:
        pass  # the outlet lives until LslStreams.close, after the session's last frame

    def end(self) -> None:
        self._outlet = None  # dropping the last reference ends the outlet (pylsl's __del__)


def _stream_info(pylsl: ModuleType, name: str, kind: str, channels: int, fmt: Any, source_id: str) -> Any:
    return pylsl.StreamInfo(name, kind, channels, pylsl.IRREGULAR_RATE, fmt, source_id)


def _describe_expression(info: Any, session_id: str, version: str, model_sha256: str | None) -> None:
    desc = info.desc()
    channels = desc.append_child("channels")
    for name in EXPRESSION_CHANNELS:
        channel = channels.append_child("channel")
        channel.append_child_value("label", name)
        channel.append_child_value("unit", _UNITS.get(name, "probability"))
        channel.append_child_value("type", EXPRESSION_TYPE)
    acquisition = desc.append_child("acquisition")
    acquisition.append_child_value("manufacturer", "fertui")
    acquisition.append_child_value("model", "facial expression recognition")
    acquisition.append_child_value("software_version", version)
    fertui = desc.append_child("fertui")
    fertui.append_child_value("version", version)
    fertui.append_child_value("session_id", session_id)
    fertui.append_child_value("model_sha256", model_sha256 or "")
    fertui.append_child_value("timestamps", "frame capture time")


class LslStreams:
    """The session's LSL outlets (`outlets`: `--lsl`) and marker inlet (`markers_from`: `--lsl-markers NAME`).

    Built before the session starts, so a missing pylsl is one line before any work; `start` measures the clocks
    and starts the inlet thread, `close` stops it and ends the outlets.
    """

    def __init__(
        self,
        *,
        outlets: bool,
        markers_from: str | None = None,
        model_sha256: str | None = None,
        session_id: str | None = None,
    ) -> None:
        from pipeline.io.sinks import fertui_version

        self._pylsl = import_pylsl("--lsl" if outlets else "--lsl-markers")
        self.session_id = session_id or uuid.uuid4().hex
        self.markers_from = markers_from
        self.outlets = outlets
        self.clock: LslClock | None = None
        self.origin_lsl: float | None = None
        self.markers_sent = 0
        self.markers_received = 0
        self.inlet_state = "waiting for the stream" if markers_from else None
        self._origin = 0.0  # LSL time of the log's time_s 0
        self._offset = [0.0]  # LSL's clock - time.monotonic()
        self._events: EventsLog | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.sink: ExpressionOutlet | None = None
        self._marker_outlet: Any = None
        self.expression_source_id = f"fertui-{self.session_id}-expression"
        self.markers_source_id = f"fertui-{self.session_id}-markers"
        if outlets:
            pylsl = self._pylsl
            info = _stream_info(
                pylsl, EXPRESSION_NAME, EXPRESSION_TYPE, len(EXPRESSION_CHANNELS), pylsl.cf_float32,
                self.expression_source_id,
            )  # fmt: skip
            _describe_expression(info, self.session_id, fertui_version(), model_sha256)
            self.sink = ExpressionOutlet(pylsl.StreamOutlet(info), self._offset)
            markers = _stream_info(pylsl, MARKERS_NAME, MARKERS_TYPE, 1, pylsl.cf_string, self.markers_source_id)
            markers.desc().append_child("fertui").append_child_value("session_id", self.session_id)
            self._marker_outlet = pylsl.StreamOutlet(markers)

    def start(self, clock_origin: float, events: EventsLog | None) -> None:
        """Measure the clocks (time_s 0 is monotonic `clock_origin`) and start the inlet into `events`."""
        self.clock = LslClock(self._pylsl)
        self._offset[0] = self.clock.lsl_minus_monotonic
        self.origin_lsl = self._origin = self.clock.lsl_time(clock_origin)
        self._events = events
        if self.markers_from:
            self._thread = threading.Thread(target=self._inlet_loop, name="fertui-lsl-markers", daemon=True)
            self._thread.start()

    def send_marker(self, event: Event, captured: float) -> None:
        """A marker dropped in fertui (a key, a note) on the marker stream, stamped with `captured`: the monotonic
        capture time of the frame it was dropped at."""
        outlet = self._marker_outlet
        if outlet is None or event.source not in MARKER_SOURCES or self._closed:
            return
        text = f"note: {event.value or ''}" if event.source == "note" else event.trial_type
        outlet.push_sample([text], captured + self._offset[0])
        self.markers_sent += 1

    def _inlet_loop(self) -> None:
        pylsl = self._pylsl
        while not self._stop.is_set():
            found = pylsl.resolve_byprop("name", self.markers_from, 1, RESOLVE_WAIT_S)
            if found:
                break
        else:
            return
        inlet = pylsl.StreamInlet(found[0], recover=True)
        self.inlet_state = f"connected to {found[0].source_id() or found[0].name()} on {found[0].hostname()}"
        correction = 0.0
        try:
            while not self._stop.is_set():
                sample, stamp = inlet.pull_sample(timeout=PULL_WAIT_S)
                if sample is None or stamp is None:
                    continue
                with contextlib.suppress(Exception):  # a peer on this machine answers at once; keep the last
                    correction = inlet.time_correction(timeout=1.0)
                self._receive(sample, stamp + correction)
        finally:
            with contextlib.suppress(Exception):
                inlet.close_stream()

    def _receive(self, sample: list[Any], lsl_time: float) -> None:
        """One marker of the stimulus program, at `lsl_time` on this machine's LSL clock, into the events file."""
        assert self.clock is not None
        text = [str(value) for value in sample]
        event = Event(
            onset=round(lsl_time - self._origin, 6),
            trial_type=text[0] if text else "lsl",
            value=" | ".join(text[1:]) or None,
            wall_time=iso_utc(lsl_time + self.clock.wall_minus_lsl_start),
            source="lsl",
        )
        self.markers_received += 1
        if self._events is not None:
            self._events.add(event)

    def close(self) -> None:
        """Stop the inlet, take the clocks' last reading and end the outlets (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        if self.clock is not None:
            self.clock.wall_minus_lsl_end = self.clock.wall_minus_lsl()
        if self.sink is not None:
            self.sink.end()
        self._marker_outlet = None

    def describe(self) -> dict[str, object]:
        """The sidecar's `lsl`: the streams, the session id, and the clocks for lining a log up with an XDF file."""
        clock = self.clock
        return {
            "session_id": self.session_id,
            "expression_stream": None
            if not self.outlets
            else {
                "name": EXPRESSION_NAME,
                "type": EXPRESSION_TYPE,
                "source_id": self.expression_source_id,
                "channels": list(EXPRESSION_CHANNELS),
                "samples": 0 if self.sink is None else self.sink.samples,
            },
            "markers_stream": None
            if not self.outlets
            else {"name": MARKERS_NAME, "type": MARKERS_TYPE, "source_id": self.markers_source_id},
            "markers_sent": self.markers_sent,
            "markers_from": self.markers_from,
            "markers_received": self.markers_received,
            "inlet": self.inlet_state,
            "clock": None
            if clock is None
            else {
                "time_origin_lsl": self.origin_lsl,
                "lsl_minus_monotonic": clock.lsl_minus_monotonic,
                "wall_minus_lsl_start": clock.wall_minus_lsl_start,
                "wall_minus_lsl_end": clock.wall_minus_lsl_end,
            },
        }
