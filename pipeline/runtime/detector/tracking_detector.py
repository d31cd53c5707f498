"""Full MTCNN detection every few frames; in between, only the known faces are refined (the paper's tracking)."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from pipeline.core.frames import Face


class RefiningDetector(Protocol):
    def detect(self, image_rgb: np.ndarray) -> tuple[Face, ...]: ...

    def refine(self, image_rgb: np.ndarray, faces: tuple[Face, ...]) -> tuple[Face, ...]: ...

    def describe(self) -> dict[str, object]: ...

    def close(self) -> None: ...


class TrackingDetector:
    """Runs `detector.detect` on every `detect_every`-th frame, and `detector.refine` on the faces in between.

    A full detection also runs whenever there is no face to refine or refining loses one (the face left, turned
    away or moved too far), so a face that enters the frame is found within `detect_every` frames and a lost
    one is looked for again at once. Not thread-safe: one instance per processing thread.
    """

    def __init__(self, detector: RefiningDetector, detect_every: int = 5) -> None:
        if detect_every < 1:
            raise ValueError(f"detect_every must be at least 1, got {detect_every}")
        self.detector = detector
        self.detect_every = int(detect_every)
        self.frames_seen = 0
        self.full_detections = 0
        self._since_detection = 0
        self._faces: tuple[Face, ...] = ()

    def step(self, image_rgb: np.ndarray) -> tuple[Face, ...]:
        """Faces in this frame (the next frame of one video or camera)."""
        self.frames_seen += 1
        refined: tuple[Face, ...] = ()
        due = self._since_detection + 1 >= self.detect_every
        if self._faces and not due:
            refined = self.detector.refine(image_rgb, self._faces)
        if refined and len(refined) == len(self._faces):
            self._since_detection += 1
            self._faces = refined
        else:
            self._faces = self.detector.detect(image_rgb)
            self._since_detection = 0
            self.full_detections += 1
        return self._faces

    @property
    def last_was_detection(self) -> bool:
        """Whether the latest `step` ran a full detection (rather than refining the known faces)."""
        return self._since_detection == 0 and self.frames_seen > 0

    def reset(self) -> None:
        """Forget the known faces (a new video, a seek): the next step runs a full detection."""
        self._faces = ()
        self._since_detection = 0

    def close(self) -> None:
        """Forget the known faces and release the detector's threads."""
        self.reset()
        self.detector.close()

    def describe(self) -> dict[str, object]:
        return {**self.detector.describe(), "tracking": "refine between detections", "detect_every": self.detect_every}
