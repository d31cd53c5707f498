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

from pipeline.core.paths import installed_models_dir
from pipeline.processors.base import Processor
from pipeline.processors.detection import DetectionProcessor, make_detector
from pipeline.processors.landmarks import LandmarkProcessor
from pipeline.processors.tracking import PerImageFaceIds, TrackingProcessor

if TYPE_CHECKING:
    from pipeline.runtime.emotion.classifier import EmotionClassifier
    from pipeline.runtime.model_set import ModelSet

STILL_JITTER_CROPS = 25
"""Alignments averaged per face in a photo (the first 25 of the jitter cycle, 12 of them mirrored). A photo has no
real-time budget, so this is as many as help: on FER-2013 val through the photo path by the FER+ majority
(benchmarks/jitter_count.py, the shipped network, 3,076 faces), the negative log-likelihood after calibration fell
from 0.4009 (1 crop) and 0.3845 (3) to 0.3790 (25), and 50 gave 0.3791, accuracy 0.8472, 0.8540, 0.8592 and
0.8599."""

VIDEO_MULTIPLY_ADDS_PER_FACE = 800_000_000
"""The emotion stage's real-time budget: multiply-adds per face per video frame, every crop through every member
of the model (its card records each file's cost per crop). The target is at most 6 ms per face per frame in
benchmarks.analyze_video on one core of a 2-core CPU: the shipped network's 3 crops (794M) took 4.6-4.7 ms on an AVX-512
AMD EPYC and 4 crops 6.2-6.3 ms; an AVX2-only AMD EPYC is about 7 times slower, and there the user asks for fewer
(`--jitter-crops`). A model gets as many whole crops as fit (video_jitter_crops), and the smoothing averages the
next frames' alignments in."""

VIDEO_MAX_CROPS = 6
"""No more crops per face per video frame than this, however cheap the model: on FER-2013 val, the shipped
network's accuracy gains a tenth of a point from 4 crops of the cycle to 8 (0.8490, 0.8501;
benchmarks/mirror_passes.py), while every crop still costs its warp."""

DEFAULT_NETWORK_MULTIPLY_ADDS = 236_080_640
"""One crop through the default network (pipeline.modelling.network.build_model(), 1.77M parameters) and its mirror
image, as the files were exported before the mirror moved into the alignment cycle: the cost assumed for each
member of a card that predates recording it (a test checks it against the model code)."""


LANDMARK_MODELS = ("mesh", "dlib")
"""`--landmarks`: "mesh" = MediaPipe's face mesh (Apache-2.0), 468 points in 3D mapped to the 68 iBUG points;
"dlib" = dlib's 68-point shape predictor (trained on iBUG 300-W: not for commercial use)."""

DEFAULT_LANDMARK_MODEL = "mesh"
"""The face mesh: Apache-2.0 and in the default install. The emotion stage aligns its crops on the detector's five
keypoints, not on the 68 points, so no emotion answer depends on this choice; dlib's predictor, whose licence
excludes commercial use, is the `fertui[dlib]` extra (README, "Landmarks")."""


@dataclass
class EngineConfig:
    min_face: int = 20  # smallest face, in pixels, the detector looks for
    detect_every: int = 5  # full detection every N frames when the detector tracks in between
    detector: str = "fast"  # "fast" (FastMTCNN + tracking) or "package" (mtcnn's detect_faces every frame)
    landmarks: bool = True  # 68-point landmarks on each face, with head pose and eyes from them
    landmark_model: str = field(default_factory=lambda: DEFAULT_LANDMARK_MODEL)  # see LANDMARK_MODELS
    focal: float | None = None  # the camera's focal length in pixels for head pose (None: from the frame width)
    smoothing_s: float = 0.25  # time constant, in seconds, of the per-face smoothing in video (0: off)
    # Crops per face per video frame, alignments averaged (1: the plain crop only); None: as many as the budget
    # allows the model's members (video_jitter_crops).
    jitter_crops: int | None = None
    stills: bool = False  # photos: each image on its own (full detection, ids per image, no smoothing)
    still_jitter_crops: int = STILL_JITTER_CROPS  # crops per face in a photo
    unclear_threshold: float | None = None  # None: the model card's value
    models_dir: Path = field(default_factory=installed_models_dir)

    def describe(self) -> dict[str, object]:
        return {key: str(value) if isinstance(value, Path) else value for key, value in asdict(self).items()}

    def with_landmarks(self, model: str | None, focal: float | None) -> EngineConfig:
        """This config with `--landmarks MODEL` and `--focal PX` (None keeps the defaults)."""
        return replace(self, landmark_model=model or self.landmark_model, focal=focal if focal else self.focal)

    def with_jitter_crops(self, crops: int | None) -> EngineConfig:
        """This config with `crops` alignments per face (`--jitter-crops`): per photo for photos, per video frame
        otherwise. None keeps the defaults."""
        if crops is None:
            return self
        if self.stills:
            return replace(self, still_jitter_crops=crops)
        return replace(self, jitter_crops=crops)


def load_models(config: EngineConfig) -> ModelSet:
    """The ModelSet `config` runs, from config.models_dir: the emotion model, the MTCNN networks when the fast
    detector runs, the landmark predictor when landmarks run; each checked against its card (ModelError names the
    file that is missing or altered)."""
    from pipeline.runtime.model_set import ModelSet

    return ModelSet.load(
        config.models_dir,
        detector=config.detector == "fast",
        landmarks=config.landmarks,
        landmark_model=config.landmark_model,
    )


def build_processors(
    config: EngineConfig, classifier: EmotionClassifier | None = None, models: ModelSet | None = None
) -> list[Processor]:
    """The processors for `config`, every model file loaded from one ModelSet and verified once. Raises
    ModelError when one is missing or altered.

    classifier: use this one instead of the ModelSet's (evaluation runs an uncalibrated one).
    models: the ModelSet to run (None: load_models(config)).
    """
    from pipeline.processors.emotion import EmotionProcessor
    from pipeline.runtime.emotion.classifier import EmotionClassifier

    if models is None:
        models = load_models(config)
    if classifier is None:
        classifier = EmotionClassifier.from_model_set(models)
    detector = make_detector(
        config.detector, config.min_face, config.detect_every, track=not config.stills, models=models
    )
    processors: list[Processor] = [
        DetectionProcessor(detector),
        PerImageFaceIds() if config.stills else TrackingProcessor(),
    ]
    if config.landmarks:
        processors += landmark_processors(config, models)
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


def landmark_processors(config: EngineConfig, models: ModelSet) -> list[Processor]:
    """Landmarks (the face mesh or dlib's), then head pose and the eyes from them, from the ModelSet's files."""
    from pipeline.processors.eyes import EyeProcessor
    from pipeline.processors.face_mesh import MeshLandmarkProcessor
    from pipeline.processors.head_pose import HeadPoseProcessor

    if config.landmark_model not in LANDMARK_MODELS:
        raise ValueError(f"unknown landmark model {config.landmark_model!r}; choose from {', '.join(LANDMARK_MODELS)}")
    if models.face_mesh_dir is None:
        raise ValueError("landmarks are on but the ModelSet was loaded without them (use load_models(config))")
    landmarks: Processor
    if config.landmark_model == "mesh":
        landmarks = MeshLandmarkProcessor(models.face_mesh_dir, track=not config.stills)
    elif models.landmark_predictor is not None:
        landmarks = LandmarkProcessor(models.landmark_predictor, models.landmark_sha256)
    else:
        raise ValueError("dlib landmarks are on but the ModelSet was loaded for the face mesh (use load_models)")
    return [
        landmarks,
        HeadPoseProcessor(models.face_mesh_dir, focal=config.focal),
        EyeProcessor(per_image=config.stills),
    ]


def video_jitter_crops(config: EngineConfig, classifier: EmotionClassifier) -> int:
    """Alignments per face per video frame: config.jitter_crops, or as many crops as VIDEO_MULTIPLY_ADDS_PER_FACE
    allows the model (every member classifies every crop), at least 1 and at most VIDEO_MAX_CROPS."""
    if config.jitter_crops is not None:
        return config.jitter_crops
    cost = classifier.multiply_adds_per_face or DEFAULT_NETWORK_MULTIPLY_ADDS * len(classifier.files)
    return max(1, min(VIDEO_MAX_CROPS, VIDEO_MULTIPLY_ADDS_PER_FACE // cost))
