"""Live mode on a camera-like source paced at 30 fps: capture-to-result latency (p50/p95) and the drop rate.

    uv run python -m benchmarks.latency [--seconds 10] [--models DIR]

The engine runs as in `fertui` live mode (the same processors from EngineConfig, the Runner with its
drop-oldest queue) on generated 640x480 frames (1 face, 3 faces) delivered at 30 fps by a paced source.
Latency is measured per result, from the moment the source handed the frame over to the moment the
result reached the sinks; the first second is left out (graphs meeting their first shapes). Dropped = frames
the capture queue discarded because processing fell behind. Without a trained model (models/MODEL_CARD.md) a
tiny test model is built and the JSON says "model": "tiny test model". Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.analyze_video import models_dir
from benchmarks.scenes import conditions, scene_frames
from pipeline.core.frames import Frame, FrameResult
from pipeline.io.sources import FrameSource

FPS = 30.0
WARMUP_S = 1.0


class PacedFrames(FrameSource):
    """Frames delivered like a camera at `fps` (live: the runner drops the oldest when it falls behind)."""

    name = "paced"
    live = True

    def __init__(self, images: list[np.ndarray], fps: float, seconds: float) -> None:
        super().__init__(max_frames=int(fps * seconds))
        self.images = images
        self.fps = fps
        self.captured_at: dict[int, float] = {}
        self._index = 0
        self._clock_start = 0.0

    def _open(self) -> None:
        self._index = 0
        self._clock_start = time.monotonic()

    def _next(self) -> Frame | None:
        delay = self._clock_start + self._index / self.fps - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        now = time.monotonic()
        index = self._index
        self._index += 1
        self.captured_at[index] = now
        return Frame(index, now - self._clock_start, time.time(), self.images[index % len(self.images)], self.name)

    def _close(self) -> None:
        pass

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "resolution": [640, 480], "fps": self.fps}


class LatencySink:
    """Records, for every result, the time from capture to this sink."""

    def __init__(self, source: PacedFrames) -> None:
        self.source = source
        self.latencies: list[tuple[float, float]] = []  # (capture time since start, latency ms)
        self.faces: list[int] = []

    def write(self, result: FrameResult) -> None:
        now = time.monotonic()
        captured = self.source.captured_at[result.frame.index]
        self.latencies.append((result.frame.time_s, (now - captured) * 1000.0))
        self.faces.append(len(result.faces))

    def close(self, reason: str | None = None) -> None:
        pass


def run_live(images: list[np.ndarray], seconds: float, models: Path) -> dict[str, object]:
    from pipeline.engine import EngineConfig, build_processors
    from pipeline.engine.runner import Runner

    processors = build_processors(EngineConfig(models_dir=models))
    source = PacedFrames(images, FPS, seconds)
    sink = LatencySink(source)
    runner = Runner(source, processors, [sink])
    runner.start()
    runner.wait(timeout=seconds + 30)
    stats = runner.stats()
    runner.stop(reason=None)
    steady = [ms for at, ms in sink.latencies if at >= WARMUP_S]
    return {
        "frames_captured": stats.frames_captured,
        "frames_processed": stats.frames_processed,
        "dropped": stats.dropped,
        "drop_rate": round(stats.dropped / max(1, stats.frames_captured), 3),
        "latency_ms_p50": round(float(np.percentile(steady, 50)), 1) if steady else None,
        "latency_ms_p95": round(float(np.percentile(steady, 95)), 1) if steady else None,
        "latency_ms_max": round(max(steady), 1) if steady else None,
        "processed_fps": round(stats.frames_processed / seconds, 1),
        "mean_faces_per_result": round(float(np.mean(sink.faces)), 2) if sink.faces else 0.0,
        "stage_ms": {name: round(ms, 2) for name, ms in stats.stage_ms.items()},
        "error": stats.error,
    }


def run(seconds: float, requested_models: Path | None) -> dict[str, object]:
    start_conditions = conditions(
        "2-core machine shared with a training job and other work; figures vary with the load"
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="fertui-latency-") as scratch:
        models, model_name = models_dir(requested_models, Path(scratch))
        for faces in (1, 3):
            images = scene_frames(faces, int(FPS * 4))  # a 4 s loop of motion
            results.append({"scene": f"{faces} face{'s' if faces > 1 else ''}", **run_live(images, seconds, models)})
    return {
        "benchmark": "latency",
        "source": {"size": [640, 480], "fps": FPS, "seconds": seconds, "warmup_left_out_s": WARMUP_S},
        "settings": "EngineConfig defaults (FastMTCNN, detect every 5, landmarks on)",
        "model": model_name,
        "conditions_start": start_conditions,
        "conditions_end": conditions(),
        "targets": {"latency_ms_p50": "<= 100", "latency_ms_p95": "<= 200"},
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of live input per scene (default 10)")
    parser.add_argument(
        "--models", type=Path, default=None, help="models folder (default: models/, else a tiny test model)"
    )
    args = parser.parse_args()
    print(json.dumps(run(args.seconds, args.models), indent=2))


if __name__ == "__main__":
    main()
