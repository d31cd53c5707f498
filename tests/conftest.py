"""Shared fixtures: expensive things (a tiny exported model, real face images) are built once per session.

Real portraits and generated media come from tests/media.py.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.media import moving_portrait_frames, portrait, write_video
from tests.model_fixtures import make_tiny_models_dir


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory) -> Path:
    return make_tiny_models_dir(tmp_path_factory.mktemp("models"), unclear={"metric": "margin", "threshold": 0.05})


@pytest.fixture(scope="session")
def grace_hopper_bgr() -> np.ndarray:
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    image = cv2.imread(str(path))
    assert image is not None, path
    return image


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
