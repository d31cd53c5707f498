"""face_crop on a real portrait: shape, eyes level, rotation invariance, the box fallback."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.core.frames import Face
from pipeline.runtime.emotion.crop import (
    CROP_SIZE,
    EYE_CENTRE,
    EYE_DISTANCE,
    NO_JITTER,
    Jitter,
    crop_transform,
    face_crop,
    jitter_schedule,
    reframe_crop,
)

# MTCNN (mtcnn 1.0.0) on matplotlib's grace_hopper.jpg (512x600): box and keypoints in KEYPOINT_NAMES order.
HOPPER_BOX = (178.0, 110.0, 173.0, 220.0)
HOPPER_KEYPOINTS = np.array([[220, 190], [308, 186], [268, 237], [232, 277], [304, 273]], dtype=np.float32)


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def _rotated(image: np.ndarray, keypoints: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    h, w = image.shape[:2]
    rotation = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(image, rotation, (w, h), borderMode=cv2.BORDER_REPLICATE), _apply(rotation, keypoints)


def test_crop_is_48x48_grayscale_uint8(grace_hopper_bgr):
    crop = face_crop(grace_hopper_bgr, Face(box=HOPPER_BOX, score=0.99, keypoints=HOPPER_KEYPOINTS))
    assert crop.shape == (CROP_SIZE, CROP_SIZE)
    assert crop.dtype == np.uint8
    assert crop.std() > 20  # a face, not a flat patch


def test_eyes_land_level_at_the_fer_position():
    for degrees in (0.0, 17.0, -25.0):
        centre = HOPPER_KEYPOINTS[:2].mean(axis=0)
        rotation = cv2.getRotationMatrix2D(tuple(map(float, centre)), degrees, 1.0)
        keypoints = _apply(rotation, HOPPER_KEYPOINTS)
        eyes = _apply(crop_transform(Face(box=HOPPER_BOX, score=1.0, keypoints=keypoints)), keypoints[:2])
        assert eyes[0, 1] == pytest.approx(eyes[1, 1], abs=1e-6)  # level
        assert eyes[1, 0] > eyes[0, 0]  # not mirrored
        assert eyes.mean(axis=0) == pytest.approx(EYE_CENTRE, abs=1e-6)
        assert eyes[1, 0] - eyes[0, 0] <= EYE_DISTANCE + 1e-6


def test_a_tilted_head_gives_the_same_crop(grace_hopper_bgr):
    upright = face_crop(grace_hopper_bgr, Face(box=HOPPER_BOX, score=1.0, keypoints=HOPPER_KEYPOINTS))
    image, keypoints = _rotated(grace_hopper_bgr, HOPPER_KEYPOINTS, 20.0)
    tilted = face_crop(image, Face(box=HOPPER_BOX, score=1.0, keypoints=keypoints))
    unaligned = cv2.cvtColor(cv2.resize(image[110:330, 170:360], (48, 48)), cv2.COLOR_BGR2GRAY)
    difference = np.abs(tilted.astype(int) - upright.astype(int)).mean()
    assert difference < 4.0
    assert difference < np.abs(unaligned.astype(int) - upright.astype(int)).mean() / 3


def test_without_keypoints_the_box_frames_the_face_like_the_keypoints_do(grace_hopper_bgr):
    box_only = Face(box=HOPPER_BOX, score=1.0)
    assert face_crop(grace_hopper_bgr, box_only).shape == (48, 48)
    eyes = _apply(crop_transform(box_only), HOPPER_KEYPOINTS[:2])
    # The box puts the eyes within a few crop pixels of where the keypoint alignment puts them.
    assert np.linalg.norm(eyes.mean(axis=0) - np.array(EYE_CENTRE)) < 4.0
    assert 0.7 * EYE_DISTANCE < np.linalg.norm(eyes[1] - eyes[0]) < 1.3 * EYE_DISTANCE


def test_a_face_at_the_frame_edge_still_gives_a_full_crop(grace_hopper_bgr):
    corner = grace_hopper_bgr[150:, 200:]  # the face cut at the left and top
    keypoints = HOPPER_KEYPOINTS - np.array([200, 150], dtype=np.float32)
    crop = face_crop(corner, Face(box=(-22.0, -40.0, 173.0, 220.0), score=0.9, keypoints=keypoints))
    assert crop.shape == (48, 48)


def test_grayscale_frames_are_accepted(grace_hopper_bgr):
    gray = cv2.cvtColor(grace_hopper_bgr, cv2.COLOR_BGR2GRAY)
    face = Face(box=HOPPER_BOX, score=1.0, keypoints=HOPPER_KEYPOINTS)
    assert np.abs(face_crop(gray, face).astype(int) - face_crop(grace_hopper_bgr, face).astype(int)).max() <= 2


def test_a_jitter_moves_and_scales_the_framing(grace_hopper_bgr):
    face = Face(box=HOPPER_BOX, score=0.99, keypoints=HOPPER_KEYPOINTS)
    plain = face_crop(grace_hopper_bgr, face)
    assert np.array_equal(face_crop(grace_hopper_bgr, face, NO_JITTER), plain)
    eyes = HOPPER_KEYPOINTS[:2].mean(axis=0, keepdims=True)
    centre = np.array([CROP_SIZE / 2, CROP_SIZE / 2])
    for dx, dy, scale in [(1.0, 0.0, 1.0), (-0.5, 1.0, 1.0), (0.0, 0.0, 1.05), (1.0, -1.0, 0.95)]:
        lands = _apply(crop_transform(face, (dx, dy, scale)), eyes)[0]
        expected = (np.array(EYE_CENTRE) - centre) * scale + centre + np.array([dx, dy])
        np.testing.assert_allclose(lands, expected, atol=1e-9)
    # and the pixels follow: one crop pixel right moves the picture one pixel right
    moved = face_crop(grace_hopper_bgr, face, (1.0, 0.0, 1.0)).astype(np.float32)
    assert np.abs(moved[:, 1:] - plain[:, :-1]).mean() < 0.25 * np.abs(moved - plain).mean()


def test_the_jitter_schedule_cycles_through_every_alignment_plain_and_mirrored():
    seen = [jitter for frame in range(50) for jitter in jitter_schedule(frame, 9)]  # 450 = 3 whole cycles
    assert len(set(seen)) == 150 and all(seen.count(j) == 3 for j in set(seen))
    framings = {(dx, dy, scale) for dx, dy, scale, _ in seen}
    assert len(framings) == 75, "each of the 75 framings comes plain and mirrored"
    assert jitter_schedule(7, 9) == jitter_schedule(7, 9)  # the same frame gets the same alignments
    assert [j.mirror for j in jitter_schedule(3, 4)] == [False, True, False, True], "every other crop mirrored"
    assert jitter_schedule(0, 1) == jitter_schedule(1, 1) == [NO_JITTER]
    shifts = {dx for dx, _, _, _ in seen}
    assert min(shifts) == -1.0 and max(shifts) == 1.0


def test_a_mirrored_crop_is_the_same_crop_flipped_left_to_right(grace_hopper_bgr):
    face = Face(box=HOPPER_BOX, score=0.99, keypoints=HOPPER_KEYPOINTS)
    for framing in [NO_JITTER, Jitter(1.0, -0.5, 1.05), Jitter(-1.0, 1.0, 0.95)]:
        plain = face_crop(grace_hopper_bgr, face, framing)
        mirrored = face_crop(grace_hopper_bgr, face, framing._replace(mirror=True))
        assert not np.array_equal(mirrored, plain), "a real face is not symmetric to the pixel"
        difference = np.abs(mirrored.astype(int) - plain[:, ::-1].astype(int))
        assert difference.max() <= 1, framing  # the same source points sampled, in mirrored order
        np.testing.assert_array_equal(reframe_crop(plain, Jitter(mirror=True)), plain[:, ::-1])


def test_reframing_a_crop_moves_it_as_the_jitter_moves_the_framing_in_the_frame(grace_hopper_bgr):
    """FER-2013's images come already cropped: reframing the 48x48 crop must match cutting the face again from
    the frame under the same jitter (inside the crop: at the border one replicates, the other sees more face)."""
    face = Face(box=HOPPER_BOX, score=0.99, keypoints=HOPPER_KEYPOINTS)
    plain = face_crop(grace_hopper_bgr, face)
    assert reframe_crop(plain, NO_JITTER) is plain
    inside = (slice(4, -4), slice(4, -4))
    for jitter in [(1.0, 0.0, 1.0), (-1.0, 1.0, 1.0)]:  # whole pixels: the same pixels
        np.testing.assert_array_equal(
            reframe_crop(plain, jitter)[inside], face_crop(grace_hopper_bgr, face, jitter)[inside]
        )
    for dx, dy, scale in [(0.5, -0.5, 1.0), (0.0, 0.0, 1.05), (1.0, -1.0, 0.95)]:  # resampled twice: close
        from_frame = face_crop(grace_hopper_bgr, face, (dx, dy, scale)).astype(np.float32)[inside]
        error = np.abs(reframe_crop(plain, (dx, dy, scale)).astype(np.float32)[inside] - from_frame).mean()
        opposite = reframe_crop(plain, (-dx, -dy, 1.0 / scale)).astype(np.float32)[inside]
        assert error < 0.5 * np.abs(opposite - from_frame).mean()
        assert error < 0.7 * np.abs(plain.astype(np.float32)[inside] - from_frame).mean()
