"""Lab Streaming Layer kept on this machine, and fertui's streams on it: a real outlet and a real inlet in this
process, discovering each other through the loopback configuration only."""

from __future__ import annotations

import configparser
import math
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from pipeline.core.frames import Face, Frame, FrameResult
from pipeline.io.events import EventsLog, read_events
from pipeline.io.lsl import EXPRESSION_CHANNELS, LslStreams, expression_sample

LOOPBACK = Path(__file__).resolve().parent / "lsl_loopback.cfg"


def test_lslapicfg_is_the_loopback_config_whenever_pylsl_is_loaded():
    """liblsl reads LSLAPICFG when pylsl is imported: it must already point at the loopback file by then."""
    import pylsl  # noqa: F401 - the import under test

    assert "pylsl" in sys.modules
    assert os.environ.get("LSLAPICFG") == str(LOOPBACK), "set LSLAPICFG before anything imports pylsl (conftest.py)"
    config = configparser.ConfigParser()
    config.optionxform = str  # type: ignore[assignment,method-assign]  # liblsl's keys are case-sensitive
    config.read(LOOPBACK)
    assert config["multicast"]["ResolveScope"] == "machine"
    assert config["multicast"]["MachineAddresses"] == "{127.0.0.1}"
    assert config["multicast"]["ListenAddress"] == "127.0.0.1"
    assert config["multicast"]["TTLOverride"] == "0"
    assert config["ports"]["IPv6"] == "disable"
    assert config["lab"]["KnownPeers"] == "{127.0.0.1}"


def test_fertui_imports_pylsl_only_when_asked():
    check = (
        "import sys, pipeline.commands.cli, pipeline.engine.session, pipeline.io.lsl, pipeline.commands.analyze\n"
        "pipeline.commands.cli.build_parser().parse_args(['--demo'])\n"
        "print('pylsl' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr[-2000:]


def test_a_real_outlet_and_inlet_find_each_other_on_loopback():
    import pylsl

    name = f"fertui-test-{uuid.uuid4().hex[:8]}"
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(name, "Markers", 1, pylsl.IRREGULAR_RATE, pylsl.cf_string, name))
    found = pylsl.resolve_byprop("source_id", name, 1, 10.0)
    assert [info.name() for info in found] == [name]
    assert found[0].hostname()
    inlet = pylsl.StreamInlet(found[0])
    inlet.open_stream(timeout=10.0)
    deadline = time.monotonic() + 10
    while not outlet.have_consumers() and time.monotonic() < deadline:
        time.sleep(0.01)
    outlet.push_sample(["hello"], 12.5)
    sample, stamp = inlet.pull_sample(timeout=10.0)
    assert sample == ["hello"] and stamp == pytest.approx(12.5)
    inlet.close_stream()


def test_local_clock_is_the_monotonic_clock():
    import pylsl

    before = time.monotonic()
    lsl = pylsl.local_clock()
    after = time.monotonic()
    assert before - 0.001 <= lsl <= after + 0.001  # both CLOCK_MONOTONIC on Linux; fertui measures it anyway


def test_a_face_is_one_sample_with_nan_where_the_log_is_empty():
    face = Face(box=(1.0, 2.0, 3.0, 4.0), score=0.9, face_id=None, label="unclear")
    sample = expression_sample(face)
    assert len(sample) == len(EXPRESSION_CHANNELS)
    assert math.isnan(sample[0]) and sample[1:5] == [1.0, 2.0, 3.0, 4.0]
    assert all(math.isnan(v) for v in sample[5:-1]) and sample[-1] == 1.0


def test_marker_inlet_maps_lsl_times_onto_the_log_clock(tmp_path):
    import pylsl

    name = f"stim-{uuid.uuid4().hex[:8]}"
    stimulus = pylsl.StreamOutlet(pylsl.StreamInfo(name, "Markers", 2, pylsl.IRREGULAR_RATE, pylsl.cf_string, name))
    events = EventsLog(tmp_path / "log.csv.events.tsv", create=True)
    streams = LslStreams(outlets=False, markers_from=name)
    origin = time.monotonic() - 5.0  # the log's time_s 0 was five seconds ago
    streams.start(origin, events)
    deadline = time.monotonic() + 20
    while not stimulus.have_consumers() and time.monotonic() < deadline:
        time.sleep(0.02)
    sent = pylsl.local_clock()
    stimulus.push_sample(["target", "left"], sent)
    while events.count < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    streams.close()
    events.close()
    (event,) = read_events(events.path)
    assert (event.trial_type, event.value, event.source, event.frame) == ("target", "left", "lsl", None)
    assert event.onset == pytest.approx(sent - (origin + streams.clock.lsl_minus_monotonic), abs=1e-4)
    described = streams.describe()
    assert described["markers_received"] == 1 and described["inlet"].startswith("connected")
    assert described["clock"]["wall_minus_lsl_end"] is not None


def test_expression_outlet_stamps_capture_time(tmp_path):
    import pylsl

    streams = LslStreams(outlets=True, model_sha256="ab" * 32)
    found = pylsl.resolve_byprop("source_id", streams.expression_source_id, 1, 10.0)
    inlet = pylsl.StreamInlet(found[0])
    inlet.open_stream(timeout=10.0)
    info = inlet.info(timeout=5.0)
    assert info.desc().child("fertui").child_value("model_sha256") == "ab" * 32
    streams.start(time.monotonic(), None)
    captured = time.monotonic() - 0.25  # a frame read a quarter second before it is written
    frame = Frame(0, 0.0, time.time(), np.zeros((2, 2, 3), np.uint8), captured=captured)
    face = Face(box=(1.0, 2.0, 3.0, 4.0), score=0.9, face_id=7, probs=np.full(7, 1 / 7, np.float32))
    assert streams.sink is not None
    streams.sink.write(FrameResult(frame, faces=(face,)))
    sample, stamp = inlet.pull_sample(timeout=10.0)
    assert sample[0] == 7.0
    assert stamp == pytest.approx(captured + streams.clock.lsl_minus_monotonic, abs=1e-6)
    streams.close()
    inlet.close_stream()
