"""68-point facial landmarks (iBUG 300-W layout) from dlib's shape predictor, on each detected box.

The predictor file ships inside the `face-recognition-models` wheel; it is found by path (importing
that package needs pkg_resources, which is not installed) and never downloaded.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.core.errors import FertuiError
from pipeline.core.frames import FrameResult
from pipeline.processors.base import Processor
from pipeline.processors.detection import sha256_of

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"


class LandmarkError(FertuiError):
    """The landmark model cannot be found; the message is one line for the user."""


def predictor_path() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise LandmarkError("face-recognition-models is not installed (uv sync), so 68-point landmarks are off")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / PREDICTOR_FILE
    if not path.is_file():
        raise LandmarkError(f"{path} is missing (reinstall face-recognition-models)")
    return path


class LandmarkProcessor(Processor):
    name = "landmarks"

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or predictor_path()
        self._predictor: Any = None  # dlib.shape_predictor, loaded in setup()

    def setup(self) -> None:
        import dlib

        self._predictor = dlib.shape_predictor(str(self.path))

    def process(self, result: FrameResult) -> FrameResult:
        if not result.faces:
            return result
        if self._predictor is None:
            self.setup()
        import dlib

        gray = cv2.cvtColor(result.frame.image, cv2.COLOR_BGR2GRAY)
        faces = []
        for face in result.faces:
            x, y, w, h = face.box
            rect = dlib.rectangle(int(round(x)), int(round(y)), int(round(x + w)), int(round(y + h)))
            shape = self._predictor(gray, rect)
            points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
            faces.append(face.replace(landmarks=points))
        return result.replace(faces=tuple(faces))

    def close(self) -> None:
        self._predictor = None

    def describe(self) -> dict[str, object]:
        return {"name": self.name, "model": self.path.name, "sha256": sha256_of(self.path)}
