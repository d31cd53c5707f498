"""Throughput of `fertui batch` with 1 and 2 local jobs, against `fertui analyze` run on each input in turn.

    uv run python -m benchmarks.batch [--videos 4] [--frames 150] [--faces 2]

Generates `--videos` 640x480 scenes (benchmarks.scenes), then times, side by side in one run and each as the
real command in a fresh process: `analyze` on every video one after another, `batch --jobs 1` and
`batch --jobs 2`. Prints JSON: wall seconds, frames per second over the whole corpus, the per-frame cost of a
batch task against analyze's (from the sidecars' processing time), and the jobs-2 / jobs-1 speed-up.
Run it on an otherwise idle machine (no training): every figure shares the cores.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.scenes import conditions, scene_frames, write_video

ROOT = Path(__file__).resolve().parents[1]


def _fertui(*args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.commands.cli", *args], cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"fertui {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def _processing_ms_per_frame(sidecars: list[Path]) -> float:
    """Mean processing time per frame over the logs: the sum of the stages' mean times the runner recorded in
    each sidecar (start-up, model loading and process creation excluded)."""
    total_ms = frames = 0.0
    for sidecar in sidecars:
        meta = json.loads(sidecar.read_text())
        total_ms += sum(meta["run"]["stage_ms"].values()) * meta["frames"]
        frames += meta["frames"]
    return total_ms / frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--faces", type=int, default=2, choices=(1, 2, 3))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "corpus"
        folder.mkdir()
        frames = scene_frames(args.faces, args.frames)
        videos = [write_video(folder / f"v{i}.avi", frames) for i in range(args.videos)]
        total_frames = args.videos * args.frames

        analyze_s = 0.0
        analyze_logs = []
        for video in videos:
            log = Path(scratch) / f"{video.stem}.csv"
            analyze_s += _fertui("analyze", str(video), "--out", str(log))
            analyze_logs.append(Path(f"{log}.meta.json"))
        runs = {"analyze_each": {"wall_s": round(analyze_s, 2)}}
        per_frame = {"analyze_each": _processing_ms_per_frame(analyze_logs)}
        for jobs in (1, 2):
            out = Path(scratch) / f"batch{jobs}"
            wall = _fertui("batch", str(folder), "--out", str(out), "--jobs", str(jobs))
            runs[f"batch_jobs_{jobs}"] = {"wall_s": round(wall, 2)}
            per_frame[f"batch_jobs_{jobs}"] = _processing_ms_per_frame(sorted(out.glob("*.meta.json")))
        for name, run in runs.items():
            run["corpus_fps"] = round(total_frames / run["wall_s"], 2)
            run["processing_ms_per_frame"] = round(per_frame[name], 2)
        result = {
            "benchmark": "batch",
            "videos": args.videos,
            "frames_per_video": args.frames,
            "faces": args.faces,
            "runs": runs,
            "speedup_jobs_2_over_1": round(runs["batch_jobs_1"]["wall_s"] / runs["batch_jobs_2"]["wall_s"], 3),
            "batch_jobs_1_per_frame_over_analyze": round(per_frame["batch_jobs_1"] / per_frame["analyze_each"], 3),
            "batch_jobs_1_wall_over_analyze_each": round(runs["batch_jobs_1"]["wall_s"] / analyze_s, 3),
            "conditions": conditions(),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
