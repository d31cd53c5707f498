"""Eyes: the eye aspect ratio of each eye every frame, and blinks found in time.

The eye aspect ratio (Soukupova and Cech, 2016, "Real-Time Eye Blink Detection using Facial Landmarks") of an
eye's six iBUG points p1..p6 is (|p2 - p6| + |p3 - p5|) / (2 |p1 - p4|): about 0.25-0.35 open, near 0.1 closed.
It works on the 68 points of either landmark stage.

A blink is a closure in time, not in frames, so it means the same at 5 and 30 fps: the ratio drops below a
per-face adaptive threshold (CLOSED_FRACTION of the face's open-eye level, a slow running average of the open
samples) and comes back within MIN_BLINK_S..MAX_BLINK_S. A closure is timed from halfway between the last open
and the first closed sample to halfway between the last closed and the first open one. Longer closures are eyes
shut, not blinks; a gap in the face's samples longer than MAX_GAP_S (the face was lost) ends a closure uncounted.
Each eye is watched on its own; the face blinks when both eyes close together (the larger of the two ratios
drops), so a wink counts for its eye only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from pipeline.core.frames import FrameResult
from pipeline.processors.base import Processor

LEFT_EYE = (36, 37, 38, 39, 40, 41)  # iBUG points of the eye on the left of the picture (p1..p6)
RIGHT_EYE = (42, 43, 44, 45, 46, 47)
MIN_BLINK_S = 0.05
MAX_BLINK_S = 0.5
CLOSED_FRACTION = 0.7  # closed: below 70% of the face's open-eye level
OPEN_LEVEL_TIME_S = 2.0  # time constant of the open-eye level's running average
MAX_GAP_S = 0.5  # a face unseen for longer than this starts its eyes afresh (a closure across the gap is dropped)


def eye_aspect_ratio(points: np.ndarray) -> float:
    """(|p2 - p6| + |p3 - p5|) / (2 |p1 - p4|) of an eye's six points (6, 2)."""
    p1, p2, p3, p4, p5, p6 = np.asarray(points, dtype=np.float64)
    width = np.linalg.norm(p1 - p4)
    if width <= 0:
        return float("nan")
    return float((np.linalg.norm(p2 - p6) + np.linalg.norm(p3 - p5)) / (2 * width))


_BOTH_EYES = np.array([LEFT_EYE, RIGHT_EYE])


def eye_ratios(landmarks: np.ndarray) -> tuple[float, float]:
    """The eye aspect ratios of the eye on the left and on the right of the picture (both eyes in one array
    expression: this runs for every face in every frame)."""
    eyes = np.asarray(landmarks, dtype=np.float64)[_BOTH_EYES]  # (2 eyes, p1..p6, xy)
    # p2 - p6, p3 - p5 and p1 - p4 for both eyes: (2, 3) lengths
    lengths = np.linalg.norm(eyes[:, [1, 2, 0]] - eyes[:, [5, 4, 3]], axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(lengths[:, 2] > 0, (lengths[:, 0] + lengths[:, 1]) / (2 * lengths[:, 2]), np.nan)
    return float(ratios[0]), float(ratios[1])


@dataclass(frozen=True)
class Blink:
    onset_s: float  # when the eye closed, on the frames' time_s clock
    duration_s: float


@dataclass
class BlinkDetector:
    """Blinks in one eye-aspect-ratio signal, fed sample by sample with `add(time_s, ratio)`."""

    closed_fraction: float = CLOSED_FRACTION
    level_time_s: float = OPEN_LEVEL_TIME_S
    blinks: list[Blink] = field(default_factory=list)
    open_level: float | None = None
    _last_time: float | None = None
    _closed_since: float | None = None  # estimated closing time of the closure under way
    _last_closed: float | None = None

    @property
    def threshold(self) -> float | None:
        return None if self.open_level is None else self.closed_fraction * self.open_level

    def add(self, time_s: float, ratio: float) -> Blink | None:
        """One sample; returns the blink it completes, if any."""
        if not np.isfinite(ratio):
            return None
        previous = self._last_time
        if previous is not None and time_s - previous > MAX_GAP_S:
            self._closed_since = self._last_closed = None  # the face was away: no closure spans the gap
            previous = None
        self._last_time = time_s
        if self.open_level is None:
            self.open_level = ratio
            return None
        threshold = self.closed_fraction * self.open_level
        if ratio < threshold:
            if self._closed_since is None:
                self._closed_since = time_s if previous is None else (previous + time_s) / 2
            self._last_closed = time_s
            return None
        blink = None
        if self._closed_since is not None and self._last_closed is not None:
            duration = (self._last_closed + time_s) / 2 - self._closed_since
            if MIN_BLINK_S <= duration <= MAX_BLINK_S:
                blink = Blink(self._closed_since, duration)
                self.blinks.append(blink)
        self._closed_since = self._last_closed = None
        # the open level follows open samples only, with a time constant in seconds
        step = 1.0 if previous is None else min(1.0, (time_s - previous) / self.level_time_s)
        self.open_level += step * (ratio - self.open_level)
        return blink


@dataclass
class FaceEyes:
    left: BlinkDetector = field(default_factory=BlinkDetector)
    right: BlinkDetector = field(default_factory=BlinkDetector)
    both: BlinkDetector = field(default_factory=BlinkDetector)


BlinkListener = Callable[[int, Blink, int], None]
"""Called with (face id, blink, frame index) for each blink of a face (both eyes)."""


class EyeProcessor(Processor):
    """Face.ear_left, ear_right every frame with landmarks; Face.blinks, the face's blinks so far (video).

    Photos (`per_image`) get the ratios only: a blink needs time. `on_blink` hears each blink as it ends (the
    session writes it to the events file).
    """

    name = "eyes"

    def __init__(self, *, per_image: bool = False, on_blink: BlinkListener | None = None) -> None:
        self.per_image = per_image
        self.on_blink = on_blink
        self.faces: dict[int, FaceEyes] = {}

    def process(self, result: FrameResult) -> FrameResult:
        if not any(face.landmarks is not None for face in result.faces):
            return result
        time_s = result.frame.time_s
        faces = []
        for face in result.faces:
            if face.landmarks is None:
                faces.append(face)
                continue
            left, right = eye_ratios(face.landmarks)
            if self.per_image or face.face_id is None:
                faces.append(face.replace(ear_left=left, ear_right=right))
                continue
            eyes = self.faces.setdefault(face.face_id, FaceEyes())
            eyes.left.add(time_s, left)
            eyes.right.add(time_s, right)
            blink = eyes.both.add(time_s, max(left, right))  # both eyes shut: the wider one shuts
            if blink is not None and self.on_blink is not None:
                self.on_blink(face.face_id, blink, result.frame.index)
            faces.append(face.replace(ear_left=left, ear_right=right, blinks=len(eyes.both.blinks)))
        return result.replace(faces=tuple(faces))

    def blink_counts(self) -> dict[str, dict[str, int]]:
        """Per face id: blinks of both eyes together, and of each eye on its own (the sidecar's `blinks`)."""
        return {
            str(face_id): {
                "blinks": len(eyes.both.blinks),
                "left": len(eyes.left.blinks),
                "right": len(eyes.right.blinks),
            }
            for face_id, eyes in sorted(self.faces.items())
        }

    def describe(self) -> dict[str, object]:
        return {"name": self.name, "blink_s": [MIN_BLINK_S, MAX_BLINK_S], "closed_fraction": CLOSED_FRACTION}
