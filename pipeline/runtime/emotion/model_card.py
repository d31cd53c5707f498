"""The emotion model's card: MODEL_CARD.md's one ```json block as a dataclass, the one format its reader (the
classifier) and its writers (`fertui export`, `fertui calibrate`) share.

The markdown around the block is for people (pipeline/modelling/conversion.py renders it); the block is what the app
trusts: which file to load and its sha256, the temperature that calibrates it, and the `unclear` rule.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.core.labels import EMOTIONS
from pipeline.runtime.model_files import ModelError, read_card_json

MODEL_CARD = "MODEL_CARD.md"
CARD_FORMAT = 1


@dataclass(kw_only=True)
class ModelCard:
    """What MODEL_CARD.md's json block holds, in its order."""

    format: int = CARD_FORMAT
    model: str
    files: dict[str, dict[str, Any]]  # file name -> {"sha256", "bytes"}
    runtime: str = "tflite"
    quantization: str
    input: dict[str, Any]
    output: dict[str, Any]
    classes: list[str] = field(default_factory=lambda: list(EMOTIONS))
    flip_tta: bool
    parameters: int
    unclear: dict[str, Any]  # {"metric", "threshold", ...: how it was chosen}
    status: str  # "final", or "interim" while the training run goes on
    exported: str  # ISO 8601
    temperature: dict[str, Any] | None = None  # {"value", ...: how it was fitted}; None: not calibrated
    # A log-prior correction per class, added before the temperature ({"values": {emotion: b}, ...: how it was
    # chosen}); None: none. It moves the decision, the temperature then calibrates.
    class_bias: dict[str, Any] | None = None
    # An ensemble: the files whose probabilities are averaged, `model` first. Empty: `model` alone.
    members: list[str] = field(default_factory=list)

    @property
    def sha256(self) -> str:
        return str(self.files[self.model]["sha256"])

    @property
    def member_files(self) -> list[str]:
        """The files the classifier runs and averages (one for a single model)."""
        return list(self.members) or [self.model]

    @property
    def temperature_value(self) -> float:
        return float((self.temperature or {}).get("value", 1.0))

    @property
    def class_bias_values(self) -> list[float]:
        """The bias of each class in EMOTIONS order (zeros without one)."""
        values = (self.class_bias or {}).get("values", {})
        return [float(values.get(emotion, 0.0)) for emotion in EMOTIONS]

    @property
    def calibration_labels(self) -> str:
        """The label set the model was calibrated by (the one it answers to); fer2013 for an uncalibrated card."""
        return str((self.temperature or {}).get("labels", "fer2013"))

    @classmethod
    def read(cls, models_dir: Path | str) -> ModelCard:
        """The card of models_dir (ModelError when it is missing, malformed or for other classes)."""
        card_path = Path(models_dir) / MODEL_CARD
        return cls.from_json(
            read_card_json(card_path, "train and export a model: fertui train, fertui export"), card_path
        )

    @classmethod
    def from_json(cls, data: object, where: Path | str = MODEL_CARD) -> ModelCard:
        names = {f.name for f in dataclasses.fields(cls)}
        try:
            if not isinstance(data, dict):
                raise TypeError("not an object")
            card = cls(**{key: value for key, value in data.items() if key in names})
            card.sha256  # noqa: B018 - checks the keys the loader needs
            missing = [name for name in card.member_files if name not in card.files]
            if missing or card.member_files[0] != card.model:
                raise KeyError(f"members {card.members} must start with {card.model} and be listed in files")
        except (KeyError, TypeError) as exc:
            raise ModelError(f"{where}: the json block is not a fertui model card ({exc!r})") from None
        if list(card.classes) != list(EMOTIONS):
            raise ModelError(f"{where}: classes {card.classes} differ from fertui's {list(EMOTIONS)}")
        return card

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for optional in ("temperature", "class_bias"):
            if data[optional] is None:
                del data[optional]
        if not data["members"]:
            del data["members"]
        return data
