"""Labels on generated videos of the test portraits (no expression change), at 10 and 30 fps; one JSON object.

    uv run python -m benchmarks.portrait_videos [--seconds 6] [--fertui-root DIR]

Each portrait (Grace Hopper, Eileen Collins) is filmed by a slowly drifting, zooming virtual camera in three
conditions: `large` (portrait 300 px tall, face about 110 px), `small` (140 px, face about 50 px) and `webcam`
(300 px, dim, low contrast, blurred, with sensor noise); the same motion, a function of time, is rendered at
10 fps and at 30 fps. `fertui analyze` (a fresh process, its
defaults) runs on each video. Reported per video: the share of face rows labelled `unclear` and the labels
seen; per portrait: whether the two frame rates give the same smoothed label sequence over time, "within one
frame of lag": for every face row of the 10 fps video at time t, whether a 30 fps row within one 10 fps frame
(0.1 s) of t has the same label, and the share of rows whose label at exactly the same time agrees.

--fertui-root runs the `fertui` of another checkout (e.g. a worktree of an earlier commit) on the same videos,
to compare before and after a change.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from pipeline.io.log_format import read_log
from pipeline.io.sources import portrait_paths, read_image

ROOT = Path(__file__).resolve().parents[1]
SIZE = (640, 480)


CONDITIONS = {"large": 300, "small": 140, "webcam": 300}
"""Condition -> the portrait's height in pixels."""


def _frame(portrait: np.ndarray, t: float, condition: str) -> np.ndarray:
    """The scene at time t: a wall, and the portrait drifting sideways and zooming in and out slowly."""
    width, height = SIZE
    ramp = np.linspace(90, 170, width, dtype=np.float32)[None, :, None]
    canvas = np.broadcast_to(ramp + np.zeros((height, 1, 3), np.float32), (height, width, 3)).astype(np.uint8).copy()
    scale = CONDITIONS[condition] / portrait.shape[0] * (1.0 + 0.08 * np.sin(2 * np.pi * t / 5.0))
    face = cv2.resize(portrait, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    x = int(round(150 + 120 * np.sin(2 * np.pi * t / 6.0)))
    y = int(round((height - face.shape[0]) / 2 + 20 * np.sin(2 * np.pi * t / 4.0)))
    x, y = max(0, min(width - face.shape[1], x)), max(0, min(height - face.shape[0], y))
    canvas[y : y + face.shape[0], x : x + face.shape[1]] = face
    if condition == "webcam":
        dim = cv2.GaussianBlur(canvas.astype(np.float32), (0, 0), 1.2) * 0.55 + 20
        noise = np.random.default_rng(round(t * 1000)).normal(0.0, 6.0, canvas.shape)
        canvas = np.clip(dim + noise, 0, 255).astype(np.uint8)
    return canvas


def _write_video(path: Path, portrait: np.ndarray, fps: float, seconds: float, condition: str) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, SIZE)
    for index in range(int(round(seconds * fps))):
        writer.write(_frame(portrait, index / fps, condition))
    writer.release()
    return path


def _analyze(video: Path, root: Path) -> list[dict]:
    log = video.with_suffix(".csv")
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.commands.cli", "analyze", str(video), "--out", str(log), "--overwrite"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"fertui analyze {video} failed: {done.stderr[-2000:]}")
    return [row for row in read_log(log) if row["face_id"] is not None]


def _video_figures(rows: list[dict]) -> dict:
    labels = Counter(str(row["emotion"]) for row in rows)
    return {
        "face_rows": len(rows),
        "unclear_share": round(labels["unclear"] / len(rows), 4) if rows else None,
        "labels": dict(labels.most_common()),
        "mean_confidence": round(float(np.mean([row["confidence"] for row in rows])), 4) if rows else None,
    }


def _agreement(slow: list[dict], fast: list[dict], lag_s: float) -> dict:
    fast_times = np.array([row["time_s"] for row in fast])
    within_lag = same_time = compared = 0
    for row in slow:
        near = np.flatnonzero(np.abs(fast_times - row["time_s"]) <= lag_s + 1e-6)
        if len(near) == 0:
            continue
        compared += 1
        within_lag += any(fast[i]["emotion"] == row["emotion"] for i in near)
        exact = near[np.argmin(np.abs(fast_times[near] - row["time_s"]))]
        same_time += fast[exact]["emotion"] == row["emotion"]
    return {
        "rows_compared": compared,
        "same_label_within_one_frame": round(within_lag / compared, 4) if compared else None,
        "same_label_at_the_same_time": round(same_time / compared, 4) if compared else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--fertui-root", type=Path, default=ROOT, help="checkout whose fertui runs (default: this)")
    args = parser.parse_args()

    videos: dict[str, dict] = {}
    all_rows: list[dict] = []
    with tempfile.TemporaryDirectory() as scratch:
        for name, path in zip(("hopper", "collins"), portrait_paths(), strict=True):
            portrait = read_image(path)
            assert portrait is not None, path
            for condition in CONDITIONS:
                rows = {}
                for fps in (10, 30):
                    video = Path(scratch) / f"{name}-{condition}-{fps}fps.avi"
                    rows[fps] = _analyze(_write_video(video, portrait, fps, args.seconds, condition), args.fertui_root)
                    all_rows += rows[fps]
                videos[f"{name}-{condition}"] = {
                    "10fps": _video_figures(rows[10]),
                    "30fps": _video_figures(rows[30]),
                    "10_vs_30fps": _agreement(rows[10], rows[30], lag_s=0.1),
                }
    result = {
        "fertui_root": str(args.fertui_root),
        "seconds": args.seconds,
        "unclear_share_all_rows": _video_figures(all_rows)["unclear_share"],
        "videos": videos,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
