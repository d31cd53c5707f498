"""The emotion classifier the app runs: a TFLite model, verified by sha256 against the model card before loading.

`models/MODEL_CARD.md` is the one source of truth for which file(s) to load, their sha256, the temperature that
calibrates it and the `unclear` rule; it carries them in its one fenced ```json block (written by
pipeline/modelling/conversion.py and pipeline/modelling/release.py).
TFLite (one thread, XNNPACK) was the fastest runtime for one face and for small batches
(benchmarks/emotion_inference.py), and it loads no pickled or executable Python: a .tflite file is a
flatbuffer of ops and weights.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipeline.core.files import sha256_of
from pipeline.core.labels import EMOTIONS
from pipeline.runtime.emotion.calibration import UNCLEAR_METRICS, apply_class_bias, apply_temperature, unclear_mask
from pipeline.runtime.emotion.model_card import MODEL_CARD, ModelCard
from pipeline.runtime.model_files import ModelError, read_verified
from pipeline.runtime.tflite import make_interpreter

if TYPE_CHECKING:
    from pipeline.runtime.model_set import ModelSet

__all__ = ["MODEL_CARD", "EmotionClassifier", "ModelError", "read_model_card"]  # ModelError: callers catch it here


def read_model_card(models_dir: Path) -> ModelCard:
    """The machine-readable part of models_dir/MODEL_CARD.md (its one ```json block)."""
    return ModelCard.read(models_dir)


class EmotionClassifier:
    """Batched 48x48 grayscale faces -> (N, 7) emotion probabilities in EMOTIONS order.

    `predict` gives the model's own output per crop (an ensemble's members averaged); `face_probabilities`
    gives what the app shows for a face: the average over its crops (alignment jitters), calibrated by the
    model card's temperature.
    Not thread-safe: use one instance per thread (the processing thread owns it in the pipeline).
    """

    def __init__(
        self,
        files: Sequence[tuple[Path | str, str]],
        *,
        unclear_metric: str = "margin",
        unclear_threshold: float = 0.0,
        temperature: float = 1.0,
        num_threads: int = 1,
        multiply_adds_per_face: int | None = None,
        class_bias: Sequence[float] | None = None,
        contents: Sequence[bytes] | None = None,
        card_path: Path | None = None,
    ) -> None:
        """files: (path, sha256) of each member; an ensemble averages its members' probabilities.

        class_bias: a log-prior shift per class (EMOTIONS order) applied before the temperature; None: none.

        multiply_adds_per_face: one face's cost through every member (None: not known; the card predates it).
        contents: each member's bytes, already verified against its sha256 (a ModelSet's); None: read here.
        card_path: the card these settings come from (listed with the files it ran).
        """
        if not files:
            raise ModelError("an emotion classifier needs at least one model file")
        if unclear_metric not in UNCLEAR_METRICS:
            raise ModelError(f"unknown unclear metric {unclear_metric!r} in the model card")
        self.unclear_metric = unclear_metric
        self.unclear_threshold = float(unclear_threshold)
        if not temperature > 0.0:
            raise ModelError(f"temperature must be positive, the model card says {temperature}")
        self.temperature = float(temperature)
        bias = np.zeros(len(EMOTIONS)) if class_bias is None else np.asarray(class_bias, dtype=np.float64)
        if bias.shape != (len(EMOTIONS),) or not np.all(np.isfinite(bias)):
            raise ModelError(f"the class bias must be {len(EMOTIONS)} finite numbers, the model card says {class_bias}")
        self.class_bias = bias
        self.num_threads = num_threads
        self.multiply_adds_per_face = multiply_adds_per_face
        given = list(contents) if contents is not None else [None] * len(files)
        self._members = [
            _Member(Path(path), sha256, num_threads, content)
            for (path, sha256), content in zip(files, given, strict=True)
        ]
        self.card_path = card_path
        self.path, self.sha256 = self._members[0].path, self._members[0].sha256

    @property
    def files(self) -> dict[str, str]:
        """File name -> sha256 of every member, in the order they are averaged."""
        return {member.path.name: member.sha256 for member in self._members}

    @classmethod
    def load(cls, models_dir: Path | str, *, num_threads: int = 1, calibrated: bool = True) -> EmotionClassifier:
        """The model named by models_dir/MODEL_CARD.md, checked against the sha256 written there.

        calibrated=False ignores the card's temperature, class bias and unclear rule: the raw averages, to fit
        them on.
        """
        models_dir = Path(models_dir)
        return cls._from_card(ModelCard.read(models_dir), models_dir, None, num_threads, calibrated)

    @classmethod
    def from_model_set(cls, models: ModelSet, *, num_threads: int = 1, calibrated: bool = True) -> EmotionClassifier:
        """The emotion model of a ModelSet, from the bytes it verified."""
        contents = [models.emotion[name] for name in models.emotion_card.member_files]
        return cls._from_card(models.emotion_card, models.folder, contents, num_threads, calibrated)

    @classmethod
    def _from_card(
        cls, card: ModelCard, models_dir: Path, contents: list[bytes] | None, num_threads: int, calibrated: bool
    ) -> EmotionClassifier:
        unclear = card.unclear if calibrated else {}
        costs = [card.files[name].get("multiply_adds_per_face") for name in card.member_files]
        known_costs = [int(cost) for cost in costs if cost is not None]
        return cls(
            [(models_dir / name, str(card.files[name]["sha256"])) for name in card.member_files],
            unclear_metric=unclear.get("metric", "margin"),
            unclear_threshold=float(unclear.get("threshold", 0.0)),
            temperature=card.temperature_value if calibrated else 1.0,
            num_threads=num_threads,
            multiply_adds_per_face=sum(known_costs) if len(known_costs) == len(costs) else None,
            class_bias=card.class_bias_values if calibrated else None,
            contents=contents,
            card_path=models_dir / MODEL_CARD,
        )

    def uncalibrated(self) -> EmotionClassifier:
        """The same networks without temperature, class bias or unclear rule (sharing the loaded files: use it
        on the thread that uses this one)."""
        plain = copy.copy(self)
        plain.temperature, plain.class_bias = 1.0, np.zeros(len(EMOTIONS))
        plain.unclear_metric, plain.unclear_threshold = "margin", 0.0
        return plain

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """Probabilities (N, 7) float32 for crops (N, 48, 48) uint8 (face_crop's output): each member's output,
        averaged over the members."""
        crops = np.asarray(crops)
        if crops.ndim != 3 or crops.shape[1:] != (48, 48):
            raise ValueError(f"crops must be (N, 48, 48), got {crops.shape}")
        if len(crops) == 0:
            return np.zeros((0, len(EMOTIONS)), dtype=np.float32)
        crops = np.ascontiguousarray(crops, dtype=np.uint8)
        return np.stack([member.predict(crops) for member in self._members]).mean(axis=0)

    def face_probabilities(self, crops: np.ndarray) -> np.ndarray:
        """Calibrated (F, 7) probabilities for F faces from their crops (F, J, 48, 48): each face's J crops
        (the same face under J alignment jitters) are classified in one call, averaged, then calibrated."""
        crops = np.asarray(crops)
        if crops.ndim != 4:
            raise ValueError(f"crops must be (faces, jitters, 48, 48), got {crops.shape}")
        faces, jitters = crops.shape[:2]
        if faces == 0:
            return np.zeros((0, len(EMOTIONS)), dtype=np.float32)
        averaged = self.predict(crops.reshape(faces * jitters, *crops.shape[2:])).reshape(faces, jitters, -1).mean(1)
        return self.calibrate(averaged)

    def calibrate(self, probs: np.ndarray) -> np.ndarray:
        """The card's class bias, then its temperature, applied to (N, 7) probabilities (unchanged without
        either)."""
        probs = apply_class_bias(np.asarray(probs, dtype=np.float32), self.class_bias)
        return probs if self.temperature == 1.0 else apply_temperature(probs, self.temperature)

    def unclear(self, probs: np.ndarray, threshold: float | None = None) -> np.ndarray:
        """True where the model card's unclear rule (or `threshold` with the card's metric) says unclear."""
        return unclear_mask(probs, self.unclear_metric, self.unclear_threshold if threshold is None else threshold)

    def model_files(self) -> dict[str, str]:
        """Path -> sha256 of the card (when loaded from one) and every member file."""
        files = {str(self.card_path): sha256_of(self.card_path)} if self.card_path is not None else {}
        files.update({str(member.path): member.sha256 for member in self._members})
        return files

    def describe(self) -> dict[str, object]:
        described: dict[str, object] = {"file": self.path.name, "sha256": self.sha256}
        if self.class_bias.any():
            described["class_bias"] = dict(zip(EMOTIONS, map(float, self.class_bias), strict=True))
        if len(self._members) > 1:
            described["members"] = [{"file": name, "sha256": digest} for name, digest in self.files.items()]
        return {
            **described,
            "temperature": self.temperature,
            "thresholds": {"unclear_metric": self.unclear_metric, "unclear": self.unclear_threshold},
        }


class _Member:
    """One TFLite file of the classifier: verified, loaded, and resized to the batch it is given."""

    def __init__(self, path: Path, sha256: str, num_threads: int, content: bytes | None = None) -> None:
        self.path, self.sha256 = path, sha256
        if content is None:
            content = read_verified(path, sha256)
        try:
            self._interpreter = make_interpreter(content, num_threads)
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot load {path} as a TFLite model: {str(exc).splitlines()[0]}") from None
        (inp,) = self._interpreter.get_input_details()
        (out,) = self._interpreter.get_output_details()
        if list(inp["shape_signature"][1:]) != [48, 48] or inp["dtype"] != np.uint8:
            raise ModelError(f"{path}: input {inp['shape_signature']} {inp['dtype']}, expected (N, 48, 48) uint8")
        if out["shape_signature"][-1] != len(EMOTIONS):
            raise ModelError(f"{path}: output {out['shape_signature']}, expected (N, {len(EMOTIONS)})")
        self._input_index, self._output_index = inp["index"], out["index"]
        self._batch = int(inp["shape"][0])

    def predict(self, crops: np.ndarray) -> np.ndarray:
        n = len(crops)
        if n != self._batch:
            self._interpreter.resize_tensor_input(self._input_index, [n, 48, 48], strict=False)
            self._interpreter.allocate_tensors()
            self._batch = n
        self._interpreter.set_tensor(self._input_index, crops)
        self._interpreter.invoke()
        return np.array(self._interpreter.get_tensor(self._output_index), dtype=np.float32)
