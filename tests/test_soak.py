"""A short soak (benchmarks/soak.py): 300 frames through the real runner, processors and session log.

The hour-long run is the benchmark (it prints RSS figures); here: nothing dropped, the log holds one row per
frame, the queue stays within its bound, and the per-face dictionaries forget faces that left.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.soak import CLIP_FRAMES, run_soak
from pipeline.engine.runner import SessionHistogram


def test_a_short_soak_stays_bounded_and_logs_every_frame(tiny_models_dir: Path, tmp_path: Path) -> None:
    frames = 4 * CLIP_FRAMES  # the face leaves and comes back four times
    figures = run_soak(frames, tiny_models_dir, tmp_path, sample_every=25)
    assert figures["detector"] == "engine", "the production detector is the one soaked by default"
    assert figures["error"] is None and figures["dropped"] == 0
    assert figures["frames_processed"] == frames
    log = figures["log"]
    assert log["frames_written"] == log["distinct_frames_on_disk"] == frames and log["matches_frames"]
    assert log["rows_on_disk"] == log["rows_written"] == frames, "one face or one empty row per frame"
    assert log["faces_seen"] == 4, "a new id each time the face comes back"
    largest = figures["largest"]
    assert largest["capture_queue"] <= figures["queue_size_limit"] == 4
    assert largest["tracking_tracks"] <= 2 and largest["emotion_tracks"] <= 2, "faces that left are forgotten"
    assert largest["runner_events"] == 0 and largest["latency_histogram_bins"] == SessionHistogram.BINS
    assert figures["threads_left"] == []
