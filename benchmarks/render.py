"""Renderer cost: milliseconds and bytes per frame at 80x24 video cells, per colour mode. Prints one JSON object.

Input: 60 frames of the demo source (the two portraits, a wandering camera; 640x480) with Gaussian sensor
noise (sigma 5) added, as a webcam would have. "app" rows use the app's settings (hysteresis on, rows
reused when unchanged); bytes are what the changed rows cost in Textual's output (SGR + text + reset per
segment, a cursor move per row). Run: uv run python -m benchmarks.render
"""

from __future__ import annotations

import json
import os
import time

import numpy as np

from pipeline.io.sources import DemoSource
from tui.render import COLOR_MODES, HalfBlockRenderer, strips_bytes
from tui.render_loop import HYSTERESIS

COLS, ROWS = 80, 24
FRAMES = 60
NOISE_SIGMA = 5.0


def frames() -> list[np.ndarray]:
    source = DemoSource(live=False)
    rng = np.random.default_rng(0)
    out = []
    with source:
        for _ in range(FRAMES):
            image = source.read().image.astype(np.float32)
            out.append(np.clip(image + rng.normal(0, NOISE_SIGMA, image.shape), 0, 255).astype(np.uint8))
    return out


def measure(images: list[np.ndarray], colors: str, hysteresis: int) -> dict[str, float]:
    renderer = HalfBlockRenderer(colors, hysteresis=hysteresis)
    renderer.render_frame(images[0], COLS, ROWS)  # warm the style cache a little, as a running app has
    times, sent, full = [], [], []
    for image in images[1:]:
        started = time.perf_counter()
        frame = renderer.render_frame(image, COLS, ROWS)
        times.append((time.perf_counter() - started) * 1000.0)
        sent.append(strips_bytes(frame.strips[y] for y in frame.dirty_rows))
        full.append(strips_bytes(frame.strips))
    return {
        "ms_per_frame_mean": round(float(np.mean(times)), 2),
        "ms_per_frame_p95": round(float(np.percentile(times, 95)), 2),
        "bytes_per_frame_changed_rows": round(float(np.mean(sent))),
        "bytes_per_frame_full_repaint": round(float(np.mean(full))),
    }


def main() -> None:
    images = frames()
    results = {
        "video_cells": [COLS, ROWS],
        "frames": len(images) - 1,
        "input": f"demo source 640x480 + sensor noise sigma {NOISE_SIGMA}",
        "load_average_1m": round(os.getloadavg()[0], 2),  # a busy machine inflates the milliseconds
        "app": {mode: measure(images, mode, HYSTERESIS) for mode in COLOR_MODES},
        "no_hysteresis": {mode: measure(images, mode, 0) for mode in COLOR_MODES},
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
