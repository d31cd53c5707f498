"""The one face crop that feeds the emotion classifier, live and in evaluation.

FER-2013's faces were registered automatically: roughly eyebrows to chin, centred, the face filling most of
the 48x48 picture. `face_crop` reproduces that framing from a detection: it rotates about the eye centre so
the eyes are level, scales the face to FER-2013's size, places the eye centre where FER-2013 has it and
samples a 48x48 grayscale image, all in one cv2.warpAffine.

The framing constants below are in crop pixels (0..48). They were measured on FER-2013's `val` split by running
MTCNN on the upscaled val images (benchmarks/crop_path.py --calibrate) and then checked through the whole
detection + crop + classify path on `val` (benchmarks/crop_path.py --split val); `test` was never used to choose them.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import cv2
import numpy as np

from pipeline.core.frames import Face

CROP_SIZE = 48

# Where MTCNN's keypoints sit on FER-2013 faces, in crop pixels: medians over the val split (3,165 faces found
# by FastMTCNN on the upscaled images): eye midpoint (23.98, 18.53), eye distance 17.46, eye-to-mouth 19.01.
EYE_CENTRE = (23.98, 18.53)  # midpoint of the two eyes
# The face size used is the larger of two estimates (see _keypoint_transform), which runs above either median, so
# the two distances are the medians times about 1.1: the best of the val sweep of benchmarks/crop_path.py
# (sizes x0.9 to x1.1 and eye shifts of +-1.5 px around a first 180-image calibration; x1.1 and no shift won:
# path accuracy on val 0.4843 against 0.4809 at x1.0 and 0.4631 at x0.9).
EYE_DISTANCE = 19.5  # between the two eyes (17.76 x 1.1)
EYE_TO_MOUTH = 21.1  # from the eye midpoint to the mouth midpoint (19.21 x 1.1)

# Fallback without keypoints: MTCNN's box on FER-2013 faces (val medians), in crop pixels.
BOX_CENTRE = (23.75, 24.3)  # centre of the box
BOX_SIZE = 49.6  # the box's larger side

# The alignment jitter ensemble (see jitter_schedule): shifts in crop pixels and scales about the crop centre.
# Chosen on the generated portrait videos of benchmarks/scenes.py and variants of them (label agreement between
# tracked and detect-every-frame runs), then checked through the detection path on FER-2013's val split.
JITTER_SHIFTS = (-1.0, -0.5, 0.0, 0.5, 1.0)
JITTER_SCALES = (0.95, 1.0, 1.05)


class Jitter(NamedTuple):
    """One alignment of a face's crop: moved by dx, dy crop pixels, scaled about the crop's centre, and, with
    `mirror`, flipped left to right (after the move, so a mirrored crop shows the same part of the face)."""

    dx: float = 0.0
    dy: float = 0.0
    scale: float = 1.0
    mirror: bool = False


NO_JITTER = Jitter()
JitterLike = Jitter | tuple[float, float, float]
"""A Jitter, or its first three fields as a plain tuple (dx, dy, scale): not mirrored."""

# Downscaling a big face to 48 px in one bilinear warp aliases; warping to up to this many times the crop size
# and then area-averaging down keeps the crop as smooth as FER-2013's downscaled pictures.
MAX_OVERSAMPLE = 4


def _keypoint_transform(keypoints: np.ndarray) -> np.ndarray:
    """2x3 matrix taking image points to crop points: eyes level, FER-2013 scale and position."""
    left_eye, right_eye = keypoints[0].astype(np.float64), keypoints[1].astype(np.float64)
    mouth = (keypoints[3].astype(np.float64) + keypoints[4].astype(np.float64)) / 2.0
    eye_centre = (left_eye + right_eye) / 2.0
    dx, dy = right_eye - left_eye
    angle = math.atan2(dy, dx)
    eye_distance = math.hypot(dx, dy)
    eye_to_mouth = float(np.linalg.norm(mouth - eye_centre))
    # The eye distance shrinks when the head turns, the eye-mouth distance when it nods: the larger of the two
    # size estimates is the one less foreshortened.
    face_size = max(eye_distance / EYE_DISTANCE, eye_to_mouth / EYE_TO_MOUTH, 1e-6)
    scale = 1.0 / face_size
    cos, sin = scale * math.cos(angle), scale * math.sin(angle)
    # Rotation by -angle (so the eye line becomes horizontal) and scaling, about the eye centre.
    linear = np.array([[cos, sin], [-sin, cos]])
    shift = np.array(EYE_CENTRE) - linear @ eye_centre
    return np.hstack([linear, shift[:, None]])


def _box_transform(box: tuple[float, float, float, float]) -> np.ndarray:
    """2x3 matrix taking image points to crop points from the detection box alone (no rotation)."""
    x, y, w, h = (float(v) for v in box)
    scale = BOX_SIZE / max(w, h, 1e-6)
    centre = np.array([x + w / 2.0, y + h / 2.0])
    shift = np.array(BOX_CENTRE) - scale * centre
    return np.array([[scale, 0.0, shift[0]], [0.0, scale, shift[1]]])


def crop_transform(face: Face, jitter: JitterLike = NO_JITTER) -> np.ndarray:
    """The 2x3 affine matrix from frame pixels to the 48x48 crop for this face.

    `jitter` then moves the framing by dx, dy crop pixels, scales it about the crop's centre and mirrors it when
    asked.
    """
    keypoints = face.keypoints
    matrix = None
    if keypoints is not None and np.shape(keypoints) == (5, 2) and np.all(np.isfinite(keypoints)):
        eye_distance = float(np.linalg.norm(np.asarray(keypoints[1]) - np.asarray(keypoints[0])))
        if eye_distance > 1.0:
            matrix = _keypoint_transform(np.asarray(keypoints))
    if matrix is None:
        matrix = _box_transform(face.box)
    return _jittered(matrix, jitter)


def _jittered(matrix: np.ndarray, jitter: JitterLike) -> np.ndarray:
    """A crop's 2x3 affine matrix moved by `jitter`: dx, dy crop pixels, scaled about the crop's centre, then
    mirrored about its vertical centre line."""
    jitter = Jitter(*jitter)
    if jitter == NO_JITTER:
        return matrix
    dx, dy, scale, mirror = jitter
    matrix = matrix * scale
    matrix[:, 2] += (1.0 - scale) * (CROP_SIZE / 2.0) + np.array([dx, dy])
    if mirror:
        # Crop column x becomes column CROP_SIZE - 1 - x (pixel centres at whole numbers, as cv2 samples them):
        # the mirror image costs nothing more than the warp the crop already takes.
        matrix[0] = -matrix[0]
        matrix[0, 2] += CROP_SIZE - 1
    return matrix


def jitter_schedule(frame_index: int, count: int) -> list[Jitter]:
    """The `count` alignment jitters to average on frame `frame_index`: a slice of a fixed cycle through all 150.

    MTCNN's keypoints move by about half a pixel between two fits of the same face (tracked against re-detected:
    0.5 px mean, 0.9 px at the 90th percentile), and on an ambiguous face that moves the classifier's top
    probability by 0.05 (standard deviation), enough to flip the `unclear` label from frame to frame and between
    runs. Averaging the prediction over the alignment's uncertainty (shifts of up to a crop pixel, about 2 px on
    a 110 px face, and scales of +-5%) removes most of that. Every other crop is also mirrored: a mirror image is
    the other test-time augmentation that helps, and as one more crop of the cycle it costs one pass through the
    network, where averaging every crop with its mirror costs two. On FER-2013 val, 3 crops so (the second
    mirrored) score 0.8478, against 0.8469 for 2 crops each with its mirror and 0.8518 for 3 each with its mirror:
    3 passes against 4 and 6 (benchmarks/mirror_passes.py). All 150 combinations per frame would be too slow, so each
    frame takes the next `count` of a fixed shuffled cycle, and the per-face smoothing averages them over the
    following frames. Deterministic: the same frame index always gets the same jitters. With `count` 1 the crop
    is the plain alignment on every frame; otherwise the plain alignment is one slot of the cycle like any other
    (once as it is, once mirrored), so most frames do not include it.
    """
    if count <= 1:
        return [NO_JITTER]
    cycle = _jitter_cycle()
    start = frame_index * count
    return [cycle[(start + i) % len(cycle)] for i in range(count)]


@functools.cache
def _jitter_cycle() -> tuple[Jitter, ...]:
    """Every (dx, dy, scale) of the jitter grid, plain and mirrored, in a fixed shuffled order, so that each
    frame's slice mixes shifts and scales rather than taking, say, nine shifts at one scale, and every other crop
    is mirrored (the grid has an odd size, 75, so its second pass mirrors what the first did not)."""
    grid = [Jitter(dx, dy, scale) for scale in JITTER_SCALES for dy in JITTER_SHIFTS for dx in JITTER_SHIFTS]
    order = np.random.default_rng(20261125).permutation(len(grid))
    shuffled = [grid[i] for i in order]
    return tuple(shuffled[n % len(grid)]._replace(mirror=n % 2 == 1) for n in range(2 * len(grid)))


def face_crop(image_bgr: np.ndarray, face: Face, jitter: JitterLike = NO_JITTER) -> np.ndarray:
    """The face as FER-2013 frames it: (48, 48) uint8 grayscale, eyes level, from a BGR (or gray) frame.

    `jitter`: see `crop_transform`.
    """
    matrix = crop_transform(face, jitter)
    scale = math.hypot(matrix[0, 0], matrix[0, 1])
    oversample = int(min(MAX_OVERSAMPLE, max(1, math.floor(1.0 / scale)))) if scale > 0 else 1
    size = CROP_SIZE * oversample
    if oversample > 1:
        # Same mapping onto a grid `oversample` times finer (pixel centres stay aligned after area averaging).
        matrix = matrix * oversample
        matrix[:, 2] += (oversample - 1) / 2.0
    crop = cv2.warpAffine(image_bgr, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if oversample > 1:
        crop = cv2.resize(crop, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_AREA)
    if crop.ndim == 3:
        crop = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    return np.ascontiguousarray(crop, dtype=np.uint8)


def reframe_crop(crop: np.ndarray, jitter: JitterLike) -> np.ndarray:
    """A (48, 48) face that already comes framed like FER-2013 (the dataset's own images) cut again under
    `jitter`, as `face_crop` moves the framing of a face in a frame: the app's alignment averaging, for faces that
    come as crops."""
    if Jitter(*jitter) == NO_JITTER:
        return crop
    matrix = _jittered(np.eye(2, 3), jitter)
    return cv2.warpAffine(crop, matrix, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
