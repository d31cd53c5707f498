"""The models one session runs, resolved from one folder and checked against their cards once.

A ModelSet is made from `--models DIR` (default: the installed models) for the processors a configuration
runs: the emotion model (MODEL_CARD.md and every member file it lists), the MTCNN networks (mtcnn/MTCNN_CARD.md and
its three files) when the fast detector runs, and the 68-point landmark predictor when landmarks run. Every file
is read and checked against the sha256 its card records here, before any thread starts; the processors are built
from the verified bytes, so what was checked is what runs. `files` names exactly those files: the sidecar and
the batch fingerprint record them.

With landmarks on, head pose and the eyes read the face mesh folder's 68-point mapping and reference head, and
`--landmarks mesh` runs its network (checked against FACE_MESH_CARD.md): DIR/face_mesh/ when the folder has one (a
set copied whole), else the installed one, recorded either way.

The landmark predictor (`--landmarks dlib`) has no card: it is DIR/landmarks/shape_predictor_68_face_landmarks.dat
when the folder has one, else the copy inside the `face-recognition-models` wheel (too large to ship twice); its
sha256 is recorded. dlib and that wheel are the `fertui[dlib]` extra (the model's licence excludes commercial use):
without dlib, asking for its landmarks is one line saying how to install it.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.core.errors import FertuiError
from pipeline.core.files import sha256_of
from pipeline.core.paths import installed_models_dir
from pipeline.runtime.detector import mtcnn_models
from pipeline.runtime.emotion.model_card import MODEL_CARD, ModelCard
from pipeline.runtime.model_files import ModelError, read_card_json, read_verified

LANDMARKS_FOLDER = "landmarks"
PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
PREDICTOR_PACKAGE = "face-recognition-models"
LANDMARK_FILE = f"{LANDMARKS_FOLDER}/{PREDICTOR_FILE}"
FACE_MESH_FOLDER = "face_mesh"
FACE_MESH_CARD = "FACE_MESH_CARD.md"
FACE_MESH_MODEL = "face_landmark.tflite"
FACE_MESH_MAPPING = "mesh_68.json"  # mesh vertex -> iBUG point
FACE_MESH_REFERENCE = "reference_shape.json"  # the reference head head pose fits
FACE_MESH_FETCH = "uv run python scripts/face_mesh_models.py fetch"
DLIB_EXTRA_HINT = (
    "--landmarks dlib needs dlib and its 68-point model, which are not installed: pip install 'fertui[dlib]' "
    "(or uv tool install 'fertui[dlib]'; its licence excludes commercial use; the default --landmarks mesh needs "
    "neither)"
)


class LandmarkError(FertuiError):
    """The landmark model cannot be found; the message is one line for the user."""


@dataclass(frozen=True)
class ModelFile:
    """One file a session runs (or whose card it trusts), where it is and its sha256."""

    path: Path
    sha256: str


@dataclass(frozen=True)
class ModelSet:
    """The checked files of one models folder that one configuration runs."""

    folder: Path
    emotion_card: ModelCard
    emotion: dict[str, bytes]  # member file name -> verified bytes, in the card's order
    mtcnn_card: dict | None = None  # None: the fast detector does not run
    mtcnn: dict[str, bytes] = field(default_factory=dict)  # "pnet", "rnet", "onet" -> verified bytes
    landmark_predictor: Path | None = None  # None: dlib's landmarks do not run
    face_mesh_dir: Path | None = None  # None: landmarks do not run (the mesh, its mapping and the reference head)
    files: dict[str, ModelFile] = field(default_factory=dict)  # a stable name (below `folder`) -> the file

    @classmethod
    def load(
        cls, folder: Path | str, *, detector: bool = True, landmarks: bool = True, landmark_model: str = "mesh"
    ) -> ModelSet:
        """The models of `folder`: the emotion model always; the MTCNN networks with `detector` (the fast one);
        with `landmarks`, the face mesh folder's mapping and reference head and the `landmark_model` ("mesh": the
        face mesh network, "dlib": the predictor). ModelError (or LandmarkError) names the file that is missing or
        does not match its card."""
        folder = Path(folder)
        files: dict[str, ModelFile] = {}

        card = ModelCard.read(folder)
        files[MODEL_CARD] = ModelFile(folder / MODEL_CARD, sha256_of(folder / MODEL_CARD))
        emotion = {}
        for name in card.member_files:
            sha256 = str(card.files[name]["sha256"])
            emotion[name] = read_verified(folder / name, sha256)
            files[name] = ModelFile(folder / name, sha256)

        mtcnn_card, mtcnn = None, {}
        if detector:
            mtcnn_dir = folder / mtcnn_models.FOLDER
            mtcnn_card = mtcnn_models.read_card(mtcnn_dir)
            mtcnn = mtcnn_models.load_networks(mtcnn_dir, mtcnn_card)
            card_name = f"{mtcnn_models.FOLDER}/{mtcnn_models.CARD}"
            files[card_name] = ModelFile(folder / card_name, sha256_of(folder / card_name))
            for name in mtcnn_models.NETWORKS:
                file = mtcnn_models.network_file(name)
                files[f"{mtcnn_models.FOLDER}/{file}"] = ModelFile(
                    mtcnn_dir / file, str(mtcnn_card["files"][file]["sha256"])
                )

        predictor, mesh_dir = None, None
        if landmarks:
            mesh_dir = face_mesh_dir(folder)
            for name in (FACE_MESH_MAPPING, FACE_MESH_REFERENCE):
                files[f"{FACE_MESH_FOLDER}/{name}"] = ModelFile(mesh_dir / name, _checked_sha256(mesh_dir / name))
            if landmark_model == "mesh":
                card_path = mesh_dir / FACE_MESH_CARD
                sha256 = face_mesh_sha256(mesh_dir)
                read_verified(mesh_dir / FACE_MESH_MODEL, sha256)
                files[f"{FACE_MESH_FOLDER}/{FACE_MESH_CARD}"] = ModelFile(card_path, sha256_of(card_path))
                files[f"{FACE_MESH_FOLDER}/{FACE_MESH_MODEL}"] = ModelFile(mesh_dir / FACE_MESH_MODEL, sha256)
            else:
                predictor = landmark_predictor(folder)
                files[LANDMARK_FILE] = ModelFile(predictor, predictor_sha256(predictor))

        return cls(
            folder=folder,
            emotion_card=card,
            emotion=emotion,
            mtcnn_card=mtcnn_card,
            mtcnn=mtcnn,
            landmark_predictor=predictor,
            face_mesh_dir=mesh_dir,
            files=files,
        )

    @property
    def landmark_sha256(self) -> str | None:
        file = self.files.get(LANDMARK_FILE)
        return file.sha256 if file is not None else None

    @property
    def mtcnn_dir(self) -> Path:
        return self.folder / mtcnn_models.FOLDER

    def sha256(self) -> dict[str, str]:
        """Stable name -> sha256 of every file: what a batch fingerprint compares (where the folder lies does
        not change a row, its files' content does)."""
        return {name: file.sha256 for name, file in self.files.items()}

    def describe(self) -> dict[str, object]:
        """For the sidecar: the folder, and the path and sha256 of exactly the files that run."""
        return {"folder": str(self.folder), "files": {str(file.path): file.sha256 for file in self.files.values()}}


def face_mesh_dir(folder: Path) -> Path:
    """`folder`/face_mesh when it holds a face mesh card (a models folder copied whole), else the installed one."""
    own = folder / FACE_MESH_FOLDER
    return own if (own / FACE_MESH_CARD).is_file() else installed_models_dir() / FACE_MESH_FOLDER


def face_mesh_sha256(mesh_dir: Path) -> str:
    """The face mesh network's sha256 as its card (mesh_dir/FACE_MESH_CARD.md) records it; ModelError when the card
    is missing or is not a face mesh card."""
    card_path = mesh_dir / FACE_MESH_CARD
    card = read_card_json(card_path, f"take the model from the mediapipe wheel: {FACE_MESH_FETCH}")
    try:
        return str(card["files"][FACE_MESH_MODEL]["sha256"])
    except (KeyError, TypeError) as exc:
        raise ModelError(f"{card_path}: the json block is not a face mesh card ({exc!r})") from None


def _checked_sha256(path: Path) -> str:
    if not path.is_file():
        raise ModelError(f"{path} is missing (the face mesh folder ships it; reinstall fertui)")
    return sha256_of(path)


def landmark_predictor(folder: Path) -> Path:
    """`folder`/landmarks/shape_predictor_68_face_landmarks.dat, else the face-recognition-models wheel's copy
    (found by path: importing that package needs pkg_resources, which is not installed; never downloaded).
    LandmarkError (DLIB_EXTRA_HINT) when dlib, which runs it, or the predictor is not installed: checked here, before
    any thread starts, so the user reads one line instead of an ImportError halfway through a session."""
    if importlib.util.find_spec("dlib") is None:
        raise LandmarkError(DLIB_EXTRA_HINT)
    own = folder / LANDMARKS_FOLDER / PREDICTOR_FILE
    if own.is_file():
        return own
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise LandmarkError(DLIB_EXTRA_HINT)
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / PREDICTOR_FILE
    if not path.is_file():
        raise LandmarkError(f"{path} is missing (reinstall {PREDICTOR_PACKAGE})")
    return path


def predictor_sha256(path: Path) -> str:
    """sha256 of the ~100 MB predictor, once per process while the file is unchanged (a batch worker starts a
    session per input; the networks are small and read anyway)."""
    stat = path.stat()
    return _file_sha256(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _file_sha256(path: Path, size: int, mtime_ns: int) -> str:
    return sha256_of(path)
