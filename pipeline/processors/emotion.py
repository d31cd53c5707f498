"""The emotion stage: crop every face of a frame, classify them in one batch, smooth per face id, label."""

from __future__ import annotations

import numpy as np

from pipeline.emotion import EMOTIONS, UNCLEAR
from pipeline.emotion.classifier import EmotionClassifier
from pipeline.emotion.crop import face_crop, jitter_schedule
from pipeline.frames import FrameResult
from pipeline.processors.base import Processor


class EmotionProcessor(Processor):
    """Adds probs, smoothed, label and confidence to every face.

    smoothing: weight of the previous smoothed distribution in the per-face_id exponential average
    (0 turns smoothing off; then `smoothed` stays None and the label comes from the raw probabilities).
    jitter_crops: crops per face per frame, each framed with a slightly different alignment, whose predictions
    are averaged into `probs` (see pipeline.emotion.crop.jitter_schedule); 1 classifies the plain crop only.
    Faces without a face_id are not smoothed (smoothed = raw). An id not seen for `forget_after_s` seconds
    of frame time starts afresh. unclear_threshold: None takes the model card's threshold; the metric
    (top probability or margin) is always the card's.
    """

    name = "emotion"

    def __init__(
        self,
        classifier: EmotionClassifier,
        smoothing: float = 0.8,
        unclear_threshold: float | None = None,
        forget_after_s: float = 2.0,
        jitter_crops: int = 9,
    ) -> None:
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        if jitter_crops < 1:
            raise ValueError(f"jitter_crops must be at least 1, got {jitter_crops}")
        self.classifier = classifier
        self.jitter_crops = int(jitter_crops)
        self.smoothing = smoothing
        self.unclear_threshold = classifier.unclear_threshold if unclear_threshold is None else unclear_threshold
        self.forget_after_s = forget_after_s
        self._tracks: dict[int, tuple[np.ndarray, float]] = {}  # face_id -> (smoothed probs, last frame time)
        self._last_time: float | None = None

    def _forget(self, now: float) -> None:
        if self._last_time is not None and now < self._last_time:
            self._tracks.clear()  # time went backwards: a new source
        self._last_time = now
        stale = [fid for fid, (_, seen) in self._tracks.items() if now - seen > self.forget_after_s]
        for fid in stale:
            del self._tracks[fid]

    def _smooth(self, face_id: int | None, probs: np.ndarray, now: float) -> np.ndarray:
        if face_id is None:
            return probs
        previous = self._tracks.get(face_id)
        smoothed = probs if previous is None else self.smoothing * previous[0] + (1.0 - self.smoothing) * probs
        smoothed = smoothed.astype(np.float32)
        self._tracks[face_id] = (smoothed, now)
        return smoothed

    def process(self, result: FrameResult) -> FrameResult:
        now = result.frame.time_s
        self._forget(now)
        if not result.faces:
            return result
        image = result.frame.image
        jitters = jitter_schedule(result.frame.index, self.jitter_crops)
        crops = np.stack([face_crop(image, face, jitter) for face in result.faces for jitter in jitters])
        raw = self.classifier.predict(crops).reshape(len(result.faces), len(jitters), -1).mean(axis=1)
        smoothed = [self._smooth(face.face_id, p, now) for face, p in zip(result.faces, raw, strict=True)]
        shown = np.stack(smoothed) if self.smoothing > 0 else raw
        unclear = self.classifier.unclear(shown, self.unclear_threshold)
        faces = tuple(
            face.replace(
                probs=raw[i],
                smoothed=smoothed[i] if self.smoothing > 0 else None,
                label=UNCLEAR if unclear[i] else EMOTIONS[int(np.argmax(shown[i]))],
                confidence=float(shown[i].max()),
            )
            for i, face in enumerate(result.faces)
        )
        return result.replace(faces=faces)

    def close(self) -> None:
        self._tracks.clear()
        self._last_time = None

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "model": self.classifier.describe(),
            "smoothing": self.smoothing,
            "jitter_crops": self.jitter_crops,
            "unclear_metric": self.classifier.unclear_metric,
            "unclear_threshold": self.unclear_threshold,
        }
