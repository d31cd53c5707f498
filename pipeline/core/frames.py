"""Plain data that flows through the engine: frames in, per-frame results out.

Everything here is immutable once built. A processor returns a new FrameResult (dataclasses.replace),
so the UI and the sinks can read a result from any thread without locks. `result_rows` is the one
converter from a result to log rows; every sink uses it.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from pipeline.core.labels import EMOTIONS

KEYPOINT_NAMES: tuple[str, ...] = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
"""MTCNN's 5 keypoints, in image terms: `left_eye` is the eye on the left of the picture."""

SMOOTHED_PREFIX = "smooth_"

POSE_COLUMNS: tuple[str, ...] = ("pose_Rx", "pose_Ry", "pose_Rz", "pose_Tx", "pose_Ty", "pose_Tz")
"""Head pose as OpenFace logs it: rotation in radians (pitch, yaw, roll), translation in mm (processors/head_pose)."""

EYE_COLUMNS: tuple[str, ...] = ("ear_left", "ear_right", "blinks")
"""Eye aspect ratio of each eye (left and right of the picture) and the face's blink count so far (processors/eyes)."""

LOG_COLUMNS: tuple[str, ...] = (
    "frame",
    "time_s",
    "wall_time",
    "source",
    "face_id",
    "x",
    "y",
    "w",
    "h",
    "det_score",
    *EMOTIONS,
    *(SMOOTHED_PREFIX + e for e in EMOTIONS),
    "emotion",
    "confidence",
    *POSE_COLUMNS,
    *EYE_COLUMNS,
)
"""Columns of the session log, in order: one row per face per processed frame (see README). The pose and eye
columns come from the landmarks and are empty when landmarks are off."""

LANDMARK_POINTS = 68
LANDMARK_COLUMNS: tuple[str, ...] = (
    *(f"x_{i}" for i in range(LANDMARK_POINTS)),
    *(f"y_{i}" for i in range(LANDMARK_POINTS)),
)
"""The 68 landmarks in frame pixels, iBUG 300-W order, named as OpenFace and py-feat name them."""


def log_columns(landmarks: bool) -> tuple[str, ...]:
    """The log's columns: LOG_COLUMNS, then LANDMARK_COLUMNS when the session computes landmarks."""
    return (*LOG_COLUMNS, *LANDMARK_COLUMNS) if landmarks else LOG_COLUMNS


@dataclass(frozen=True, eq=False)
class Frame:
    """One captured image.

    `time_s` is the frame's time in the log (see pipeline/io/sources.py: for a camera, monotonic seconds since the
    session started); `wall_time` the wall clock (seconds since the epoch) at capture; `captured` time.monotonic()
    when the frame was made, which is when it was read (the LSL streams stamp samples with it). `source_name` is
    the file name for image inputs.
    """

    index: int
    time_s: float
    wall_time: float
    image: np.ndarray  # (H, W, 3) uint8, BGR (OpenCV order)
    source_name: str = ""
    captured: float = field(default_factory=time.monotonic)

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


@dataclass(frozen=True, eq=False)
class Face:
    """One face in one frame, filled in stage by stage (detection, tracking, landmarks, emotion)."""

    box: tuple[float, float, float, float]  # x, y, w, h in frame pixels
    score: float  # detection confidence, 0..1
    keypoints: np.ndarray | None = None  # (5, 2) float32, KEYPOINT_NAMES order, frame pixels
    landmarks: np.ndarray | None = None  # (68, 2) float32, iBUG 300-W order, frame pixels
    face_id: int | None = None  # stable per person across frames (tracking)
    probs: np.ndarray | None = None  # (7,) float32 raw softmax, EMOTIONS order
    smoothed: np.ndarray | None = None  # (7,) float32 exponentially smoothed per face_id
    label: str | None = None  # an EMOTIONS name or "unclear"
    confidence: float | None = None  # probability of the top class of the distribution the label came from
    mesh: np.ndarray | None = None  # (468, 3) float32 face mesh, frame pixels (z: depth, same scale), in memory only
    pose: np.ndarray | None = None  # (6,) float64: Rx, Ry, Rz (radians), Tx, Ty, Tz (mm), OpenFace's conventions
    ear_left: float | None = None  # eye aspect ratio of the eye on the left of the picture (iBUG 36-41)
    ear_right: float | None = None  # eye aspect ratio of the eye on the right of the picture (iBUG 42-47)
    blinks: int | None = None  # blinks of this face so far in the session (either eye; see processors/eyes.py)

    def replace(self, **changes) -> Face:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, eq=False)
class FrameResult:
    """A frame and what the processors found in it, with each stage's time in milliseconds."""

    frame: Frame
    faces: tuple[Face, ...] = ()
    timings_ms: dict[str, float] = field(default_factory=dict)

    def replace(self, **changes) -> FrameResult:
        return dataclasses.replace(self, **changes)

    def with_timing(self, stage: str, ms: float) -> FrameResult:
        return dataclasses.replace(self, timings_ms={**self.timings_ms, stage: ms})


def _iso(wall_time: float) -> str:
    return datetime.fromtimestamp(wall_time, UTC).isoformat(timespec="milliseconds")


def _probabilities(values: np.ndarray | None, prefix: str = "") -> dict[str, float | None]:
    if values is None:
        return {prefix + e: None for e in EMOTIONS}
    return {prefix + e: round(float(p), 6) for e, p in zip(EMOTIONS, values, strict=True)}


def _landmarks(points: np.ndarray | None) -> dict[str, float | None]:
    if points is None or np.shape(points) != (LANDMARK_POINTS, 2):
        return dict.fromkeys(LANDMARK_COLUMNS)
    xs = {f"x_{i}": round(float(x), 1) for i, x in enumerate(points[:, 0])}
    return {**xs, **{f"y_{i}": round(float(y), 1) for i, y in enumerate(points[:, 1])}}


def _measures(face: Face) -> dict[str, float | int | None]:
    pose = (
        dict.fromkeys(POSE_COLUMNS)
        if face.pose is None
        else {
            column: round(float(value), 4 if index < 3 else 1)
            for index, (column, value) in enumerate(zip(POSE_COLUMNS, face.pose, strict=True))
        }
    )

    def ratio(value: float | None) -> float | None:
        return None if value is None else round(float(value), 4)

    return {**pose, "ear_left": ratio(face.ear_left), "ear_right": ratio(face.ear_right), "blinks": face.blinks}


def result_rows(result: FrameResult, landmarks: bool = False) -> list[dict[str, object]]:
    """Log rows for a result: one per face, or one with an empty face id when the frame had no face.

    Keys are log_columns(landmarks); missing values are None (an empty CSV cell, a JSON null).
    """
    frame = result.frame
    common = {
        "frame": frame.index,
        "time_s": round(frame.time_s, 4),
        "wall_time": _iso(frame.wall_time),
        "source": frame.source_name,
    }
    if not result.faces:
        return [{**dict.fromkeys(log_columns(landmarks)), **common}]
    rows = []
    for face in result.faces:
        x, y, w, h = face.box
        rows.append(
            {
                **common,
                "face_id": face.face_id,
                "x": round(float(x), 1),
                "y": round(float(y), 1),
                "w": round(float(w), 1),
                "h": round(float(h), 1),
                "det_score": round(float(face.score), 4),
                **_probabilities(face.probs),
                **_probabilities(face.smoothed, SMOOTHED_PREFIX),
                "emotion": face.label,
                "confidence": None if face.confidence is None else round(float(face.confidence), 4),
                **_measures(face),
                **(_landmarks(face.landmarks) if landmarks else {}),
            }
        )
    return rows
