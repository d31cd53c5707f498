"""The processing chain, built one way for both `fertui analyze` and the live app.

detection -> tracking -> landmarks -> emotion. The emotion model is loaded (and its sha256 checked)
here, before any thread starts, so a missing or altered model is one clear line at start, not an
error halfway through a session.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from pipeline.emotion import MODELS_DIR
from pipeline.processors.base import Processor
from pipeline.processors.detection import DetectionProcessor, make_detector
from pipeline.processors.landmarks import LandmarkProcessor
from pipeline.processors.tracking import TrackingProcessor


@dataclass
class EngineConfig:
    min_face: int = 20  # smallest face, in pixels, the detector looks for
    detect_every: int = 5  # full detection every N frames when the detector tracks in between
    detector: str = "fast"  # "fast" (FastMTCNN + tracking) or "package" (mtcnn's detect_faces every frame)
    landmarks: bool = True  # 68-point landmarks (dlib) on each face
    smoothing: float = 0.8  # weight of the past in the per-face exponential smoothing of probabilities
    jitter_crops: int = 9  # crops per face per frame, alignments averaged (1: the plain crop only)
    unclear_threshold: float | None = None  # None: the model card's value
    models_dir: Path = field(default_factory=lambda: MODELS_DIR)

    def describe(self) -> dict[str, object]:
        return {key: str(value) if isinstance(value, Path) else value for key, value in asdict(self).items()}


def build_processors(config: EngineConfig) -> list[Processor]:
    """The processors for `config`, emotion model loaded and verified. Raises ModelError when it is missing."""
    from pipeline.emotion.classifier import EmotionClassifier
    from pipeline.processors.emotion import EmotionProcessor

    classifier = EmotionClassifier.load(config.models_dir)
    processors: list[Processor] = [
        DetectionProcessor(make_detector(config.detector, config.min_face, config.detect_every)),
        TrackingProcessor(),
    ]
    if config.landmarks:
        processors.append(LandmarkProcessor())
    processors.append(
        EmotionProcessor(
            classifier,
            smoothing=config.smoothing,
            unclear_threshold=config.unclear_threshold,
            jitter_crops=config.jitter_crops,
        )
    )
    return processors
