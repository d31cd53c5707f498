"""Soak: one hour of 15 fps video (54,000 frames) through the real runner, processors and session log; one JSON.

    uv run python -m benchmarks.soak [--frames 54000] [--detector engine|held] [--models DIR] [--out DIR]

The video is a generated clip (a portrait that slides across and leaves the view for 2.3 s, so face ids are
made and forgotten every loop) decoded once and looped by `LoopingSource` as a file source, run as fast as
it goes: nothing is dropped, every frame goes through detection -> tracking -> landmarks -> emotion and
into a SessionLog on disk.

Figures: RSS (start, after warm-up, peak, end; growth after warm-up, target < 50 MB), the capture queue's
largest size, the largest size of the per-face dictionaries (tracker, emotion smoother) and of the runner's
event list, and whether the log's rows and frames match the frames sent.

Configuration: `--detector engine` (the default) uses build_processors as it is, so the production detector
(FastMTCNN on LiteRT, tracked between detections) is the one soaked; `--detector held` runs the mtcnn package's
detector (TensorFlow, the train extra) on every 5th frame and holds its boxes in between, as the soak did before
the fast detector was the engine's. Without --models the committed tiny test model (tests/data/tiny-models) is
used: the emotion network's size does not change what the soak looks for (growth, bounds, row counts). The JSON
says which was used.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.core.frames import Frame, FrameResult  # noqa: E402
from pipeline.io.sources import FrameSource, VideoSource  # noqa: E402

FPS = 15.0
CLIP_FRAMES = 75
CLIP_ABSENT = range(40, 75)  # 35 frames = 2.3 s out of view: longer than the tracker and smoother remember
SIZE = (160, 120)


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        resident_pages = int(handle.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class LoopingSource(FrameSource):
    """A file source that plays `images` over and over until `n` frames, numbered and timed at `fps`."""

    live = False
    name = "soak loop"

    def __init__(self, images: list[np.ndarray], n: int, fps: float = FPS) -> None:
        super().__init__()
        self.images, self.n, self.fps = images, n, fps

    def _open(self) -> None:
        pass

    def _next(self) -> Frame | None:
        if self._index >= self.n:
            return None
        image = self.images[self._index % len(self.images)]
        frame = Frame(self._index, self._index / self.fps, time.time(), image, "soak")
        self._index += 1
        return frame

    def _frame_count(self) -> int | None:
        return self.n


class HeldDetector:
    """The package detector on every `every`-th frame; the boxes found are held for the frames in between."""

    def __init__(self, detector, every: int = 5) -> None:
        self.detector, self.every = detector, every
        self._count = 0
        self._faces: tuple = ()

    def detect(self, image_rgb: np.ndarray) -> tuple:
        """The faces of this frame of the clip: detected afresh on every `every`-th frame, else the last ones."""
        if self._count % self.every == 0:
            self._faces = self.detector.detect(image_rgb)
        self._count += 1
        return self._faces

    def close(self) -> None:
        self.detector.close()

    def describe(self) -> dict[str, object]:
        return {**self.detector.describe(), "held_between_detections": self.every}


class SoakProbe:
    """A sink after the session log: every `every` frames it samples RSS, the queue and internal structures."""

    def __init__(self, runner, every: int) -> None:
        self.runner, self.every = runner, every
        self.frames = 0
        self.samples: list[dict[str, float]] = []
        self.largest: dict[str, int] = {}

    def _grow(self, name: str, size: int) -> None:
        self.largest[name] = max(self.largest.get(name, 0), size)

    def write(self, result: FrameResult) -> None:
        self.frames += 1
        runner = self.runner
        self._grow("capture_queue", runner._queue.qsize())
        if self.frames % self.every:
            return
        for processor in runner.processors:
            tracks = getattr(processor, "_tracks", None)
            if tracks is not None:
                self._grow(f"{processor.name}_tracks", len(tracks))
        self._grow("runner_events", len(runner._events))
        self._grow("latency_histogram_bins", len(runner._latencies_ms.counts))  # fixed: the whole session's
        self.samples.append({"frame": self.frames, "rss_mb": round(rss_mb(), 1), "t_s": time.monotonic()})

    def close(self, reason: str | None = None) -> None:
        pass


def generated_clip(folder: Path) -> list[np.ndarray]:
    """Write the clip as a real video file and decode it back (the frames the soak loops)."""
    from tests.media import moving_portrait_frames, write_video

    frames, _ = moving_portrait_frames(n_frames=CLIP_FRAMES, size=SIZE, portrait_height=100, absent=CLIP_ABSENT)
    path = write_video(folder / "soak-clip.avi", frames, fps=FPS)
    source = VideoSource(path)
    images = []
    with source:
        while (frame := source.read()) is not None:
            images.append(frame.image)
    return images


def build(detector: str, models_dir: Path) -> list:
    from pipeline.engine import EngineConfig, build_processors
    from pipeline.processors.detection import DetectionProcessor, PackageMTCNN

    config = EngineConfig(models_dir=models_dir)
    processors = build_processors(config)
    if detector == "held":
        processors[0] = DetectionProcessor(HeldDetector(PackageMTCNN(config.min_face), every=5))
    return processors


def run_soak(
    frames: int, models_dir: Path, out_dir: Path, *, detector: str = "engine", sample_every: int = 500
) -> dict[str, object]:
    """Run the soak and return its figures (see the module docstring)."""
    from pipeline.engine.runner import Runner
    from pipeline.io.sinks import SessionLog

    images = generated_clip(out_dir)
    processors = build(detector, models_dir)
    source = LoopingSource(images, frames)
    log = SessionLog(out_dir / "soak.csv", "csv", {"command": "soak"}, overwrite=True)
    runner = Runner(source, processors, [log])
    probe = SoakProbe(runner, sample_every)
    runner.sinks.append(probe)
    start_rss = rss_mb()
    started = time.monotonic()
    runner.start()
    runner.wait()
    runner.stop(reason=None)
    elapsed = time.monotonic() - started
    stats = runner.stats()
    with log.path.open() as handle:
        next(handle)  # the header
        frame_numbers = {int(line.split(",", 1)[0]) for line in handle}
    rows_on_disk = sum(1 for _ in log.path.open()) - 1
    rss = [s["rss_mb"] for s in probe.samples] or [rss_mb()]
    warm = rss[min(len(rss) - 1, max(1, len(rss) // 10))]  # after a tenth of the run
    return {
        "benchmark": "soak",
        "frames": frames,
        "equivalent_minutes_at_15fps": round(frames / FPS / 60, 1),
        "frame_size": list(SIZE),
        "detector": detector,
        "configuration": (
            "mtcnn package detector on every 5th frame, boxes held between"
            if detector == "held"
            else "build_processors(EngineConfig()) as it is: the production detector (FastMTCNN, tracked)"
        ),
        "models_dir": str(models_dir),
        "elapsed_s": round(elapsed, 1),
        "processed_fps": round(stats.frames_processed / elapsed, 1) if elapsed else None,
        "frames_processed": stats.frames_processed,
        "dropped": stats.dropped,
        "error": stats.error,
        "rss_mb": {
            "start": round(start_rss, 1),
            "after_warmup": warm,
            "peak": max(rss),
            "end": rss[-1],
            "growth_after_warmup": round(rss[-1] - warm, 1),
            "samples": len(rss),
        },
        "largest": probe.largest,
        "queue_size_limit": runner._queue.maxsize,
        "log": {
            "rows_written": log.rows_written,
            "rows_on_disk": rows_on_disk,
            "frames_written": log.frames_written,
            "distinct_frames_on_disk": len(frame_numbers),
            "matches_frames": log.frames_written == len(frame_numbers) == frames,
            "faces_seen": len(log.summary()),
        },
        "threads_left": [t.name for t in threading.enumerate() if t.name.startswith("fertui-")],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=54_000, help="frames to process (default: one hour at 15 fps)")
    parser.add_argument(
        "--detector",
        choices=("engine", "held"),
        default="engine",
        help="engine: the production processors (default); held: the mtcnn package every 5th frame",
    )
    parser.add_argument("--models", type=Path, default=None, help="models folder (default: the tiny test model)")
    parser.add_argument("--out", type=Path, default=None, help="where the log goes (default: a temporary folder)")
    parser.add_argument("--sample-every", type=int, default=500, metavar="N", help="sample RSS every N frames")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch)
        out.mkdir(parents=True, exist_ok=True)
        models = args.models
        if models is None:
            import shutil

            from tests.make_tiny_models import TINY_MODELS

            models = Path(shutil.copytree(TINY_MODELS, Path(scratch) / "tiny-models"))
        figures = run_soak(args.frames, models, out, detector=args.detector, sample_every=args.sample_every)
        figures["model"] = "tiny test model (tests/data/tiny-models)" if args.models is None else str(args.models)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
