"""640x480 test scenes generated from the public-domain portraits, so anyone can reproduce the benchmarks.

One face: Grace Hopper (face about 110 px) sliding across a plain wall. Two faces: Hopper and Eileen Collins
(about 60 px) drifting a little. Three faces: Hopper (about 110 px), Collins (about 60 px) and a smaller Hopper
(about 55 px), all drifting a little from frame to frame.
Every face is well above 40 px so the minimum-face settings 20 and 40 see the same faces.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import cv2
import numpy as np

from pipeline.io.sources import portrait_paths, read_image

SIZE = (640, 480)


def _portrait(index: int, height: int) -> np.ndarray:
    image = read_image(portrait_paths()[index])
    scale = height / image.shape[0]
    return cv2.resize(image, (round(image.shape[1] * scale), height), interpolation=cv2.INTER_AREA)


def _wall() -> np.ndarray:
    width, height = SIZE
    ramp = np.linspace(90, 170, width, dtype=np.float32)[None, :, None]
    return np.broadcast_to(ramp + np.zeros((height, 1, 3), np.float32), (height, width, 3)).astype(np.uint8)


def _paste(canvas: np.ndarray, image: np.ndarray, x: int, y: int) -> None:
    canvas[y : y + image.shape[0], x : x + image.shape[1]] = image


def scene_frames(faces: int, n_frames: int) -> list[np.ndarray]:
    """`n_frames` BGR 640x480 frames with 1, 2 or 3 faces, moving a few pixels per frame."""
    if faces not in (1, 2, 3):
        raise ValueError("scenes have 1, 2 or 3 faces")
    big, medium, small = _portrait(0, 300), _portrait(1, 280), _portrait(0, 150)
    frames = []
    for index in range(n_frames):
        phase = index / max(1, n_frames - 1)
        canvas = _wall().copy()
        if faces == 1:
            _paste(canvas, big, round(20 + 340 * phase), 90)
        else:
            wobble = round(8 * np.sin(2 * np.pi * phase))
            _paste(canvas, big, round(40 * phase), 20)
            _paste(canvas, medium, 300 + wobble, 10)
            if faces == 3:
                _paste(canvas, small, 480 - wobble, 320)
        frames.append(canvas)
    return frames


def write_video(path: Path, frames: list[np.ndarray], fps: float = 30.0) -> Path:
    """Frames to an MJPG .avi (what OpenCV writes everywhere without extra codecs)."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path}")
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def conditions(note: str = "") -> dict[str, object]:
    """The machine and its load, to read the figures by: other work on the CPU changes them a lot."""
    import tensorflow as tf

    return {
        "cpu_count": os.cpu_count(),
        "load_average_1_5_15": [round(v, 2) for v in os.getloadavg()],
        "machine": platform.machine(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "opencv": cv2.__version__,
        "note": note,
    }


def iou(a, b) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    inter = max(0.0, min(ax + aw, bx + bw) - max(ax, bx)) * max(0.0, min(ay + ah, by + bh) - max(ay, by))
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def match_boxes(expected: list, found: list) -> list[float]:
    """For each expected box, the IoU of the best found box (0.0 when none overlaps)."""
    return [max((iou(box, other) for other in found), default=0.0) for box in expected]
