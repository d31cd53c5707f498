"""The processing chain, built one way for both `fertui analyze` and the live app.

Video and cameras: detection (tracked between full detections) -> tracking -> landmarks -> emotion, smoothed
per face in time. Photos (`stills`): full detection on every image -> face ids per image -> landmarks ->
emotion from the image alone; nothing is carried from one image to the next.

The emotion model is loaded (and its sha256 checked) here, before any thread starts, so a missing or altered
model is one clear line at start, not an error halfway through a session.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.emotion import MODELS_DIR
from pipeline.processors.base import Processor
from pipeline.processors.detection import DetectionProcessor, make_detector
from pipeline.processors.landmarks import LandmarkProcessor
from pipeline.processors.tracking import PerImageFaceIds, TrackingProcessor

if TYPE_CHECKING:
    from pipeline.emotion.classifier import EmotionClassifier

STILL_JITTER_CROPS = 25
"""Alignments averaged per face in a photo (the first 25 of the jitter cycle). A photo has no real-time budget, so
this is as many as help: on FER-2013 val through the photo path (benchmarks/jitter_count.py, 3,145 faces), the
negative log-likelihood after calibration fell from 0.8851 (1 crop) and 0.8773 (9) to 0.8726 (25), then only to
0.8723 (45) and 0.8717 (75), while accuracy stayed at 0.688-0.690 from 9 crops on; 25 costs a third of 75."""

VIDEO_NETWORK_CROPS = 6
"""Crops per face per video frame through one network of the default width: the emotion stage's real-time budget
(at most 6 ms per face per frame in benchmarks.pipeline on one core of a 2-core CPU; these 6 took 4.4-4.6 ms on one
AVX-512 CPU, 8.3-8.8 ms on an AVX-512 AMD EPYC and about 7 times the first on an AVX2-only one: on a slower CPU
the user asks for fewer, `--jitter-crops`). A single model of the default width averages 6 alignments per frame, a
two-member ensemble 3 through each member, a costlier network fewer (video_jitter_crops); the smoothing then
averages the next frames' alignments in."""

DEFAULT_NETWORK_MULTIPLY_ADDS = 236_080_640
"""One face through the default network (pipeline.emotion.model.build_model(), 1.77M parameters) and its mirror
image: the unit of the crop budget above (a test checks it against the model code); a model's own cost is its
card's multiply_adds_per_face."""


@dataclass
class EngineConfig:
    min_face: int = 20  # smallest face, in pixels, the detector looks for
    detect_every: int = 5  # full detection every N frames when the detector tracks in between
    detector: str = "fast"  # "fast" (FastMTCNN + tracking) or "package" (mtcnn's detect_faces every frame)
    landmarks: bool = True  # 68-point landmarks (dlib) on each face
    smoothing_s: float = 0.25  # time constant, in seconds, of the per-face smoothing in video (0: off)
    # Crops per face per video frame, alignments averaged (1: the plain crop only); None: as many as the budget
    # allows the model's members (video_jitter_crops).
    jitter_crops: int | None = None
    stills: bool = False  # photos: each image on its own (full detection, ids per image, no smoothing)
    still_jitter_crops: int = STILL_JITTER_CROPS  # crops per face in a photo
    unclear_threshold: float | None = None  # None: the model card's value
    models_dir: Path = field(default_factory=lambda: MODELS_DIR)

    def describe(self) -> dict[str, object]:
        return {key: str(value) if isinstance(value, Path) else value for key, value in asdict(self).items()}

    def with_jitter_crops(self, crops: int | None) -> EngineConfig:
        """This config with `crops` alignments per face (`--jitter-crops`): per photo for photos, per video frame
        otherwise. None keeps the defaults."""
        if crops is None:
            return self
        if self.stills:
            return replace(self, still_jitter_crops=crops)
        return replace(self, jitter_crops=crops)


def build_processors(config: EngineConfig, classifier: EmotionClassifier | None = None) -> list[Processor]:
    """The processors for `config`, emotion model loaded and verified. Raises ModelError when it is missing.

    classifier: use this one instead of loading config.models_dir's (evaluation runs an uncalibrated one).
    """
    from pipeline.emotion.classifier import EmotionClassifier
    from pipeline.processors.emotion import EmotionProcessor

    if classifier is None:
        classifier = EmotionClassifier.load(config.models_dir)
    detector = make_detector(config.detector, config.min_face, config.detect_every, track=not config.stills)
    processors: list[Processor] = [
        DetectionProcessor(detector),
        PerImageFaceIds() if config.stills else TrackingProcessor(),
    ]
    if config.landmarks:
        processors.append(LandmarkProcessor())
    processors.append(
        EmotionProcessor(
            classifier,
            smoothing_s=config.smoothing_s,
            unclear_threshold=config.unclear_threshold,
            jitter_crops=config.still_jitter_crops if config.stills else video_jitter_crops(config, classifier),
            per_image=config.stills,
        )
    )
    return processors


def video_jitter_crops(config: EngineConfig, classifier: EmotionClassifier) -> int:
    """Alignments per face per video frame: config.jitter_crops, or VIDEO_NETWORK_CROPS shared by the members and
    cut down for a model that costs more than the default network (its card's multiply-adds per face)."""
    if config.jitter_crops is not None:
        return config.jitter_crops
    crops = VIDEO_NETWORK_CROPS // len(classifier.files)
    cost = classifier.multiply_adds_per_face
    if cost:
        # To the nearest crop rather than down: a wider network does more multiply-adds per millisecond (48 to 384
        # channels: 2.24x the multiply-adds of the default, 1.8x its time per crop in benchmarks.emotion_inference),
        # and the budget's 6 crops leave 1.4 of the 6 ms.
        crops = min(crops, round(VIDEO_NETWORK_CROPS * DEFAULT_NETWORK_MULTIPLY_ADDS / cost))
    return max(1, crops)
