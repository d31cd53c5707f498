"""Overlays drawn at the image's own pixel resolution: face boxes with captions, landmark dots.

Half-blocks draw overlays into a 2-pixels-per-cell grid and write captions as text cells (tui/render.py);
a pixel image has room for thin lines, real dots and a caption in pixels instead.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from pipeline.core.frames import Face
from tui.render import LANDMARK_COLOR, emotion_color, face_caption

FONT = cv2.FONT_HERSHEY_SIMPLEX


def annotate(
    rgb: np.ndarray, faces: Iterable[Face], scale_x: float, scale_y: float, *, boxes: bool, landmarks: bool
) -> None:
    """Draw on `rgb` (in place) the faces given in frame coordinates, scaled by (scale_x, scale_y)."""
    height, width = rgb.shape[:2]
    thickness = max(1, round(min(width, height) / 240))
    for face in faces:
        if landmarks:
            points = face.landmarks if face.landmarks is not None else face.keypoints
            if points is not None:
                for x, y in np.asarray(points, dtype=np.float64):
                    center = (int(x * scale_x), int(y * scale_y))
                    cv2.circle(rgb, center, thickness, LANDMARK_COLOR, thickness=-1)
        if boxes:
            color = emotion_color(face.label)
            x, y, w, h = face.box
            top_left = (int(x * scale_x), int(y * scale_y))
            bottom_right = (int((x + w) * scale_x), int((y + h) * scale_y))
            cv2.rectangle(rgb, top_left, bottom_right, color, thickness=thickness)
            _caption(rgb, face_caption(face), top_left, color, thickness)


def _caption(rgb: np.ndarray, text: str, anchor: tuple[int, int], color: tuple[int, int, int], thickness: int):
    """Dark text on a box-coloured band above the box (inside its top edge when the box touches the top)."""
    font_scale = 0.35 * thickness
    (text_w, text_h), baseline = cv2.getTextSize(text, FONT, font_scale, 1)
    x, y = anchor
    band_h = text_h + baseline + 2
    top = y - band_h if y - band_h >= 0 else y
    cv2.rectangle(rgb, (x, top), (x + text_w + 2, top + band_h), color, thickness=-1)
    cv2.putText(rgb, text, (x + 1, top + text_h + 1), FONT, font_scale, (0, 0, 0), 1, cv2.LINE_AA)
