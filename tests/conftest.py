"""Shared fixtures: expensive things (a tiny exported model, real face images) are built once per session."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

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
