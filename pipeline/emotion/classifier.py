"""The emotion classifier the app runs: a TFLite model, verified by sha256 against the model card before loading.

`models/MODEL_CARD.md` is the one source of truth for which file to load, its sha256 and the `unclear`
threshold; it carries them in its one fenced ```json block (written by pipeline/emotion/export.py).
TFLite (one thread, XNNPACK) was the fastest runtime for one face and for small batches
(benchmarks/emotion_inference.py), and it loads no pickled or executable Python: a .tflite file is a
flatbuffer of ops and weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.emotion import EMOTIONS, MODELS_DIR
from pipeline.model_files import ModelError, read_card_json, read_verified
from pipeline.tflite import make_interpreter

__all__ = ["EmotionClassifier", "ModelError", "read_model_card", "unclear_mask"]  # ModelError: callers catch it here

MODEL_CARD = "MODEL_CARD.md"
UNCLEAR_METRICS = ("top_probability", "margin")
"""How confidence is measured for the `unclear` label: the top probability, or its margin over the second."""


def read_model_card(models_dir: Path = MODELS_DIR) -> dict:
    """The machine-readable part of models_dir/MODEL_CARD.md (its one ```json block)."""
    card_path = Path(models_dir) / MODEL_CARD
    card = read_card_json(card_path, "train and export a model: fertui train, fertui export")
    try:
        card["files"][card["model"]]["sha256"]  # noqa: B018 - checks the keys the loader needs
    except (KeyError, TypeError) as exc:
        raise ModelError(f"{card_path}: the json block is not a fertui model card ({exc!r})") from None
    if list(card.get("classes", EMOTIONS)) != list(EMOTIONS):
        raise ModelError(f"{card_path}: classes {card.get('classes')} differ from fertui's {list(EMOTIONS)}")
    return card


def unclear_mask(probs: np.ndarray, metric: str, threshold: float) -> np.ndarray:
    """True where a probability row is not confident enough to name an emotion."""
    if metric not in UNCLEAR_METRICS:
        raise ValueError(f"unknown unclear metric {metric!r} (choose from {', '.join(UNCLEAR_METRICS)})")
    probs = np.asarray(probs, dtype=np.float32)
    if len(probs) == 0 or threshold <= 0.0:
        return np.zeros(len(probs), dtype=bool)
    top2 = np.sort(probs, axis=1)[:, -2:]
    score = top2[:, 1] if metric == "top_probability" else top2[:, 1] - top2[:, 0]
    return score < threshold


class EmotionClassifier:
    """Batched 48x48 grayscale faces -> (N, 7) emotion probabilities in EMOTIONS order.

    Not thread-safe: use one instance per thread (the processing thread owns it in the pipeline).
    """

    def __init__(
        self,
        path: Path | str,
        sha256: str,
        *,
        unclear_metric: str = "margin",
        unclear_threshold: float = 0.0,
        num_threads: int = 1,
    ) -> None:
        self.path = Path(path)
        content = read_verified(self.path, sha256)
        if unclear_metric not in UNCLEAR_METRICS:
            raise ModelError(f"unknown unclear metric {unclear_metric!r} in the model card")
        self.sha256 = sha256
        self.unclear_metric = unclear_metric
        self.unclear_threshold = float(unclear_threshold)
        self.num_threads = num_threads
        try:
            self._interpreter = make_interpreter(content, num_threads)
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot load {self.path} as a TFLite model: {str(exc).splitlines()[0]}") from None
        (inp,) = self._interpreter.get_input_details()
        (out,) = self._interpreter.get_output_details()
        if list(inp["shape_signature"][1:]) != [48, 48] or inp["dtype"] != np.uint8:
            raise ModelError(f"{self.path}: input {inp['shape_signature']} {inp['dtype']}, expected (N, 48, 48) uint8")
        if out["shape_signature"][-1] != len(EMOTIONS):
            raise ModelError(f"{self.path}: output {out['shape_signature']}, expected (N, {len(EMOTIONS)})")
        self._input_index, self._output_index = inp["index"], out["index"]
        self._batch = int(inp["shape"][0])

    @classmethod
    def load(cls, models_dir: Path | str = MODELS_DIR, *, num_threads: int = 1) -> EmotionClassifier:
        """The model named by models_dir/MODEL_CARD.md, checked against the sha256 written there."""
        models_dir = Path(models_dir)
        card = read_model_card(models_dir)
        unclear = card.get("unclear", {})
        return cls(
            models_dir / card["model"],
            card["files"][card["model"]]["sha256"],
            unclear_metric=unclear.get("metric", "margin"),
            unclear_threshold=float(unclear.get("threshold", 0.0)),
            num_threads=num_threads,
        )

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """Probabilities (N, 7) float32 for crops (N, 48, 48) uint8 (face_crop's output), in one call."""
        crops = np.asarray(crops)
        if crops.ndim != 3 or crops.shape[1:] != (48, 48):
            raise ValueError(f"crops must be (N, 48, 48), got {crops.shape}")
        n = len(crops)
        if n == 0:
            return np.zeros((0, len(EMOTIONS)), dtype=np.float32)
        if n != self._batch:
            self._interpreter.resize_tensor_input(self._input_index, [n, 48, 48], strict=False)
            self._interpreter.allocate_tensors()
            self._batch = n
        self._interpreter.set_tensor(self._input_index, np.ascontiguousarray(crops, dtype=np.uint8))
        self._interpreter.invoke()
        return np.array(self._interpreter.get_tensor(self._output_index), dtype=np.float32)

    def unclear(self, probs: np.ndarray, threshold: float | None = None) -> np.ndarray:
        """True where the model card's unclear rule (or `threshold` with the card's metric) says unclear."""
        return unclear_mask(probs, self.unclear_metric, self.unclear_threshold if threshold is None else threshold)

    def describe(self) -> dict[str, object]:
        return {
            "file": self.path.name,
            "sha256": self.sha256,
            "thresholds": {"unclear_metric": self.unclear_metric, "unclear": self.unclear_threshold},
        }
