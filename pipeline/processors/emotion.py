"""The emotion stage: crop every face of a frame, classify them in one batch, smooth per face id in time, label."""

from __future__ import annotations

import math

import numpy as np

from pipeline.core.frames import FrameResult
from pipeline.core.labels import EMOTIONS, UNCLEAR
from pipeline.processors.base import Processor
from pipeline.runtime.emotion.classifier import EmotionClassifier
from pipeline.runtime.emotion.crop import face_crop, jitter_schedule


class EmotionProcessor(Processor):
    """Adds probs, smoothed, label and confidence to every face.

    `probs` is the face's calibrated distribution in this frame: the classifier's average over `jitter_crops`
    crops, each framed with a slightly different alignment (see pipeline.runtime.emotion.crop.jitter_schedule), with the
    model card's temperature applied.

    Video and cameras (`per_image=False`): each frame takes the next jitters of a fixed cycle, and `smoothed`
    is an exponential average per face id *in time*: a frame `dt` seconds after the face's previous one weighs
    the past by exp(-dt / smoothing_s), so a 10 fps file and a 30 fps camera smooth over the same span. A face
    id not seen for more than `reset_after_s` starts afresh (a gap in the video, a face that came back), and so
    does every face when time goes backwards (a new source). smoothing_s = 0 turns smoothing off (`smoothed`
    None). Faces without a face_id are not smoothed.

    Images (`per_image=True`): every image is an independent observation. Each face is classified from the
    same `jitter_crops` alignments whatever the image's position, nothing is carried between images, and
    `smoothed` equals `probs`.

    The label is an emotion, or `unclear` when the distribution it comes from (smoothed for video, the image's
    own for photos) fails the model card's rule; `unclear_threshold` overrides the card's threshold (the
    metric, top probability or margin, is always the card's).
    """

    name = "emotion"

    def __init__(
        self,
        classifier: EmotionClassifier,
        smoothing_s: float = 0.25,
        unclear_threshold: float | None = None,
        reset_after_s: float = 1.0,
        jitter_crops: int = 9,
        per_image: bool = False,
    ) -> None:
        if smoothing_s < 0.0:
            raise ValueError(f"smoothing_s must not be negative, got {smoothing_s}")
        if jitter_crops < 1:
            raise ValueError(f"jitter_crops must be at least 1, got {jitter_crops}")
        self.classifier = classifier
        self.jitter_crops = int(jitter_crops)
        self.per_image = per_image
        self.smoothing_s = 0.0 if per_image else float(smoothing_s)
        self.unclear_threshold = classifier.unclear_threshold if unclear_threshold is None else unclear_threshold
        self.reset_after_s = reset_after_s
        self._tracks: dict[int, tuple[np.ndarray, float]] = {}  # face_id -> (smoothed probs, time last seen)
        self._last_time: float | None = None

    def _forget(self, now: float) -> None:
        if self._last_time is not None and now < self._last_time:
            self._tracks.clear()  # time went backwards: a new source
        self._last_time = now
        stale = [fid for fid, (_, seen) in self._tracks.items() if now - seen > self.reset_after_s]
        for fid in stale:
            del self._tracks[fid]

    def _smooth(self, face_id: int | None, probs: np.ndarray, now: float) -> np.ndarray:
        if face_id is None:
            return probs
        previous = self._tracks.get(face_id)
        if previous is None:
            smoothed = probs
        else:
            past = math.exp(-max(0.0, now - previous[1]) / self.smoothing_s)
            smoothed = (past * previous[0] + (1.0 - past) * probs).astype(np.float32)
        self._tracks[face_id] = (smoothed, now)
        return smoothed

    def process(self, result: FrameResult) -> FrameResult:
        now = result.frame.time_s
        if not self.per_image:
            self._forget(now)
        if not result.faces:
            return result
        image = result.frame.image
        # Photos: the same alignments for every image, so an image's result does not depend on its position.
        jitters = jitter_schedule(0 if self.per_image else result.frame.index, self.jitter_crops)
        crops = np.stack([np.stack([face_crop(image, face, jitter) for jitter in jitters]) for face in result.faces])
        probs = self.classifier.face_probabilities(crops)
        if self.per_image:
            smoothed: list[np.ndarray] | None = list(probs)
        elif self.smoothing_s > 0:
            smoothed = [self._smooth(face.face_id, p, now) for face, p in zip(result.faces, probs, strict=True)]
        else:
            smoothed = None
        shown = probs if smoothed is None else np.stack(smoothed)
        unclear = self.classifier.unclear(shown, self.unclear_threshold)
        faces = tuple(
            face.replace(
                probs=probs[i],
                smoothed=None if smoothed is None else smoothed[i],
                label=UNCLEAR if unclear[i] else EMOTIONS[int(np.argmax(shown[i]))],
                confidence=float(shown[i].max()),
            )
            for i, face in enumerate(result.faces)
        )
        return result.replace(faces=faces)

    def close(self) -> None:
        self._tracks.clear()
        self._last_time = None

    def model_files(self) -> dict[str, str]:
        return self.classifier.model_files()

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "model": self.classifier.describe(),
            "per_image": self.per_image,
            "smoothing_s": self.smoothing_s,
            "reset_after_s": None if self.per_image else self.reset_after_s,
            "jitter_crops": self.jitter_crops,
            "temperature": self.classifier.temperature,
            "unclear_metric": self.classifier.unclear_metric,
            "unclear_threshold": self.unclear_threshold,
        }
