"""Real test media built from the public-domain portraits that ship inside installed packages.

Grace Hopper (matplotlib sample data) and Eileen Collins (scikit-image's astronaut). Other test modules
import these helpers; nothing here is downloaded and nothing from FER-2013 is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pipeline.io.sources import portrait_paths, read_image


def portrait(name: str = "hopper") -> np.ndarray:
    """A portrait as BGR uint8: "hopper" (600x512) or "astronaut" (512x512)."""
    hopper, astronaut = portrait_paths()
    image = read_image(hopper if name == "hopper" else astronaut)
    assert image is not None
    return image


@dataclass(frozen=True)
class Placement:
    """Where a portrait was pasted into a generated frame (x, y, w, h), or None when it is out of view."""

    frame: int
    box: tuple[int, int, int, int] | None


def background(size: tuple[int, int]) -> np.ndarray:
    """A plain, faceless gradient wall of `size` (width, height)."""
    width, height = size
    ramp = np.linspace(90, 170, width, dtype=np.float32)[None, :, None]
    return np.broadcast_to(ramp + np.zeros((height, 1, 3), np.float32), (height, width, 3)).astype(np.uint8)


def moving_portrait_frames(
    n_frames: int = 30,
    size: tuple[int, int] = (320, 240),
    portrait_height: int = 200,
    absent: range = range(12, 24),
    name: str = "hopper",
) -> tuple[list[np.ndarray], list[Placement]]:
    """Frames with one portrait sliding left to right; during `absent` frames it is out of view."""
    width, height = size
    face = portrait(name)
    scale = portrait_height / face.shape[0]
    face = cv2.resize(face, (round(face.shape[1] * scale), portrait_height), interpolation=cv2.INTER_AREA)
    face_h, face_w = face.shape[:2]
    frames, placements = [], []
    travel = max(1, width - face_w)
    for index in range(n_frames):
        image = background(size).copy()
        if index in absent:
            placements.append(Placement(index, None))
        else:
            x = round(travel * index / max(1, n_frames - 1))
            y = (height - face_h) // 2
            image[y : y + face_h, x : x + face_w] = face
            placements.append(Placement(index, (x, y, face_w, face_h)))
        frames.append(image)
    return frames, placements


def write_video(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    """Write BGR frames to an .avi (MJPG) or .mp4 (mp4v) file with OpenCV; returns the path."""
    height, width = frames[0].shape[:2]
    codec = "MJPG" if path.suffix.lower() == ".avi" else "mp4v"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, (width, height))
    assert writer.isOpened(), f"OpenCV cannot write {path}"
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def centre_inside(box: tuple[float, float, float, float], region: tuple[int, int, int, int]) -> bool:
    """Whether the centre of `box` lies inside `region` (both x, y, w, h)."""
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    x, y, w, h = region
    return x <= cx <= x + w and y <= cy <= y + h
