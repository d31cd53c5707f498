"""FER-2013 through the path the app runs on photos: faces found by the real detector in a scene, then cut and
classified by the engine's own processors.

Each 48x48 image is upscaled (bicubic, `face_px`, default 160 px) and pasted at a random place in a cell of a
`grid` x `grid` frame whose background is a heavily blurred photograph with sensor-like noise, so the detector
has to find the face in a scene, as it would in a photo. The engine's processors for photos (full detection,
ids per image, the emotion stage with its alignment jitters) run on every frame; the most confident detection
whose centre lies on a pasted image is that image's face. The frames are deterministic (seeded), so
`benchmarks/folder_path.py` can write them as image files and check that `fertui analyze FOLDER` gives the
same answers.

Everything that `fertui calibrate` chooses (the temperature, the `unclear` rule) is chosen on `val` through
this path, because it is the path the app runs; `test` is only reported.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.core.frames import Face, Frame, FrameResult
from pipeline.processors.base import Processor
from pipeline.runtime.emotion.classifier import EmotionClassifier

FACE_PX = 160
GRID = 3
SEED = 0
MIN_FACE = 20  # `fertui analyze`'s default


@dataclass(frozen=True)
class Placement:
    """Where image `index` of the split was pasted: its top-left corner in frame `frame`."""

    index: int
    frame: int
    x: int
    y: int


def _background(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    from skimage import data

    scene = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    scene = cv2.resize(scene, (width, height), interpolation=cv2.INTER_LINEAR)
    scene = cv2.GaussianBlur(scene, (0, 0), sigmaX=25)  # no detectable face left in it
    noise = rng.normal(0.0, 4.0, scene.shape)
    return np.clip(scene + noise, 0, 255).astype(np.uint8)


def grid_frames(
    images: np.ndarray, face_px: int = FACE_PX, grid: int = GRID, seed: int = SEED
) -> Iterator[tuple[np.ndarray, list[Placement]]]:
    """(frame_bgr, placements): `grid` x `grid` upscaled images per frame, in split order."""
    rng = np.random.default_rng(seed)
    cell = int(face_px * 1.6)
    size = cell * grid
    background = _background(size, size, rng)
    per_frame = grid * grid
    for frame_index, start in enumerate(range(0, len(images), per_frame)):
        frame = background.copy()
        placed = []
        for k, index in enumerate(range(start, min(start + per_frame, len(images)))):
            row, col = divmod(k, grid)
            x0 = col * cell + int(rng.integers(0, cell - face_px))
            y0 = row * cell + int(rng.integers(0, cell - face_px))
            face = cv2.resize(images[index], (face_px, face_px), interpolation=cv2.INTER_CUBIC)
            frame[y0 : y0 + face_px, x0 : x0 + face_px] = face[..., None]
            placed.append(Placement(index, frame_index, x0, y0))
        yield frame, placed


def assign(faces: tuple[Face, ...], placed: list[Placement], face_px: int = FACE_PX) -> dict[int, Face]:
    """The most confident detection whose box centre lies on each pasted image: image index -> face."""
    found: dict[int, Face] = {}
    for face in faces:
        x, y, w, h = face.box
        cx, cy = x + w / 2, y + h / 2
        for p in placed:
            if p.x <= cx < p.x + face_px and p.y <= cy < p.y + face_px:
                if p.index not in found or face.score > found[p.index].score:
                    found[p.index] = face
                break
    return found


def photo_processors(classifier: EmotionClassifier, *, per_image: bool = True) -> list[Processor]:
    """The engine's processors for photos (without landmarks, which the emotion does not use), with `classifier`.

    per_image=False swaps in the emotion stage of video before smoothing: one frame's distribution from the
    next alignments of the cycle (what a video frame's `probs` are).
    """
    from pipeline.engine import EngineConfig, build_processors, video_jitter_crops
    from pipeline.processors.emotion import EmotionProcessor

    config = EngineConfig(stills=True, landmarks=False, min_face=MIN_FACE)
    processors = build_processors(config, classifier=classifier)
    if not per_image:
        jitters = video_jitter_crops(config, classifier)
        processors[-1] = EmotionProcessor(classifier, smoothing_s=0.0, jitter_crops=jitters)
    return processors


def run_frames(
    images: np.ndarray, processors: list[Processor], face_px: int = FACE_PX, grid: int = GRID
) -> Iterator[tuple[np.ndarray, FrameResult, dict[int, Face]]]:
    """Run `processors` on each generated frame: (frame_bgr, result, image index -> its face)."""
    for frame_index, (image, placed) in enumerate(grid_frames(images, face_px, grid)):
        result = FrameResult(Frame(frame_index, float(frame_index), 0.0, image, f"frame{frame_index:05d}.png"))
        for processor in processors:
            result = processor.process(result)
        yield image, result, assign(result.faces, placed, face_px)


@dataclass(frozen=True)
class PathResult:
    """What the path gave for a split: which images had their face found, and its probabilities."""

    n: int  # images in the split
    detected: np.ndarray  # (F,) indices of the images whose face was found, ascending
    probs: np.ndarray  # (F, 7) each found face's probabilities, as the emotion stage gives them

    @property
    def detection_rate(self) -> float:
        return len(self.detected) / self.n if self.n else 0.0


def run_path(images: np.ndarray, classifier: EmotionClassifier, *, per_image: bool = True) -> PathResult:
    """Every image of `images` through the photo path; `classifier` decides calibrated or not (see its load)."""
    processors = photo_processors(classifier, per_image=per_image)
    found: dict[int, np.ndarray] = {}
    try:
        for _, _, faces in run_frames(images, processors):
            found.update({index: face.probs for index, face in faces.items() if face.probs is not None})
    finally:
        for processor in processors:
            processor.close()
    detected = np.array(sorted(found), dtype=np.int64)
    probs = np.stack([found[i] for i in detected]) if len(detected) else np.zeros((0, 7), np.float32)
    return PathResult(len(images), detected, probs)
