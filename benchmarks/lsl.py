"""The live demo through the real engine with its LSL outlets, received by an inlet in this process on loopback.

    LSLAPICFG=$PWD/tests/lsl_loopback.cfg uv run python -m benchmarks.lsl [--seconds 10] [--models DIR]

A Session as the live app runs it (the paced demo source, the processors from EngineConfig, the session log, the
events file, LslStreams with both outlets) for `--seconds`; markers are dropped every second from another thread,
as the UI thread drops them. Prints one JSON object: face rows in the log against samples received, the largest
difference between a sample's time stamp and its frame's capture time mapped through the sidecar's clock
(`time_origin_lsl + time_s`), how long after capture a sample reaches the inlet (p50/p95: processing plus
transport), and the markers sent, received and their stamps against their events' onsets.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks.analyze_video import models_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--models", type=Path, default=None)
    args = parser.parse_args()
    if not os.environ.get("LSLAPICFG"):
        raise SystemExit("set LSLAPICFG (tests/lsl_loopback.cfg keeps LSL on this machine)")
    import pylsl

    from pipeline.engine import EngineConfig, build_processors
    from pipeline.engine.session import Session, session_metadata
    from pipeline.io.events import EventsLog, events_path_for, read_events
    from pipeline.io.log_format import read_log
    from pipeline.io.lsl import LslStreams, model_sha256
    from pipeline.io.sinks import SessionLog
    from pipeline.io.sources import DemoSource

    with tempfile.TemporaryDirectory() as scratch:
        models, model_name = models_dir(args.models, Path(scratch))
        source = DemoSource(live=True)
        config = EngineConfig(models_dir=models)
        processors = build_processors(config)
        metadata = session_metadata("live", source, config, processors)
        streams = LslStreams(outlets=True, model_sha256=model_sha256(metadata))
        log_path = Path(scratch) / "session.csv"
        log = SessionLog(log_path, "csv", metadata, landmarks=True)
        events = EventsLog(events_path_for(log_path), create=True)
        session = Session(source, processors, log, events=events, streams=streams)
        inlets = []
        for source_id in (streams.expression_source_id, streams.markers_source_id):
            inlet = pylsl.StreamInlet(pylsl.resolve_byprop("source_id", source_id, 1, 10.0)[0], max_buflen=120)
            inlet.open_stream(timeout=10.0)
            inlets.append(inlet)
        expression, markers = inlets
        samples: list[tuple[float, float, float]] = []  # (face_id, stamp, received)
        marks: list[tuple[str, float]] = []
        session.start()
        stop = threading.Event()

        def drop_markers() -> None:
            while not stop.wait(1.0):
                result = session.runner.latest()
                if result is not None:
                    session.mark("stimulus", result.frame, value="1")

        dropper = threading.Thread(target=drop_markers, daemon=True)
        dropper.start()
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline + 1.0:
            if time.monotonic() >= deadline and not stop.is_set():
                stop.set()
                session.runner.set_paused(True)
            chunk, stamps = expression.pull_chunk(timeout=0.05)
            now = pylsl.local_clock()
            samples += [(float(sample[0]), stamp, now) for sample, stamp in zip(chunk, stamps, strict=True)]
            chunk, stamps = markers.pull_chunk(timeout=0.0)
            marks += [(sample[0], stamp) for sample, stamp in zip(chunk, stamps, strict=True)]
        session.stop()
        meta = json.loads(log.meta_path.read_text())
        origin = meta["lsl"]["clock"]["time_origin_lsl"]
        rows = [r for r in read_log(log_path) if r["face_id"] is not None]
        matched = min(len(rows), len(samples))
        stamp_vs_capture = [abs(samples[i][1] - (origin + float(rows[i]["time_s"]))) for i in range(matched)]
        ids_agree = all(samples[i][0] == rows[i]["face_id"] for i in range(matched))
        arrival = np.array([received - stamp for _, stamp, received in samples]) * 1000.0
        onsets = [e.onset for e in read_events(events.path)]
        marker_gaps = [abs(stamp - origin - onset) for (_, stamp), onset in zip(marks, onsets, strict=False)]
        print(
            json.dumps(
                {
                    "benchmark": "lsl",
                    "model": model_name,
                    "seconds": args.seconds,
                    "frames_processed": meta["frames"],
                    "face_rows": len(rows),
                    "samples_received": len(samples),
                    "face_ids_agree": ids_agree,
                    "stamp_minus_capture_ms_max": round(max(stamp_vs_capture, default=0.0) * 1000.0, 3),
                    "capture_to_inlet_ms_p50": round(float(np.percentile(arrival, 50)), 1) if len(arrival) else None,
                    "capture_to_inlet_ms_p95": round(float(np.percentile(arrival, 95)), 1) if len(arrival) else None,
                    "markers_sent": meta["lsl"]["markers_sent"],
                    "markers_received": len(marks),
                    "marker_stamp_minus_onset_ms_max": round(max(marker_gaps, default=0.0) * 1000.0, 3),
                    "lsl_minus_monotonic_s": meta["lsl"]["clock"]["lsl_minus_monotonic"],
                    "load": os.getloadavg(),
                    "note": "2-core machine shared with a training job and other work; figures vary with the load",
                }
            )
        )


if __name__ == "__main__":
    main()
