"""Shared fixtures: real portraits and generated media (see tests/media.py)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.media import moving_portrait_frames, portrait, write_video


@pytest.fixture(scope="session")
def hopper() -> np.ndarray:
    return portrait("hopper")


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return portrait("astronaut")


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def hopper_jpg(media_dir: Path, hopper: np.ndarray) -> Path:
    path = media_dir / "hopper.jpg"
    cv2.imwrite(str(path), hopper)
    return path


@pytest.fixture(scope="session")
def moving_video(media_dir: Path):
    """A 320x240, 10 fps, 30-frame video: Grace Hopper slides across, is out of view for frames 12-23."""
    frames, placements = moving_portrait_frames()
    return write_video(media_dir / "moving.avi", frames, fps=10.0), placements
