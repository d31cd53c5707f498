"""Eye aspect ratios and blinks: synthetic eye sequences with scripted closures, per eye, at two frame rates."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.core.frames import Face, Frame, FrameResult
from pipeline.processors.eyes import (
    LEFT_EYE,
    RIGHT_EYE,
    Blink,
    BlinkDetector,
    EyeProcessor,
    eye_aspect_ratio,
    eye_ratios,
)

OPEN, CLOSED = 0.30, 0.08


def eye_points(ratio: float, width: float = 30.0) -> np.ndarray:
    """Six eye points p1..p6 (corner, two upper, corner, two lower) whose aspect ratio is `ratio`."""
    half = ratio * width / 2
    return np.array(
        [[0, 0], [width / 3, -half], [2 * width / 3, -half], [width, 0], [2 * width / 3, half], [width / 3, half]]
    )


def ratio_track(fps: float, seconds: float, closures: list[tuple[float, float]], rng) -> tuple[np.ndarray, np.ndarray]:
    """Times and ratios: open (with a little noise) except during each (start, duration) closure."""
    times = np.arange(0.0, seconds, 1.0 / fps)
    ratios = OPEN + rng.normal(0.0, 0.008, len(times))
    for start, duration in closures:
        ratios[(times >= start) & (times < start + duration)] = CLOSED
    return times, ratios


def test_eye_aspect_ratio_of_a_known_eye() -> None:
    assert eye_aspect_ratio(eye_points(0.3)) == pytest.approx(0.3)
    assert eye_aspect_ratio(eye_points(0.05)) == pytest.approx(0.05)


@pytest.mark.parametrize("fps", [30.0, 10.0])
def test_scripted_blinks_are_counted_and_timed(fps: float) -> None:
    closures = [(2.0, 0.2), (4.0, 0.3), (6.0, 0.15), (8.0, 1.5), (11.0, 0.4)]  # (8.0, 1.5): eyes shut, no blink
    times, ratios = ratio_track(fps, 13.0, closures, np.random.default_rng(3))
    detector = BlinkDetector()
    ended = [blink for t, r in zip(times, ratios, strict=True) if (blink := detector.add(float(t), float(r)))]
    assert ended == detector.blinks
    expected = [closure for closure in closures if closure[1] <= 0.5]
    assert len(detector.blinks) == len(expected)
    frame = 1.0 / fps
    for blink, (start, duration) in zip(detector.blinks, expected, strict=True):
        assert abs(blink.onset_s - start) <= frame and abs(blink.duration_s - duration) <= frame, (blink, start)


def test_too_short_a_dip_is_no_blink() -> None:
    """One frame below the threshold at 60 fps lasts about 17 ms: noise, not a blink (they last 50-500 ms)."""
    times, ratios = ratio_track(60.0, 3.0, [(1.0, 0.016)], np.random.default_rng(4))
    detector = BlinkDetector()
    for t, r in zip(times, ratios, strict=True):
        detector.add(float(t), float(r))
    assert detector.blinks == []


def test_threshold_adapts_to_a_face_with_narrow_eyes() -> None:
    """A face whose open eyes read 0.18 (below a fixed 0.2 threshold) still has its blinks found."""
    times = np.arange(0.0, 6.0, 1 / 30)
    ratios = np.full(len(times), 0.18)
    ratios[(times >= 3.0) & (times < 3.2)] = 0.05
    detector = BlinkDetector()
    for t, r in zip(times, ratios, strict=True):
        detector.add(float(t), float(r))
    assert len(detector.blinks) == 1 and detector.threshold == pytest.approx(0.7 * 0.18, rel=0.01)


def test_a_gap_in_the_face_ends_a_closure_uncounted() -> None:
    detector = BlinkDetector()
    for t in np.arange(0.0, 1.0, 1 / 30):
        detector.add(float(t), OPEN)
    detector.add(1.0, CLOSED)
    detector.add(2.5, OPEN)  # the face was away for 1.5 s
    assert detector.blinks == []


def landmarks_with_eyes(left: float, right: float) -> np.ndarray:
    points = np.zeros((68, 2), dtype=np.float32)
    points[list(LEFT_EYE)] = eye_points(left) + [100, 100]
    points[list(RIGHT_EYE)] = eye_points(right) + [160, 100]
    return points


def test_processor_counts_blinks_per_eye_and_per_face() -> None:
    heard: list[tuple[int, Blink, int]] = []
    processor = EyeProcessor(on_blink=lambda face_id, blink, frame: heard.append((face_id, blink, frame)))
    fps = 30.0
    left_closures = [(1.0, 0.2), (3.0, 0.2)]  # both eyes blink at 1.0 and 3.0; the left eye alone winks at 2.0
    image = np.zeros((8, 8, 3), np.uint8)
    last = None
    for index, t in enumerate(np.arange(0.0, 4.0, 1 / fps)):
        both_shut = any(start <= t < start + length for start, length in left_closures)
        wink = 2.0 <= t < 2.2
        face = Face((80.0, 80.0, 120.0, 60.0), 0.99, face_id=5)
        face = face.replace(
            landmarks=landmarks_with_eyes(CLOSED if both_shut or wink else OPEN, CLOSED if both_shut else OPEN)
        )
        last = processor.process(FrameResult(Frame(index, float(t), 0.0, image), (face,))).faces[0]
    assert last is not None and last.ear_left == pytest.approx(OPEN) and last.ear_right == pytest.approx(OPEN)
    counts = processor.blink_counts()["5"]
    assert counts == {"blinks": 2, "left": 3, "right": 2}
    assert last.blinks == 2
    assert [face_id for face_id, _, _ in heard] == [5, 5]
    assert [round(blink.onset_s, 1) for _, blink, _ in heard] == [1.0, 3.0]


def test_photos_get_ratios_but_no_blinks() -> None:
    processor = EyeProcessor(per_image=True)
    face = Face((80.0, 80.0, 120.0, 60.0), 0.99, face_id=1, landmarks=landmarks_with_eyes(0.25, 0.28))
    out = processor.process(FrameResult(Frame(0, 0.0, 0.0, np.zeros((8, 8, 3), np.uint8)), (face,))).faces[0]
    assert out.ear_left == pytest.approx(0.25) and out.ear_right == pytest.approx(0.28) and out.blinks is None


def test_both_eyes_at_once_agree_with_each_eye_alone() -> None:
    rng = np.random.default_rng(3)
    landmarks = rng.uniform(0, 100, (68, 2))
    left, right = eye_ratios(landmarks)
    assert left == pytest.approx(eye_aspect_ratio(landmarks[list(LEFT_EYE)]), rel=1e-12)
    assert right == pytest.approx(eye_aspect_ratio(landmarks[list(RIGHT_EYE)]), rel=1e-12)
    landmarks[list(RIGHT_EYE)] = landmarks[RIGHT_EYE[0]]  # an eye with no width has no ratio
    assert np.isnan(eye_ratios(landmarks)[1]) and eye_ratios(landmarks)[0] == left
