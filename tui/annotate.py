"""The one annotator: where a face's box, caption and landmark dots go on a frame, and how they look.

`face_marks` is the geometry every view shares: the faces, given in frame coordinates, scaled to an image of
another size. `annotate` draws them at the image's own pixel resolution (thin lines, real dots, a caption in
pixels): the Sixel and Kitty pane draws its scaled frame with it, and a snapshot (`s`) its full-resolution frame,
so a snapshot looks like the pixel pane. The half-block renderer (tui/render.py) places the same marks on its
2-pixels-per-cell grid and writes the captions as text cells.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.core.frames import Face, FrameResult
from pipeline.core.labels import EMOTIONS, UNCLEAR

FONT = cv2.FONT_HERSHEY_SIMPLEX

EMOTION_COLORS: dict[str, tuple[int, int, int]] = {
    "angry": (230, 60, 50),
    "disgust": (90, 180, 60),
    "fear": (170, 90, 220),
    "happy": (250, 210, 40),
    "sad": (60, 120, 230),
    "surprise": (250, 140, 30),
    "neutral": (180, 180, 180),
    UNCLEAR: (240, 240, 240),
}
"""RGB colour of each label, used for face boxes, labels and bars."""
NO_LABEL_COLOR = (0, 200, 200)
LANDMARK_COLOR = (60, 255, 120)

assert set(EMOTIONS) <= set(EMOTION_COLORS)


def emotion_color(label: str | None) -> tuple[int, int, int]:
    return EMOTION_COLORS.get(label or "", NO_LABEL_COLOR)


def face_caption(face: Face) -> str:
    ident = "?" if face.face_id is None else str(face.face_id)
    if face.label is None:
        return f"#{ident}"
    confidence = "" if face.confidence is None else f" {face.confidence:.2f}"
    return f"#{ident} {face.label}{confidence}"


def to_pixel(point: Iterable[float], scale_x: float, scale_y: float) -> tuple[int, int]:
    x, y = point
    return (int(x * scale_x), int(y * scale_y))


@dataclass(frozen=True)
class FaceMarks:
    """One face's marks in an image's pixels: box corners (None: boxes off), landmark dots (None: landmarks off or
    none found), caption and colour (RGB)."""

    top_left: tuple[int, int] | None
    bottom_right: tuple[int, int] | None
    points: np.ndarray | None  # (N, 2) int pixel coordinates
    caption: str
    color: tuple[int, int, int]


def face_marks(
    faces: Iterable[Face], scale_x: float, scale_y: float, *, boxes: bool, landmarks: bool
) -> list[FaceMarks]:
    """The marks of `faces` (frame coordinates) on an image scaled by (scale_x, scale_y) from the frame."""
    marks = []
    for face in faces:
        points = None
        if landmarks:
            found = face.landmarks if face.landmarks is not None else face.keypoints
            if found is not None:
                scaled = np.asarray(found, dtype=np.float64) * (scale_x, scale_y)
                points = scaled.astype(int)
        top_left = bottom_right = None
        if boxes:
            x, y, w, h = face.box
            top_left = to_pixel((x, y), scale_x, scale_y)
            bottom_right = to_pixel((x + w, y + h), scale_x, scale_y)
        marks.append(FaceMarks(top_left, bottom_right, points, face_caption(face), emotion_color(face.label)))
    return marks


def annotate(
    rgb: np.ndarray, faces: Iterable[Face], scale_x: float, scale_y: float, *, boxes: bool, landmarks: bool
) -> None:
    """Draw on `rgb` (in place) the faces given in frame coordinates, scaled by (scale_x, scale_y)."""
    height, width = rgb.shape[:2]
    thickness = max(1, round(min(width, height) / 240))
    for mark in face_marks(faces, scale_x, scale_y, boxes=boxes, landmarks=landmarks):
        if mark.points is not None:
            for x, y in mark.points:
                cv2.circle(rgb, (int(x), int(y)), thickness, LANDMARK_COLOR, thickness=-1)
        if mark.top_left is not None and mark.bottom_right is not None:
            cv2.rectangle(rgb, mark.top_left, mark.bottom_right, mark.color, thickness=thickness)
            _caption(rgb, mark.caption, mark.top_left, mark.color, thickness)


def annotated_frame(result: FrameResult, *, boxes: bool = True, landmarks: bool = True) -> np.ndarray:
    """The frame at full resolution (BGR, as OpenCV writes it) with what the pixel pane shows."""
    rgb = cv2.cvtColor(result.frame.image, cv2.COLOR_BGR2RGB)
    annotate(rgb, result.faces, 1.0, 1.0, boxes=boxes, landmarks=landmarks)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def _caption(rgb: np.ndarray, text: str, anchor: tuple[int, int], color: tuple[int, int, int], thickness: int):
    """Dark text on a box-coloured band above the box (inside its top edge when the box touches the top)."""
    font_scale = 0.35 * thickness
    (text_w, text_h), baseline = cv2.getTextSize(text, FONT, font_scale, 1)
    x, y = anchor
    band_h = text_h + baseline + 2
    top = y - band_h if y - band_h >= 0 else y
    cv2.rectangle(rgb, (x, top), (x + text_w + 2, top + band_h), color, thickness=-1)
    cv2.putText(rgb, text, (x + 1, top + text_h + 1), FONT, font_scale, (0, 0, 0), 1, cv2.LINE_AA)
