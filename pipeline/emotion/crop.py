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

import math

import cv2
import numpy as np

from pipeline.frames import Face

CROP_SIZE = 48

# Where MTCNN's keypoints sit on an average FER-2013 face (val split), in crop pixels.
EYE_CENTRE = (23.9, 19.2)  # midpoint of the two eyes
EYE_DISTANCE = 19.4  # between the two eyes
EYE_TO_MOUTH = 18.2  # from the eye midpoint to the mouth midpoint

# Fallback without keypoints: MTCNN's box on an average FER-2013 face, in crop pixels.
BOX_CENTRE = (23.9, 24.3)  # centre of the box
BOX_SIZE = 40.4  # the box's larger side

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


def crop_transform(face: Face) -> np.ndarray:
    """The 2x3 affine matrix from frame pixels to the 48x48 crop for this face."""
    keypoints = face.keypoints
    if keypoints is not None and np.shape(keypoints) == (5, 2) and np.all(np.isfinite(keypoints)):
        eye_distance = float(np.linalg.norm(np.asarray(keypoints[1]) - np.asarray(keypoints[0])))
        if eye_distance > 1.0:
            return _keypoint_transform(np.asarray(keypoints))
    return _box_transform(face.box)


def face_crop(image_bgr: np.ndarray, face: Face) -> np.ndarray:
    """The face as FER-2013 frames it: (48, 48) uint8 grayscale, eyes level, from a BGR (or gray) frame."""
    matrix = crop_transform(face)
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
