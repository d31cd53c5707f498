"""68-point facial landmarks (iBUG 300-W layout) from dlib's shape predictor, on each detected box (`--landmarks
dlib`; the default is the face mesh, pipeline/processors/face_mesh.py).

The predictor file is a ModelSet's (pipeline.runtime.model_set: the models folder's landmarks/, else the copy inside
the `face-recognition-models` wheel); it is never downloaded. dlib and that wheel are the `fertui[dlib]` extra: the
model was trained on iBUG 300-W, whose licence excludes commercial use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.core.files import sha256_of
from pipeline.core.frames import FrameResult
from pipeline.processors.base import Processor
from pipeline.runtime.model_set import landmark_predictor


class LandmarkProcessor(Processor):
    name = "landmarks"

    def __init__(self, path: Path | None = None, sha256: str | None = None) -> None:
        """path: the predictor file (a ModelSet's); None: the installed models' (LandmarkError when missing).
        sha256: its digest when already known (a ModelSet computed it)."""
        from pipeline.core.paths import installed_models_dir

        self.path = path or landmark_predictor(installed_models_dir())
        self._sha256 = sha256
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

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            self._sha256 = sha256_of(self.path)
        return self._sha256

    def model_files(self) -> dict[str, str]:
        return {str(self.path): self.sha256}

    def describe(self) -> dict[str, object]:
        return {"name": self.name, "model": self.path.name, "sha256": self.sha256}
