"""68-point landmarks from MediaPipe's face mesh (468 3D points), run through LiteRT on each detected face.

The model (models/face_mesh/face_landmark.tflite, Apache-2.0, taken from the mediapipe wheel by
scripts/face_mesh_models.py and checked against FACE_MESH_CARD.md's sha256) sees a 192x192 RGB crop framed as
MediaPipe frames it: a square 1.5 times the face's longer side, turned so the eyes are level. A new face is framed
from the detector's box and eye keypoints, then framed again from that first mesh (the detector's box is MTCNN's,
not the BlazeFace box the model was trained on, and the second pass agrees better with dlib); a face seen in the
previous frame is framed from its previous mesh, as MediaPipe tracks, as long as the model still says it is a face.

The 68 iBUG 300-W points the log, the panes and the emotion crop use are fixed mesh vertices (mesh_68.json, with
its source). The 468 points in 3D (frame pixels; z on the same scale, smaller is nearer) stay on the Face for the
head pose stage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.core.frames import Face, FrameResult
from pipeline.core.paths import installed_models_dir
from pipeline.processors.base import Processor
from pipeline.runtime.model_files import ModelError, read_verified, sha256_of
from pipeline.runtime.model_set import (
    FACE_MESH_CARD,
    FACE_MESH_FOLDER,
    FACE_MESH_MAPPING,
    FACE_MESH_MODEL,
    face_mesh_sha256,
)

FOLDER = FACE_MESH_FOLDER
CARD = FACE_MESH_CARD
MODEL_FILE = FACE_MESH_MODEL
MAPPING_FILE = FACE_MESH_MAPPING


def installed_face_mesh_dir() -> Path:
    """The face mesh shipped with fertui (inside the installed models folder)."""
    return installed_models_dir() / FOLDER


MESH_POINTS = 468
INPUT_SIZE = 192
CROP_SCALE = 1.5  # MediaPipe's face_detection_front_detection_to_roi and face_landmarks_to_roi: 1.5x, square
PRESENCE_THRESHOLD = 0.5  # MediaPipe's min_tracking_confidence: below it the mesh is not trusted (nor tracked)
EYE_OUTER = (33, 263)  # mesh vertices of the outer eye corners (image left, image right): the crop's rotation


@dataclass(frozen=True)
class Roi:
    """A square crop of the frame: centre (x, y) in pixels, side in pixels, rotation in radians (image y down)."""

    cx: float
    cy: float
    side: float
    angle: float

    def crop_to_frame(self) -> np.ndarray:
        """(2, 3) affine from crop pixels (0..INPUT_SIZE) to frame pixels."""
        scale = self.side / INPUT_SIZE
        cos, sin = np.cos(self.angle) * scale, np.sin(self.angle) * scale
        half = INPUT_SIZE / 2
        return np.array(
            [[cos, -sin, self.cx - (cos - sin) * half], [sin, cos, self.cy - (sin + cos) * half]], dtype=np.float64
        )


def eye_angle(left: np.ndarray, right: np.ndarray) -> float:
    """The angle of the line from the image-left eye to the image-right eye (0: level)."""
    return float(np.arctan2(right[1] - left[1], right[0] - left[0]))


def roi_from_box(face: Face) -> Roi:
    """The crop MediaPipe would make from a detection: box centre, 1.5x its longer side, eyes level."""
    x, y, w, h = face.box
    angle = 0.0 if face.keypoints is None else eye_angle(face.keypoints[0], face.keypoints[1])
    return Roi(x + w / 2, y + h / 2, max(w, h) * CROP_SCALE, angle)


def roi_from_mesh(mesh: np.ndarray) -> Roi:
    """The crop MediaPipe makes from a mesh to track it: the points' bounds turned level by the eyes, 1.5x."""
    angle = eye_angle(mesh[EYE_OUTER[0], :2], mesh[EYE_OUTER[1], :2])
    cos, sin = np.cos(-angle), np.sin(-angle)
    centre = mesh[:, :2].mean(axis=0)
    level = (mesh[:, :2] - centre) @ np.array([[cos, sin], [-sin, cos]])  # rotate by -angle about the centre
    low, high = level.min(axis=0), level.max(axis=0)
    middle = (low + high) / 2
    cos_back, sin_back = np.cos(angle), np.sin(angle)
    cx = centre[0] + cos_back * middle[0] - sin_back * middle[1]
    cy = centre[1] + sin_back * middle[0] + cos_back * middle[1]
    return Roi(float(cx), float(cy), float(max(high - low)) * CROP_SCALE, angle)


def _span(low: float, high: float, size: int) -> tuple[int, int]:
    """The pixels [start, stop) of a frame `size` wide that cover low..high, at least 2 (a square off the
    frame gets its nearest edge, which warpAffine then replicates as it would the whole frame's)."""
    start, stop = max(0, int(np.floor(low))), min(size, int(np.ceil(high)) + 1)
    if stop - start < 2:
        start = max(0, min(start, size - 2))
        stop = min(size, start + 2)
    return start, stop


def model_crop(image_bgr: np.ndarray, roi: Roi, affine: np.ndarray | None = None) -> np.ndarray:
    """The model's 192x192 RGB input: the `roi` square of a BGR frame, bilinear, edges replicated.

    OpenCV's warpAffine has a vector path for 4-channel images and not for 3: so only the part of the frame
    the square covers (plus 2 px for the interpolation; clipped to the frame, whose edges are then the ones
    replicated) is turned into BGRA and warped. It matches warping the whole BGR frame within 1 grey level.
    """
    affine = roi.crop_to_frame() if affine is None else affine
    height, width = image_bgr.shape[:2]
    reach = roi.side * (abs(np.cos(roi.angle)) + abs(np.sin(roi.angle))) / 2 + 2  # half the square's bounds
    x0, x1 = _span(roi.cx - reach, roi.cx + reach, width)
    y0, y1 = _span(roi.cy - reach, roi.cy + reach, height)
    region = cv2.cvtColor(image_bgr[y0:y1, x0:x1], cv2.COLOR_BGR2BGRA)
    shifted = affine - np.array([[0.0, 0.0, x0], [0.0, 0.0, y0]])  # crop pixels to region pixels
    crop = cv2.warpAffine(
        region,
        shifted,
        (INPUT_SIZE, INPUT_SIZE),
        flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return cv2.cvtColor(crop, cv2.COLOR_BGRA2RGB)


def read_mapping(folder: Path | None = None) -> np.ndarray:
    """The 68 mesh vertex indices that stand for the iBUG 300-W points, in iBUG order."""
    path = Path(folder or installed_face_mesh_dir()) / MAPPING_FILE
    try:
        indices = np.asarray(json.loads(path.read_text(encoding="utf-8"))["ibug68_from_mesh"], dtype=np.int64)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"cannot read the mesh-to-68 mapping {path}: {exc}") from None
    if indices.shape != (68,) or indices.min() < 0 or indices.max() >= MESH_POINTS:
        raise ModelError(f"{path} must list 68 vertex indices between 0 and {MESH_POINTS - 1}")
    return indices


class FaceMesh:
    """The face mesh network: `run(bgr, roi)` -> (468, 3) points in frame pixels and the face-presence score.

    Not thread-safe (one LiteRT interpreter): the processing thread owns it.
    """

    def __init__(self, folder: Path | None = None, num_threads: int = 1) -> None:
        from pipeline.runtime.tflite import make_interpreter

        folder = Path(folder or installed_face_mesh_dir())
        self.path = folder / MODEL_FILE
        self.sha256 = face_mesh_sha256(folder)
        self._interpreter: Any = make_interpreter(read_verified(self.path, self.sha256), num_threads)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = self._interpreter.get_output_details()
        # the points are the 1404-wide output, the presence logit the single value
        by_size = {int(np.prod(detail["shape"])): detail["index"] for detail in outputs}
        if set(by_size) != {MESH_POINTS * 3, 1} or len(outputs) != 2:
            raise ModelError(f"{self.path} is not MediaPipe's face mesh (outputs {sorted(by_size)})")
        self._points, self._presence = by_size[MESH_POINTS * 3], by_size[1]

    def run(self, image_bgr: np.ndarray, roi: Roi) -> tuple[np.ndarray, float]:
        """The mesh in the `roi` crop of a BGR frame (only the 192x192 crop is converted to RGB)."""
        affine = roi.crop_to_frame()
        rgb = model_crop(image_bgr, roi, affine)
        # RGB in [0, 1], as the card says, written straight into the interpreter's input buffer: no float copies
        # of the crop per face (the view is taken afresh each run, as LiteRT asks, never held across invoke)
        np.multiply(rgb, np.float32(1 / 255), out=self._interpreter.tensor(self._input)()[0], casting="unsafe")
        self._interpreter.invoke()
        points = self._interpreter.get_tensor(self._points).reshape(MESH_POINTS, 3).astype(np.float64)
        logit = float(self._interpreter.get_tensor(self._presence).ravel()[0])
        mesh = np.empty((MESH_POINTS, 3), dtype=np.float32)
        mesh[:, :2] = points[:, :2] @ affine[:, :2].T + affine[:, 2]
        mesh[:, 2] = points[:, 2] * (roi.side / INPUT_SIZE)  # depth on the frame's pixel scale
        return mesh, float(1 / (1 + np.exp(-logit)))


def _roi_inside(roi: Roi, box: tuple[float, float, float, float]) -> bool:
    x, y, w, h = box
    return x <= roi.cx <= x + w and y <= roi.cy <= y + h


class MeshLandmarkProcessor(Processor):
    """Landmarks from the face mesh: Face.mesh (468, 3) and Face.landmarks (68, 2), frame pixels.

    track: frame the next frame's face from this frame's mesh (video); False for photos, each on its own.
    A face whose mesh scores below PRESENCE_THRESHOLD gets no landmarks (the emotion crop falls back to the
    detector's keypoints, as it does without landmarks).
    """

    name = "landmarks"

    def __init__(self, folder: Path | None = None, *, track: bool = True) -> None:
        self.folder = Path(folder or installed_face_mesh_dir())
        self.track = track
        self.mapping = read_mapping(self.folder)
        # loaded (and its sha256 checked) here, before any thread starts: a missing or altered file is one line
        self._mesh: FaceMesh | None = FaceMesh(self.folder)
        self._previous: dict[int, np.ndarray] = {}  # face id -> its mesh in the previous processed frame

    def setup(self) -> None:
        if self._mesh is None:
            self._mesh = FaceMesh(self.folder)

    def _measure(self, image_bgr: np.ndarray, face: Face) -> tuple[np.ndarray, float]:
        assert self._mesh is not None
        previous = self._previous.get(face.face_id) if self.track and face.face_id is not None else None
        if previous is not None:
            roi = roi_from_mesh(previous)
            if _roi_inside(roi, face.box):
                return self._mesh.run(image_bgr, roi)
        mesh, score = self._mesh.run(image_bgr, roi_from_box(face))
        if score < PRESENCE_THRESHOLD:
            return mesh, score
        return self._mesh.run(image_bgr, roi_from_mesh(mesh))  # framed again as the tracker would frame it

    def process(self, result: FrameResult) -> FrameResult:
        if not result.faces:
            self._previous = {}
            return result
        self.setup()
        faces, tracked = [], {}
        for face in result.faces:
            mesh, score = self._measure(result.frame.image, face)
            if score < PRESENCE_THRESHOLD:
                faces.append(face)
                continue
            if face.face_id is not None:
                tracked[face.face_id] = mesh
            faces.append(face.replace(mesh=mesh, landmarks=np.ascontiguousarray(mesh[self.mapping, :2])))
        self._previous = tracked
        return result.replace(faces=tuple(faces))

    def close(self) -> None:
        self._mesh = None
        self._previous = {}

    def model_files(self) -> dict[str, str]:
        card = self.folder / CARD
        return {
            str(card): sha256_of(card),
            str(self.folder / MODEL_FILE): sha256_of(self.folder / MODEL_FILE),
            str(self.folder / MAPPING_FILE): sha256_of(self.folder / MAPPING_FILE),
        }

    def describe(self) -> dict[str, object]:
        path = self.folder / MODEL_FILE
        mapping = self.folder / MAPPING_FILE
        return {
            "name": self.name,
            "model": "face_mesh",
            "file": path.name,
            "sha256": sha256_of(path.read_bytes()) if path.is_file() else None,
            "mapping": mapping.name,
            "mapping_sha256": sha256_of(mapping.read_bytes()),
            "tracked": self.track,
        }
