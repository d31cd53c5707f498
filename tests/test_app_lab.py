"""The live app in step with the lab: marker keys and notes into LOG.events.tsv, the report drawing them, and the
Lab Streaming Layer outlets and marker inlet, received by a real inlet (and played by a real outlet) in this process
on the loopback configuration (tests/lsl_loopback.cfg, set by conftest.py)."""

from __future__ import annotations

import io
import json
import math
import time
import uuid
from dataclasses import replace

import numpy as np
import pytest
from rich.console import Console

from pipeline.core.frames import SMOOTHED_PREFIX, Frame, FrameResult
from pipeline.core.labels import EMOTIONS
from pipeline.io.events import read_events
from pipeline.io.log_format import read_log
from pipeline.processors.base import Processor
from tests.app_helpers import fake_app, wait_for_panels, wait_until
from tests.fakes import FIXED_FACES, FakeSource
from tui.app import HelpScreen, make_app
from tui.config import AppConfig
from tui.widgets.note import NoteScreen

SIZE = (100, 32)
FPS = 20.0
LABELS = ("stimulus", "response", "3", "4", "5", "6", "7", "8", "9")


async def _quit(pilot) -> None:
    await pilot.press("q")
    await pilot.pause()


async def test_keys_and_a_note_write_three_events_at_the_frames_shown(tmp_path):
    app = fake_app(tmp_path, marker_labels=LABELS)
    dropped = []
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_panels(pilot)
        await pilot.press("1")
        dropped.append(app.last_marker)
        assert "◆ stimulus @" in str(app.status_bar.render())
        await wait_until(pilot, lambda: app.last_view.result.frame.index > dropped[0].frame, what="a later frame")
        await pilot.press("2")
        dropped.append(app.last_marker)
        await wait_until(pilot, lambda: app.last_view.result.frame.index > dropped[1].frame, what="a later frame")
        await pilot.press("n")
        note = app.screen
        assert isinstance(note, NoteScreen)
        at_n = int(note.at.split(",")[0].removeprefix("frame "))  # the frame shown when n was pressed
        for key in "saw 2nd face":
            await pilot.press("space" if key == " " else key)
        await wait_until(pilot, lambda: app.last_view.result.frame.index > at_n, what="a frame after n")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.last_marker is not dropped[1], what="the note")
        dropped.append(app.last_marker)
        assert dropped[2].frame == at_n  # where n was pressed, not where enter was
        await _quit(pilot)
    log = tmp_path / "session.csv"
    events = read_events(f"{log}.events.tsv")
    assert [(e.trial_type, e.value, e.source) for e in events] == [
        ("stimulus", "1", "key"),
        ("response", "2", "key"),
        ("note", "saw 2nd face", "note"),
    ]
    assert events == dropped
    time_of_frame = {row["frame"]: row["time_s"] for row in read_log(log)}
    for event in events:
        assert event.onset == time_of_frame[event.frame]  # the time_s of the frame shown, as the log wrote it
        assert event.duration == 0.0 and event.wall_time is not None
    meta = json.loads((tmp_path / "session.csv.meta.json").read_text())
    assert meta["events_file"] == {
        "file": "session.csv.events.tsv",
        "events": 3,
        "by_source": {"key": 2, "note": 1},
        "write_error": None,
    }
    from pipeline.commands.cli import main

    assert main(["report", str(log), "--out", str(tmp_path / "report.png")]) == 0
    assert (tmp_path / "report.png").stat().st_size > 0


async def test_an_escaped_note_writes_nothing_and_the_file_exists_anyway(tmp_path):
    app = fake_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_panels(pilot)
        await pilot.press("n")
        await pilot.press("x", "escape")
        assert not isinstance(app.screen, NoteScreen)
        await _quit(pilot)
    assert read_events(tmp_path / "session.csv.events.tsv") == []  # the live app always writes the file


async def test_help_and_footer_list_the_marker_keys(tmp_path):
    app = fake_app(tmp_path)
    async with app.run_test(size=(160, 32)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        console = Console(width=160, file=io.StringIO())
        console.print(app.screen.query_one("#help Static").content)
        help_text = console.file.getvalue()
        assert "1-9" in help_text and "Marker" in help_text and "Note" in help_text
        await pilot.press("escape")
        await pilot.pause()
        shown = {a.binding.key_display or a.binding.key for a in app.screen.active_bindings.values() if a.binding.show}
        assert {"1-9", "n"} <= shown
        footer = " ".join(str(key.render()) for key in app.query("FooterKey"))
        assert "1-9" in footer and "Marker" in footer and "Note" in footer


# -- Lab Streaming Layer ------------------------------------------------------------------------------------------


class CaptureClockSource(FakeSource):
    """The fake source as a camera times its frames (time_s: seconds since it opened, when the frame was read),
    noting each frame's capture time on LSL's own clock as it is read."""

    def __init__(self, **options) -> None:
        super().__init__(**options)
        import pylsl

        self._clock = pylsl.local_clock
        self.captured_lsl: dict[int, tuple[float, float]] = {}  # frame: (capture time, +- how sure)

    def _next(self) -> Frame | None:
        frame = super()._next()  # paced like a camera
        if frame is None:
            return None
        before = self._clock()  # LSL's clock read on either side of the capture instant: a loaded machine can
        now = time.monotonic()  # switch threads between two calls, so the bracket says how sure the reading is
        after = self._clock()
        self.captured_lsl[frame.index] = ((before + after) / 2, (after - before) / 2)
        return replace(frame, time_s=now - self.clock_origin, captured=now)


class VaryingResults(Processor):
    """The two fixed faces with probabilities that change from frame to frame (so times must match to agree)."""

    name = "varying"

    def process(self, result: FrameResult) -> FrameResult:
        faces = []
        for face in FIXED_FACES:
            logits = np.sin(np.arange(len(EMOTIONS)) * (1 + face.face_id) + result.frame.index / 3.0)
            probs = (np.exp(logits) / np.exp(logits).sum()).astype(np.float32)
            faces.append(face.replace(probs=probs, smoothed=probs[::-1].copy(), confidence=float(probs.max())))
        return result.replace(faces=tuple(faces))


def _open_inlet(pylsl, source_id: str):
    found = pylsl.resolve_byprop("source_id", source_id, 1, 10.0)
    assert found, f"no stream {source_id} on loopback"
    inlet = pylsl.StreamInlet(found[0], max_buflen=60)
    inlet.open_stream(timeout=10.0)
    return inlet


def _pull_all(inlet, into: list) -> None:
    while True:
        samples, stamps = inlet.pull_chunk(timeout=0.0)
        if not stamps:
            return
        into.extend(zip(samples, stamps, strict=True))


async def test_lsl_streams_one_sample_per_face_row_at_capture_time_and_every_marker(tmp_path):
    pylsl = pytest.importorskip("pylsl")
    source = CaptureClockSource(fps=FPS)
    config = AppConfig(source="fake", export_dir=tmp_path, log_path=tmp_path / "s.csv", marker_labels=LABELS, lsl=True)
    app = make_app(config, source=source, processors=[VaryingResults()])
    streams = app.session.streams
    assert streams is not None
    # Subscribed before the first frame: an LSL inlet gets what is pushed after it connects.
    expression = _open_inlet(pylsl, streams.expression_source_id)
    markers = _open_inlet(pylsl, streams.markers_source_id)
    info = expression.info(timeout=5.0)
    channels = info.desc().child("channels").child("channel")
    labels = []
    while not channels.empty():
        labels.append(channels.child_value("label"))
        channels = channels.next_sibling()
    assert labels == ["face_id", "x", "y", "w", "h", *EMOTIONS, *(SMOOTHED_PREFIX + e for e in EMOTIONS)] + [
        "confidence",
        "unclear",
    ]
    assert info.type() == "Expression" and info.channel_format() == pylsl.cf_float32
    assert info.desc().child("fertui").child_value("session_id") == streams.session_id
    samples: list = []
    marks: list = []
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_panels(pilot)
        await pilot.press("1")
        await wait_until(pilot, lambda: app.last_view.result.frame.index > app.last_marker.frame + 2, what="frames")
        await pilot.press("2")
        await wait_until(pilot, lambda: app.runner.stats().frames_processed > 40, timeout=30, what="40 frames")
        app.runner.set_paused(True)  # no more frames: what was logged can all arrive
        rows_so_far = app.session_log.rows_written

        def drained() -> bool:
            _pull_all(expression, samples)
            _pull_all(markers, marks)
            return len(samples) >= rows_so_far and len(marks) >= 2

        await wait_until(
            pilot, drained, timeout=20, what=f"{rows_so_far} samples and 2 markers ({len(samples)}, {len(marks)})"
        )
        correction = expression.time_correction(timeout=5.0)
        marker_correction = markers.time_correction(timeout=5.0)
        await _quit(pilot)
    expression.close_stream()
    markers.close_stream()
    rows = [r for r in read_log(tmp_path / "s.csv") if r["face_id"] is not None]
    meta = json.loads((tmp_path / "s.csv.meta.json").read_text())
    lsl = meta["lsl"]
    origin = lsl["clock"]["time_origin_lsl"]
    assert lsl["session_id"] == streams.session_id and lsl["expression_stream"]["samples"] == len(rows)
    assert lsl["clock"]["wall_minus_lsl_start"] == pytest.approx(lsl["clock"]["wall_minus_lsl_end"], abs=0.5)

    # One sample per face row, in order, with the log's values and times.
    assert len(samples) == len(rows)
    stamps = [stamp + correction for _, stamp in samples]
    assert all(b >= a for a, b in zip(stamps, stamps[1:], strict=False))
    columns = ["face_id", "x", "y", "w", "h", *EMOTIONS, *(SMOOTHED_PREFIX + e for e in EMOTIONS), "confidence"]
    capture_gaps = []
    for (sample, _), stamp, row in zip(samples, stamps, rows, strict=True):
        assert stamp - origin == pytest.approx(row["time_s"], abs=1e-3)
        assert sample[:-1] == pytest.approx([row[c] for c in columns], abs=1e-4)
        assert sample[-1] == (1.0 if row["emotion"] == "unclear" else 0.0)
        captured, uncertainty = source.captured_lsl[row["frame"]]
        capture_gaps.append(max(0.0, abs(stamp - captured) - uncertainty))
    # Stamped at capture: within 5 ms of when the frame was read (not when it was processed or sent).
    assert max(capture_gaps) < 0.005, capture_gaps
    print(f"LSL stamp - capture time: max {max(capture_gaps) * 1000:.3f} ms over {len(capture_gaps)} samples")

    # Every marker, at the time of the frame it was dropped at, as the events file has it.
    events = read_events(tmp_path / "s.csv.events.tsv")
    assert [m[0] for m, _ in marks] == ["stimulus", "response"] == [e.trial_type for e in events]
    for (_, stamp), event in zip(marks, events, strict=True):
        assert stamp + marker_correction - origin == pytest.approx(event.onset, abs=1e-3)
    assert lsl["markers_sent"] == 2


async def test_lsl_markers_records_a_stimulus_programs_markers_within_a_frame(tmp_path):
    pylsl = pytest.importorskip("pylsl")
    name = f"stimulus-{uuid.uuid4().hex[:8]}"
    info = pylsl.StreamInfo(name, "Markers", 1, pylsl.IRREGULAR_RATE, pylsl.cf_string, name)
    stimulus = pylsl.StreamOutlet(info)
    app = fake_app(tmp_path, lsl_markers=name)
    sent: list[tuple[str, float]] = []
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_panels(pilot)
        streams = app.session.streams
        await wait_until(pilot, lambda: str(streams.inlet_state).startswith("connected"), timeout=20, what="inlet")
        await wait_until(pilot, stimulus.have_consumers, timeout=20, what="the inlet subscribed")
        for text in ("fixation", "face/happy", "response"):
            when = pylsl.local_clock()
            stimulus.push_sample([text], when)
            sent.append((text, when))
            await pilot.pause(0.2)
        await wait_until(pilot, lambda: app.session.events.count == 3, timeout=20, what="3 markers in")
        await _quit(pilot)
    meta = json.loads((tmp_path / "session.csv.meta.json").read_text())
    origin = meta["lsl"]["clock"]["time_origin_lsl"]
    assert meta["lsl"]["markers_received"] == 3 and meta["lsl"]["expression_stream"] is None
    events = read_events(tmp_path / "session.csv.events.tsv")
    assert [(e.trial_type, e.source) for e in events] == [(t, "lsl") for t, _ in sent]
    times = [r["time_s"] for r in read_log(tmp_path / "session.csv")]
    gaps = [event.onset - (when - origin) for event, (_, when) in zip(events, sent, strict=True)]
    print(f"--lsl-markers onset - sending time: {', '.join(f'{gap * 1000:.3f}' for gap in gaps)} ms")
    for event, (_, when) in zip(events, sent, strict=True):
        assert abs(event.onset - (when - origin)) < 1 / FPS  # within one frame of its sending time
        assert min(times) <= event.onset <= max(times) + 1 / FPS
        assert not math.isnan(event.onset)


def test_without_pylsl_the_option_is_one_line(monkeypatch):
    import builtins

    from pipeline.core.errors import UsageError
    from pipeline.io.lsl import import_pylsl

    real_import = builtins.__import__

    def no_pylsl(name, *args, **kwargs):
        if name == "pylsl":
            raise RuntimeError("LSL binary library file was not found.")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pylsl)
    monkeypatch.delitem(__import__("sys").modules, "pylsl", raising=False)
    with pytest.raises(UsageError, match=r"--lsl needs pylsl and liblsl .*pip install 'fertui\[lsl\]'") as caught:
        import_pylsl()
    assert "\n" not in str(caught.value)
