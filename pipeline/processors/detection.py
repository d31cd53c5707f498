"""Face detection: boxes, scores and 5 keypoints per frame.

The processor converts the frame to RGB once and asks its detector for faces: any `Detector`, or a
`TrackingDetector` (full detections every few frames of a video, refinements in between), driven through `step`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np

from pipeline.core.frames import KEYPOINT_NAMES, Face, FrameResult
from pipeline.processors.base import Processor

if TYPE_CHECKING:
    from pipeline.runtime.model_set import ModelSet
from pipeline.runtime.detector.mtcnn_models import package_weight_files, package_weights
from pipeline.runtime.detector.tracking_detector import TrackingDetector


class Detector(Protocol):
    """Finds the faces in one RGB image, on its own."""

    def detect(self, image_rgb: np.ndarray) -> tuple[Face, ...]: ...

    def describe(self) -> dict[str, object]: ...

    def close(self) -> None: ...


MTCNN_MIN_FACE = 20
"""The minimum face size the mtcnn package's pyramid is built for."""


class PackageMTCNN:
    """The `mtcnn` package's detector (its weights ship inside the wheel) behind `.detect(image_rgb)`.

    Slow (about 200 ms per VGA frame on one core) but the reference; TensorFlow is imported on first use.
    """

    def __init__(self, min_face_size: int = 20) -> None:
        self.min_face_size = int(min_face_size)
        self._mtcnn = None

    def _detector(self):
        if self._mtcnn is None:
            from mtcnn import MTCNN

            self._mtcnn = MTCNN(device="CPU:0")
        return self._mtcnn

    def detect(self, image_rgb: np.ndarray) -> tuple[Face, ...]:
        height, width = image_rgb.shape[:2]
        if min(height, width) < max(12, self.min_face_size):
            return ()  # smaller than the smallest face the network can see
        # mtcnn 1.0.0 sizes its image pyramid for min_face_size=20 whatever is passed; a larger value
        # pushes the last scales below PNet's 12 px input, which fails the whole call and returns no face.
        # So a larger minimum is applied by shrinking the image instead (also faster), boxes scaled back.
        scale = 1.0
        if self.min_face_size > MTCNN_MIN_FACE:
            scale = MTCNN_MIN_FACE / self.min_face_size
            size = (max(12, round(width * scale)), max(12, round(height * scale)))
            image_rgb = cv2.resize(image_rgb, size, interpolation=cv2.INTER_AREA)
        found = self._detector().detect_faces(image_rgb, min_face_size=min(self.min_face_size, MTCNN_MIN_FACE))
        faces = []
        for item in found:
            x, y, w, h = (float(v) / scale for v in item["box"])
            if w <= 0 or h <= 0:
                continue
            points = item.get("keypoints", {})
            keypoints = np.array([points[name] for name in KEYPOINT_NAMES], dtype=np.float32).reshape(5, 2) / scale
            faces.append(Face(box=(x, y, w, h), score=float(item["confidence"]), keypoints=keypoints))
        faces.sort(key=lambda face: (face.box[0], face.box[1]))
        return tuple(faces)

    def close(self) -> None:
        """Nothing to release: the package's networks live as long as the process."""

    def model_files(self) -> dict[str, str]:
        return package_weight_files()

    def describe(self) -> dict[str, object]:
        return {
            "detector": "mtcnn package 1.0.0",
            "min_face_size": self.min_face_size,
            "weights_sha256": package_weights(),
        }


DETECTORS = ("fast", "package")
"""Detector kinds: "fast" = FastMTCNN tracked between detections (default); "package" = the mtcnn package on
every frame (slow; the reference for agreement runs)."""


def make_detector(
    kind: str = "fast",
    min_face_size: int = 20,
    detect_every: int = 5,
    *,
    track: bool = True,
    models: ModelSet | None = None,
) -> Detector | TrackingDetector:
    """A detector of `kind` (see DETECTORS). "fast" plans its networks' interpreters here (once), from `models`
    (the verified MTCNN networks of a ModelSet; None: the installed models' mtcnn/).

    track=False (photos): a full detection on every image, never a refinement of the previous image's faces.
    """
    if kind == "package":
        return PackageMTCNN(min_face_size)
    if kind != "fast":
        raise ValueError(f"unknown detector {kind!r}; choose from {', '.join(DETECTORS)}")
    from pipeline.runtime.detector.fast_mtcnn import FastMTCNN

    if models is not None:
        if models.mtcnn_card is None:
            raise ValueError("the fast detector runs but the ModelSet was loaded without it (use load_models(config))")
        detector = FastMTCNN(
            min_face_size=min_face_size, models_dir=models.mtcnn_dir, card=models.mtcnn_card, networks=models.mtcnn
        )
    else:
        detector = FastMTCNN(min_face_size=min_face_size)
    return TrackingDetector(detector, detect_every=detect_every) if track else detector


class DetectionProcessor(Processor):
    """Faces in each frame from `detector` (default: FastMTCNN, full detection every `detect_every` frames)."""

    name = "detection"

    def __init__(
        self, detector: Detector | TrackingDetector | None = None, *, min_face_size: int = 20, detect_every: int = 5
    ) -> None:
        self.detector = detector if detector is not None else make_detector("fast", min_face_size, detect_every)

    def process(self, result: FrameResult) -> FrameResult:
        rgb = cv2.cvtColor(result.frame.image, cv2.COLOR_BGR2RGB)
        detector = self.detector
        faces = detector.step(rgb) if isinstance(detector, TrackingDetector) else detector.detect(rgb)
        return result.replace(faces=tuple(faces))

    def close(self) -> None:
        self.detector.close()

    def model_files(self) -> dict[str, str]:
        detector = self.detector.detector if isinstance(self.detector, TrackingDetector) else self.detector
        files = getattr(detector, "model_files", None)
        return files() if files is not None else {}

    def describe(self) -> dict[str, object]:
        describe = getattr(self.detector, "describe", None)
        details = describe() if describe is not None else {"detector": type(self.detector).__name__}
        return {"name": self.name, **details}
