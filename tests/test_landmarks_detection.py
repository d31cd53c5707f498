"""Detection (the mtcnn package) and 68-point landmarks (dlib) on the real portraits."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.core.frames import Face, Frame, FrameResult
from pipeline.core.paths import installed_models_dir
from pipeline.processors.detection import DetectionProcessor, PackageMTCNN
from pipeline.processors.landmarks import LandmarkProcessor
from pipeline.runtime.detector.tracking_detector import TrackingDetector
from pipeline.runtime.model_set import landmark_predictor
from tests.media import background


@pytest.fixture(scope="module")
def detection() -> DetectionProcessor:
    return DetectionProcessor(PackageMTCNN(min_face_size=40))


@pytest.fixture(scope="module")
def landmarks() -> LandmarkProcessor:
    processor = LandmarkProcessor()
    processor.setup()
    return processor


def frame_of(image: np.ndarray) -> FrameResult:
    return FrameResult(Frame(0, 0.0, 0.0, image, "test"))


def dlib_box(image: np.ndarray) -> tuple[float, float, float, float]:
    import dlib

    (rect,) = dlib.get_frontal_face_detector()(image[:, :, ::-1].copy(), 1)
    return float(rect.left()), float(rect.top()), float(rect.width()), float(rect.height())


def inside(points: np.ndarray, box: tuple[float, float, float, float], margin: float) -> bool:
    x, y, w, h = box
    return bool(
        np.all(points[:, 0] >= x - margin * w)
        and np.all(points[:, 0] <= x + w * (1 + margin))
        and np.all(points[:, 1] >= y - margin * h)
        and np.all(points[:, 1] <= y + h * (1 + margin))
    )


def test_predictor_ships_in_the_wheel() -> None:
    assert landmark_predictor(installed_models_dir()).stat().st_size > 50_000_000


def test_68_landmarks_on_grace_hopper_lie_in_the_face(hopper: np.ndarray, landmarks: LandmarkProcessor) -> None:
    box = dlib_box(hopper)
    result = landmarks.process(frame_of(hopper).replace(faces=(Face(box=box, score=1.0),)))
    points = result.faces[0].landmarks
    assert points.shape == (68, 2) and points.dtype == np.float32
    assert inside(points, box, margin=0.1)
    eyes, mouth, jaw = points[36:48], points[48:68], points[0:17]
    assert eyes[:, 1].mean() < points[30, 1] < mouth[:, 1].mean(), "eyes above the nose tip above the mouth"
    assert points[36:42, 0].mean() < points[42:48, 0].mean(), "iBUG order: the picture's left eye first"
    assert jaw[:, 0].min() < eyes[:, 0].min() and jaw[:, 0].max() > eyes[:, 0].max()


def test_no_face_no_work(landmarks: LandmarkProcessor) -> None:
    result = frame_of(background((64, 48)))
    assert landmarks.process(result) is result


def test_mtcnn_finds_grace_hopper_with_keypoints(hopper: np.ndarray, detection: DetectionProcessor) -> None:
    (face,) = detection.process(frame_of(hopper)).faces
    x, y, w, h = face.box
    dx, dy, dw, dh = dlib_box(hopper)
    assert face.score > 0.95
    assert abs((x + w / 2) - (dx + dw / 2)) < 0.25 * dw and abs((y + h / 2) - (dy + dh / 2)) < 0.35 * dh
    left_eye, right_eye, nose, mouth_left, mouth_right = face.keypoints
    assert inside(face.keypoints, face.box, margin=0.0)
    assert left_eye[0] < nose[0] < right_eye[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])


def test_mtcnn_finds_both_portraits_side_by_side(hopper, astronaut, detection: DetectionProcessor) -> None:
    scene = background((1100, 620)).copy()
    scene[10:610, 20:532] = hopper
    scene[60:572, 570:1082] = astronaut
    faces = detection.process(frame_of(scene)).faces
    assert len(faces) == 2
    assert faces[0].box[0] < 532 <= faces[1].box[0], "one face per portrait, left to right"


def test_nothing_in_a_blank_or_tiny_frame(detection: DetectionProcessor) -> None:
    assert detection.process(frame_of(background((160, 120)))).faces == ()
    assert detection.process(frame_of(np.zeros((1, 1, 3), np.uint8))).faces == ()


def test_a_tracking_detector_is_driven_frame_by_frame(hopper: np.ndarray) -> None:
    class Refiner:
        """Records what it is asked: a full detection, or a refinement of the faces it was given."""

        def __init__(self) -> None:
            self.calls: list[str] = []

        def detect(self, image_rgb: np.ndarray) -> tuple[Face, ...]:
            self.calls.append(f"detect {image_rgb.shape}")
            return (Face(box=(1.0, 2.0, 3.0, 4.0), score=0.5),)

        def refine(self, image_rgb: np.ndarray, faces: tuple[Face, ...]) -> tuple[Face, ...]:
            self.calls.append("refine")
            return faces

        def describe(self) -> dict[str, object]:
            return {}

        def close(self) -> None:
            self.calls.append("close")

    refiner = Refiner()
    processor = DetectionProcessor(TrackingDetector(refiner, detect_every=3))
    results = [processor.process(frame_of(hopper)) for _ in range(4)]
    processor.close()
    assert refiner.calls == [f"detect {hopper.shape}", "refine", "refine", f"detect {hopper.shape}", "close"]
    assert all(result.faces[0].box == (1.0, 2.0, 3.0, 4.0) for result in results)
