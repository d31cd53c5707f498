"""Fakes for the app's tests: a source of fixed frames made from the portraits, and fixed results.

The Pilot and snapshot tests drive the real app, the real Runner and the real SessionLog; only what
would make the screen non-deterministic (camera, models) is replaced here.
"""

from __future__ import annotations

import math
import time
from functools import cache

import cv2
import numpy as np
from matplotlib import cbook

from pipeline.core.frames import Face, Frame, FrameResult
from pipeline.core.labels import EMOTIONS
from pipeline.io.sources import FrameSource
from pipeline.processors.base import Processor

FRAME_SIZE = (320, 240)


@cache
def portrait_frame() -> np.ndarray:
    """Grace Hopper's portrait (public domain, shipped with matplotlib) as a 320x240 BGR frame."""
    image = cv2.imread(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    frame = np.full((FRAME_SIZE[1], FRAME_SIZE[0], 3), 40, np.uint8)
    portrait = cv2.resize(image, (200, 240), interpolation=cv2.INTER_AREA)
    frame[:, 60:260] = portrait
    frame.setflags(write=False)
    return frame


class FakeSource(FrameSource):
    """The same portrait frame again and again, paced like a camera (or as fast as read)."""

    def __init__(self, *, fps: float = 20.0, live: bool = True, max_frames: int | None = None) -> None:
        super().__init__(max_frames)
        self.name = "fake"
        self.live = live
        self.fps = fps
        self._index = 0

    def _open(self) -> None:
        self._index = 0

    def _next(self) -> Frame | None:
        index = self._index
        if self.live:
            delay = self._start_mono + index / self.fps - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        self._index += 1
        return Frame(index, index / self.fps, time.time(), portrait_frame(), "fake")

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "resolution": list(FRAME_SIZE), "fps": self.fps}


def face_landmarks(x: float, y: float, w: float, h: float) -> np.ndarray:
    """A plausible 68-point iBUG layout inside a box (jaw arc, brows, nose, eyes, lips), float32 (68, 2)."""
    points: list[tuple[float, float]] = []
    for i in range(17):  # jaw: a half ellipse from ear to ear
        a = math.pi * (1 - i / 16)
        points.append((0.5 + 0.48 * math.cos(a), 0.45 + 0.5 * math.sin(a)))
    for start in (0.15, 0.6):  # brows
        points += [(start + 0.05 * i, 0.3 - 0.04 * math.sin(math.pi * i / 4)) for i in range(5)]
    points += [(0.5, 0.38 + 0.06 * i) for i in range(4)]  # nose bridge
    points += [(0.42 + 0.04 * i, 0.62 + 0.02 * (i in (1, 2, 3))) for i in range(5)]  # nostrils
    for cx in (0.3, 0.7):  # eyes: six points around an ellipse
        points += [(cx + 0.08 * math.cos(a), 0.4 + 0.03 * math.sin(a)) for a in np.linspace(math.pi, -math.pi, 7)[:6]]
    points += [(0.5 + 0.16 * math.cos(a), 0.78 + 0.06 * math.sin(a)) for a in np.linspace(math.pi, -math.pi, 13)[:12]]
    points += [(0.5 + 0.1 * math.cos(a), 0.78 + 0.025 * math.sin(a)) for a in np.linspace(math.pi, -math.pi, 9)[:8]]
    unit = np.array(points, np.float32)
    return unit * np.array([w, h], np.float32) + np.array([x, y], np.float32)


def fixed_face(
    face_id: int, box: tuple[float, float, float, float], label: str, pose: tuple[float, ...] | None = None
) -> Face:
    probs = np.full(len(EMOTIONS), 0.04, np.float32)
    probs[EMOTIONS.index(label)] = 1.0 - 0.04 * (len(EMOTIONS) - 1)
    x, y, w, h = box
    keypoints = np.array(
        [
            [x + 0.3 * w, y + 0.4 * h],
            [x + 0.7 * w, y + 0.4 * h],
            [x + 0.5 * w, y + 0.6 * h],
            [x + 0.35 * w, y + 0.8 * h],
            [x + 0.65 * w, y + 0.8 * h],
        ],
        np.float32,
    )
    return Face(
        box=box,
        score=0.99,
        keypoints=keypoints,
        landmarks=face_landmarks(*box),
        face_id=face_id,
        probs=probs,
        smoothed=probs,
        label=label,
        confidence=float(probs.max()),
        pose=None if pose is None else np.array(pose),
        blinks=None if pose is None else face_id + 2,
    )


FIXED_FACES = (
    fixed_face(1, (110.0, 40.0, 100.0, 120.0), "happy", pose=(-0.12, 0.31, -0.05, 20.0, -30.0, 600.0)),
    fixed_face(2, (250.0, 150.0, 50.0, 60.0), "sad"),
)


class FixedResultsProcessor(Processor):
    """Adds the same faces to every frame (what detection, tracking and emotion would have found)."""

    name = "fixed"

    def __init__(self, faces: tuple[Face, ...] = FIXED_FACES) -> None:
        self.faces = faces

    def process(self, result: FrameResult) -> FrameResult:
        return result.replace(faces=self.faces)
