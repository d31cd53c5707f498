"""Head pose per face per frame: the face mesh (or the 68 points) fitted to a reference head by cv2.solvePnP.

The reference (models/face_mesh/reference_shape.json) is this project's own: the mean of the face mesh over the
two public-domain portraits, made left-right symmetric with its own mirror image and scaled so that the eye
centres are 63 mm apart (the mean adult interpupillary distance), built by `scripts/face_mesh_models.py reference`
(build_reference below). Its axes are the camera's, as OpenFace's are: x to the right of the picture, y down,
z away from the camera; x is across the eyes; pitch 0 is the mean head pitch of the two portraits, people
facing the camera (their forehead-chin line leans back about 20 degrees from upright).

The fit uses the rigid part of the face only (forehead, eyes, nose: the vertices above the nose tip), so that a
smile or an open mouth does not turn the head. With dlib's 68 points it uses the eyes and nose (iBUG 27-47).

Angles, as OpenFace logs them: R = Rx(pose_Rx) @ Ry(pose_Ry) @ Rz(pose_Rz), radians, rotating the reference into
camera coordinates. So, in the picture: pose_Rx > 0 the face looks down, pose_Ry > 0 it turns towards the left
of the picture (the person's right), pose_Rz > 0 it tilts clockwise. pose_Tx/Ty/Tz: where the reference's
origin (the mean of its points, inside the head behind the nose) is, in mm from the camera; z away from it.
The focal length comes from the frame size as OpenFace's default does (500 px at 640 px wide) unless given
(`--focal PX`); Tz scales with it, the angles barely do.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from pipeline.core.frames import Face, FrameResult
from pipeline.processors.base import Processor
from pipeline.processors.face_mesh import MAPPING_FILE, MESH_POINTS, installed_face_mesh_dir, read_mapping
from pipeline.runtime.model_files import ModelError, sha256_of
from pipeline.runtime.model_set import FACE_MESH_REFERENCE

REFERENCE_FILE = FACE_MESH_REFERENCE
REFERENCE_COMMAND = "uv run python scripts/face_mesh_models.py reference"
EYE_DISTANCE_MM = 63.0  # between the eye centres: the mean adult interpupillary distance
FOREHEAD, CHIN, NOSE_TIP = 10, 152, 4  # mesh vertices that fix the reference's pitch and its rigid part
IBUG_RIGID = tuple(range(27, 48))  # nose bridge, nostrils and eyes: what the 68 points offer that barely moves
LEFT_EYE, RIGHT_EYE = tuple(range(36, 42)), tuple(range(42, 48))  # iBUG eye contours (left/right of the picture)


def default_focal(width: int) -> float:
    """OpenFace's default focal length for a frame `width` pixels wide: 500 px at 640."""
    return 500.0 * width / 640.0


def camera_matrix(width: int, height: int, focal: float | None = None) -> np.ndarray:
    f = default_focal(width) if focal is None else float(focal)
    return np.array([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]])


def euler_from_matrix(rotation: np.ndarray) -> np.ndarray:
    """(Rx, Ry, Rz) with rotation = Rx @ Ry @ Rz (OpenFace's RotationMatrix2Euler)."""
    ry = float(np.arcsin(np.clip(rotation[0, 2], -1.0, 1.0)))
    rx = float(np.arctan2(-rotation[1, 2], rotation[2, 2]))
    rz = float(np.arctan2(-rotation[0, 1], rotation[0, 0]))
    return np.array([rx, ry, rz])


def matrix_from_euler(rx: float, ry: float, rz: float) -> np.ndarray:
    cx, sx, cy, sy, cz, sz = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry), np.cos(rz), np.sin(rz)
    x = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    z = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return x @ y @ z


def project(points_mm: np.ndarray, pose: np.ndarray, camera: np.ndarray) -> np.ndarray:
    """The image points of `points_mm` (N, 3) placed at `pose` (Rx, Ry, Rz, Tx, Ty, Tz): (N, 2)."""
    placed = points_mm @ matrix_from_euler(*pose[:3]).T + pose[3:6]
    uv = placed @ camera.T
    return uv[:, :2] / uv[:, 2:3]


def rigid_vertices(reference: np.ndarray) -> np.ndarray:
    """The reference's vertices above its nose tip: forehead, brows, eyes and nose, which expressions move least."""
    return np.flatnonzero(reference[:, 1] <= reference[NOSE_TIP, 1])


def read_reference(folder: Path | None = None) -> np.ndarray:
    path = Path(folder or installed_face_mesh_dir()) / REFERENCE_FILE
    try:
        shape = np.asarray(json.loads(path.read_text(encoding="utf-8"))["points_mm"], dtype=np.float64)
    except FileNotFoundError:
        raise ModelError(f"{path} is missing (build it: {REFERENCE_COMMAND})") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"cannot read the reference head shape {path}: {exc}") from None
    if shape.shape != (MESH_POINTS, 3):
        raise ModelError(f"{path}: expected {MESH_POINTS} points in 3D, found shape {shape.shape}")
    return shape


class HeadPose:
    """Fits a reference head to image points: `fit(points_2d, camera, subset)` -> (Rx, Ry, Rz, Tx, Ty, Tz)."""

    def __init__(self, reference: np.ndarray, mapping: np.ndarray) -> None:
        self.reference = reference
        # every other rigid vertex: half the fitting time, and still within 1 degree with 1 px of noise
        self.mesh_subset = rigid_vertices(reference)[::2]
        self.ibug_reference = reference[mapping]
        # the objects fitted every frame, made once (float64, contiguous: what OpenCV takes without a copy)
        self._mesh_object = np.ascontiguousarray(reference[self.mesh_subset], dtype=np.float64)
        self._ibug_object = np.ascontiguousarray(self.ibug_reference[list(IBUG_RIGID)], dtype=np.float64)

    def fit(
        self, object_mm: np.ndarray, image_px: np.ndarray, camera: np.ndarray, *, refine: bool = True
    ) -> np.ndarray | None:
        """SQPnP's global minimum, then (refine) Levenberg-Marquardt on the reprojection error.

        On the mesh's 143 vertices the refinement moves the angles by at most about 0.1 degree (the generated
        scenes of benchmarks.landmarks) while taking most of the fit's time, so the mesh skips it; dlib's 21
        points keep it.
        """
        image = np.ascontiguousarray(image_px, dtype=np.float64)
        ok, rvec, tvec = cv2.solvePnP(object_mm, image, camera, None, flags=cv2.SOLVEPNP_SQPNP)
        if not ok:
            return None
        if refine:
            rvec, tvec = cv2.solvePnPRefineLM(object_mm, image, camera, None, rvec, tvec)
        rotation, _ = cv2.Rodrigues(rvec)
        pose = np.concatenate([euler_from_matrix(rotation), tvec.ravel()])
        return pose if np.all(np.isfinite(pose)) and pose[5] > 0 else None

    def fit_mesh(self, mesh: np.ndarray, camera: np.ndarray) -> np.ndarray | None:
        """The pose of a face mesh (468, 2 or 3; frame pixels) from its rigid vertices."""
        return self.fit(self._mesh_object, mesh[self.mesh_subset, :2], camera, refine=False)

    def fit_ibug(self, landmarks: np.ndarray, camera: np.ndarray) -> np.ndarray | None:
        """The pose of 68 iBUG points (frame pixels) from the eyes and nose."""
        return self.fit(self._ibug_object, landmarks[list(IBUG_RIGID)], camera)

    def face_pose(self, face: Face, camera: np.ndarray) -> np.ndarray | None:
        """From the mesh when the face has one (its rigid vertices), else from the 68 points (eyes and nose)."""
        if face.mesh is not None:
            return self.fit_mesh(face.mesh, camera)
        if face.landmarks is not None:
            return self.fit_ibug(face.landmarks, camera)
        return None


class HeadPoseProcessor(Processor):
    """Face.pose for every face with landmarks; `focal`: the camera's focal length in pixels (None: from width)."""

    name = "pose"

    def __init__(self, folder: Path | None = None, *, focal: float | None = None) -> None:
        self.folder = Path(folder or installed_face_mesh_dir())
        self.focal = focal
        self.pose = HeadPose(read_reference(self.folder), read_mapping(self.folder))

    def process(self, result: FrameResult) -> FrameResult:
        if not any(face.mesh is not None or face.landmarks is not None for face in result.faces):
            return result
        camera = camera_matrix(result.frame.width, result.frame.height, self.focal)
        faces = tuple(face.replace(pose=self.pose.face_pose(face, camera)) for face in result.faces)
        return result.replace(faces=faces)

    def model_files(self) -> dict[str, str]:
        # the mapping too: the pose is fitted on mesh vertices, or on dlib's points through it
        return {str(self.folder / name): sha256_of(self.folder / name) for name in (REFERENCE_FILE, MAPPING_FILE)}

    def describe(self) -> dict[str, object]:
        path = self.folder / REFERENCE_FILE
        return {
            "name": self.name,
            "reference": path.name,
            "reference_sha256": sha256_of(path.read_bytes()),
            "focal_px": self.focal if self.focal is not None else "500 * width / 640",
        }


# -- building the reference (development: scripts/face_mesh_models.py reference) ----------------------------


def mirror_pairs(mesh: np.ndarray, mirrored_mesh: np.ndarray, width: int) -> np.ndarray:
    """For each vertex, its mirror partner: the mesh of the mirrored picture, flipped back, lands vertex i where
    the original has partner(i)."""
    flipped = mirrored_mesh.copy()
    flipped[:, 0] = width - 1 - flipped[:, 0]
    distances = np.linalg.norm(flipped[:, None, :2] - mesh[None, :, :2], axis=2)
    return distances.argmin(axis=1)


def _align(shape: np.ndarray, target: np.ndarray) -> np.ndarray:
    """`shape` moved onto `target` by the rotation, translation and scale that fit best (Umeyama)."""
    a, b = shape - shape.mean(0), target - target.mean(0)
    u, s, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(u @ vt))
    rotation = u @ np.diag([1, 1, d]) @ vt
    scale = (s * [1, 1, d]).sum() / (a**2).sum()
    return scale * a @ rotation + target.mean(0)


def head_frame(shape: np.ndarray, mapping: np.ndarray) -> np.ndarray:
    """`shape` centred on its mean, turned into axes x across the eyes, y from forehead to chin, and scaled to
    EYE_DISTANCE_MM between the eye centres."""
    left = shape[mapping[list(LEFT_EYE)]].mean(0)
    right = shape[mapping[list(RIGHT_EYE)]].mean(0)
    x = (right - left) / np.linalg.norm(right - left)
    down = shape[CHIN] - shape[FOREHEAD]
    y = down - x * (down @ x)
    y /= np.linalg.norm(y)
    z = np.cross(x, y)
    centred = (shape - shape.mean(0)) @ np.stack([x, y, z]).T
    return centred * (EYE_DISTANCE_MM / np.linalg.norm(right - left))


def build_reference(folder: Path | None = None) -> np.ndarray:
    """The mean mesh over the demo portraits, made symmetric with its mirror image, in mm (see the module text)."""
    from pipeline.io.sources import portrait_paths, read_image
    from pipeline.processors.detection import make_detector
    from pipeline.processors.face_mesh import FaceMesh, roi_from_box, roi_from_mesh

    mesh_model, detector, mapping = FaceMesh(folder), make_detector("fast", track=False), read_mapping(folder)

    def measure(image_bgr: np.ndarray) -> np.ndarray:
        (face,) = detector.detect(np.ascontiguousarray(image_bgr[:, :, ::-1]))  # type: ignore[union-attr]
        first, _ = mesh_model.run(image_bgr, roi_from_box(face))
        mesh, _ = mesh_model.run(image_bgr, roi_from_mesh(first))
        return mesh.astype(np.float64)

    shapes, pairs = [], None
    for path in portrait_paths():
        image = read_image(path)
        if image is None:
            raise ModelError(f"cannot read {path}")
        shapes.append(measure(image))
        if pairs is None:  # the partners, from the first portrait and its mirror image
            pairs = mirror_pairs(shapes[-1], measure(np.ascontiguousarray(image[:, ::-1])), image.shape[1])
    assert pairs is not None
    target = head_frame(shapes[0], mapping)
    aligned = [_align(shape, target) for shape in shapes]
    for _ in range(3):  # generalised Procrustes: align to the mean until it settles
        mean = np.mean(aligned, axis=0)
        aligned = [_align(shape, mean) for shape in aligned]
    mean = head_frame(np.mean(aligned, axis=0), mapping)
    mirrored_mean = mean[pairs] * [-1, 1, 1]  # the mirror image, each vertex at its partner's place
    symmetric = head_frame((mean + _align(mirrored_mean, mean)) / 2, mapping)
    # Pitch 0 is how the people in the portraits hold their heads facing the camera: the forehead-chin line of a
    # face looking into a camera leans back, by about 20 degrees in both. Turn the reference by their mean pitch.
    fitter = HeadPose(symmetric, mapping)
    pitches = []
    for path, shape in zip(portrait_paths(), shapes, strict=True):
        image = read_image(path)
        assert image is not None
        pose = fitter.fit(
            symmetric[fitter.mesh_subset], shape[fitter.mesh_subset, :2], camera_matrix(*image.shape[1::-1])
        )
        if pose is None:
            raise ModelError(f"the reference does not fit {path}")
        pitches.append(pose[0])
    turned = symmetric @ matrix_from_euler(float(np.mean(pitches)), 0.0, 0.0).T
    return turned - turned.mean(0)


def write_reference(shape: np.ndarray, folder: Path | None = None) -> Path:
    path = Path(folder or installed_face_mesh_dir()) / REFERENCE_FILE
    document = {
        "description": "Reference head for fertui's head pose: the face mesh's 468 vertices in mm, x to the right "
        "of the picture, y down, z away from the camera; origin at the mean vertex.",
        "source": "fertui's own face mesh (face_landmark.tflite) on the two public-domain demo portraits (Grace "
        "Hopper, matplotlib; Eileen Collins, scikit-image), aligned by generalised Procrustes, made "
        f"symmetric with its mirror image, scaled to {EYE_DISTANCE_MM} mm between the eye centres. Built by "
        f"`{REFERENCE_COMMAND}`.",
        "points_mm": np.round(shape, 3).tolist(),
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return path
