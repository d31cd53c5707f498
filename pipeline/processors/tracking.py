"""Stable face ids across frames by box overlap.

Each face is matched to a live track greedily by IoU (highest overlap first); a face that matched no
track by overlap may still match by position (a fast move between two processed frames: centres less
than half a face apart, similar size). A track survives `max_gap_s` seconds without being seen (by
frame time, not frame count, so it means the same at 5 and 30 fps); unmatched faces get a new id, and
ids are never reused within a session.

Photos (one image, a folder) are not a sequence: PerImageFaceIds numbers the faces of each image on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.core.frames import Face, FrameResult
from pipeline.processors.base import Processor


def iou_matrix(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """IoU of every box in `boxes_a` (N, 4 xywh) with every box in `boxes_b` (M, 4 xywh): (N, M)."""
    a = boxes_a[:, None, :]
    b = boxes_b[None, :, :]
    left = np.maximum(a[..., 0], b[..., 0])
    top = np.maximum(a[..., 1], b[..., 1])
    right = np.minimum(a[..., 0] + a[..., 2], b[..., 0] + b[..., 2])
    bottom = np.minimum(a[..., 1] + a[..., 3], b[..., 1] + b[..., 3])
    inter = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


@dataclass
class _Track:
    face_id: int
    box: np.ndarray  # (4,) xywh
    last_seen_s: float


def _close_enough(box: np.ndarray, track_box: np.ndarray) -> bool:
    size = max(box[2], box[3], track_box[2], track_box[3])
    centre = box[:2] + box[2:] / 2
    track_centre = track_box[:2] + track_box[2:] / 2
    ratio = (box[2] * box[3]) / max(track_box[2] * track_box[3], 1e-9)
    return bool(np.linalg.norm(centre - track_centre) < 0.5 * size and 0.5 < ratio < 2.0)


class TrackingProcessor(Processor):
    name = "tracking"

    def __init__(self, iou_threshold: float = 0.3, max_gap_s: float = 1.0) -> None:
        self.iou_threshold = iou_threshold
        self.max_gap_s = max_gap_s
        self._tracks: list[_Track] = []
        self._next_id = 1

    def process(self, result: FrameResult) -> FrameResult:
        now = result.frame.time_s
        self._tracks = [t for t in self._tracks if now - t.last_seen_s <= self.max_gap_s]
        faces = result.faces
        if not faces:
            return result
        boxes = np.array([face.box for face in faces], dtype=np.float64).reshape(-1, 4)
        assigned: dict[int, _Track] = {}
        free: list[_Track | None] = list(self._tracks)
        if free:
            overlap = iou_matrix(boxes, np.array([t.box for t in self._tracks]))
            for flat in np.argsort(-overlap, axis=None):
                i, j = np.unravel_index(flat, overlap.shape)
                if overlap[i, j] < self.iou_threshold:
                    break
                match = free[j]
                if i in assigned or match is None:
                    continue
                assigned[int(i)] = match
                free[j] = None
            for i in range(len(faces)):
                if i in assigned:
                    continue
                for j, candidate in enumerate(free):
                    if candidate is not None and _close_enough(boxes[i], candidate.box):
                        assigned[i] = candidate
                        free[j] = None
                        break
        tracked: list[Face] = []
        for i, face in enumerate(faces):
            track = assigned.get(i)
            if track is None:
                track = _Track(self._next_id, boxes[i], now)
                self._next_id += 1
                self._tracks.append(track)
            track.box = boxes[i]
            track.last_seen_s = now
            tracked.append(face.replace(face_id=track.face_id))
        return result.replace(faces=tuple(tracked))

    def describe(self) -> dict[str, object]:
        return {"name": self.name, "iou_threshold": self.iou_threshold, "max_gap_s": self.max_gap_s}


class PerImageFaceIds(Processor):
    """Face ids for photos, which are independent observations: 1, 2, ... within each image, in reading order
    (by the box's top edge in bands of half the median face height, then left to right). Nothing is carried
    from one image to the next, so an image's ids do not depend on which files came before it."""

    name = "face_ids"

    def process(self, result: FrameResult) -> FrameResult:
        if not result.faces:
            return result
        band = max(1.0, 0.5 * float(np.median([face.box[3] for face in result.faces])))
        order = sorted(result.faces, key=lambda face: (int(face.box[1] // band), face.box[0], face.box[1]))
        return result.replace(faces=tuple(face.replace(face_id=i + 1) for i, face in enumerate(order)))

    def describe(self) -> dict[str, object]:
        return {"name": self.name, "ids": "per image, 1.. in reading order"}
