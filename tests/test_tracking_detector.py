"""TrackingDetector: full detections on schedule and when a face is lost, refinement in between."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.runtime.detector.fast_mtcnn import FastMTCNN
from pipeline.runtime.detector.tracking_detector import TrackingDetector
from tests.media import centre_inside, moving_portrait_frames

DETECT_EVERY = 5
ABSENT = range(12, 20)


@pytest.fixture(scope="module")
def fast_mtcnn() -> FastMTCNN:
    return FastMTCNN(min_face_size=40)


@pytest.fixture(scope="module")
def sequence():
    """40 frames of 640x480: Grace Hopper slides left to right, out of view for frames 12-19."""
    return moving_portrait_frames(n_frames=40, size=(640, 480), portrait_height=240, absent=ABSENT)


@pytest.fixture(scope="module")
def tracked(fast_mtcnn, sequence):
    """(faces, ran a full detection) for each frame of the sequence."""
    tracker = TrackingDetector(fast_mtcnn, detect_every=DETECT_EVERY)
    frames, _ = sequence
    steps = []
    for frame in frames:
        faces = tracker.step(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        steps.append((faces, tracker.last_was_detection))
    return steps


def test_the_face_is_found_on_every_frame_it_is_in_view_and_on_none_other(tracked, sequence):
    _, placements = sequence
    for (faces, _), placement in zip(tracked, placements, strict=True):
        if placement.box is None:
            assert faces == (), f"frame {placement.frame}: a face on an empty wall"
        else:
            assert len(faces) == 1, f"frame {placement.frame}: {len(faces)} faces"
            assert centre_inside(faces[0].box, placement.box), f"frame {placement.frame}: box off the portrait"


def test_full_detections_run_on_schedule_and_when_the_face_is_lost(tracked):
    detections = [index for index, (_, detected) in enumerate(tracked) if detected]
    assert detections[0] == 0
    # never more than DETECT_EVERY frames between full detections
    assert all(b - a <= DETECT_EVERY for a, b in zip(detections, detections[1:], strict=False))
    # the face leaves at frame 12: that frame runs a detection; with nothing to track, so does every frame after
    assert all(index in detections for index in ABSENT)
    # in between, refinement (not detection) carries the face on most frames
    assert len(detections) < len(tracked) / 2


def test_a_returning_face_is_picked_up_within_detect_every_frames(tracked):
    back = ABSENT.stop
    found = [index for index in range(back, len(tracked)) if tracked[index][0]]
    assert found and found[0] < back + DETECT_EVERY


def test_detect_every_one_detects_every_frame(fast_mtcnn, sequence):
    frames, _ = sequence
    tracker = TrackingDetector(fast_mtcnn, detect_every=1)
    for frame in frames[:3]:
        tracker.step(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        assert tracker.last_was_detection
    assert tracker.full_detections == 3


def test_rejects_detect_every_below_one(fast_mtcnn):
    with pytest.raises(ValueError):
        TrackingDetector(fast_mtcnn, detect_every=0)


def test_describe_includes_the_detector_and_the_schedule(fast_mtcnn):
    info = TrackingDetector(fast_mtcnn, detect_every=3).describe()
    assert info["detect_every"] == 3 and info["min_face_size"] == 40


def test_no_face_on_a_blank_frame_detects_again_each_frame(fast_mtcnn):
    tracker = TrackingDetector(fast_mtcnn, detect_every=5)
    blank = np.full((240, 320, 3), 128, np.uint8)
    assert tracker.step(blank) == () and tracker.step(blank) == ()
    assert tracker.full_detections == 2


def test_detection_processor_defaults_to_the_tracked_fast_detector(sequence):
    from pipeline.core.frames import Frame, FrameResult
    from pipeline.processors.detection import DetectionProcessor, PackageMTCNN, make_detector

    processor = DetectionProcessor(min_face_size=40, detect_every=3)
    assert isinstance(processor.detector, TrackingDetector) and processor.detector.detect_every == 3
    assert processor.describe()["detector"] == "FastMTCNN"
    frames, placements = sequence
    result = processor.process(FrameResult(Frame(0, 0.0, 0.0, frames[0])))
    assert len(result.faces) == 1 and centre_inside(result.faces[0].box, placements[0].box)
    assert isinstance(make_detector("package", 40), PackageMTCNN)
    with pytest.raises(ValueError, match="unknown detector"):
        make_detector("haar")
