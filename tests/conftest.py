"""Shared fixtures: expensive things (a tiny exported model, real face images) are built once per session.

Real portraits and generated media come from tests/media.py.
"""

from __future__ import annotations

import gc
import os
import shutil
from pathlib import Path

# Lab Streaming Layer finds streams by multicast: keep every test's discovery on this machine. liblsl reads the
# configuration when pylsl is first imported, so this comes before anything imports it (tests/test_lsl.py checks).
LSL_LOOPBACK_CFG = Path(__file__).resolve().parent / "lsl_loopback.cfg"
os.environ["LSLAPICFG"] = str(LSL_LOOPBACK_CFG)

import cv2  # noqa: E402 - after LSLAPICFG
import numpy as np  # noqa: E402 - after LSLAPICFG
import pytest  # noqa: E402 - after LSLAPICFG

from pipeline.modelling.conversion import add_detector  # noqa: E402 - after LSLAPICFG
from tests.make_tiny_models import TINY_MODELS  # noqa: E402 - after LSLAPICFG
from tests.media import moving_portrait_frames, portrait, write_video  # noqa: E402 - after LSLAPICFG

# Each test module's kind, so a quick subset runs alone (`uv run pytest -m unit`). Unlisted modules are unit tests:
# functions and classes on real inputs, in this process.
APP_MODULES = {
    "test_app",
    "test_app_lab",
    "test_app_robust",
    "test_app_snapshots",
    "test_cli_live",
    "test_graphics_app",
}
"""The Textual app driven by its Pilot, or the live command."""
END_TO_END_MODULES = {
    "test_cli_analyze",
    "test_cli_events",
    "test_batch_cli",
    "test_cli_robust",
    "test_calibrate_cli",
    "test_summarize_cli",
    "test_e2e_tmux",
    "test_e2e_xterm",
    "test_lost_source",
    "test_soak",
    "test_wheel",
}
"""The real `fertui` command in a fresh process (or a terminal, or an installed wheel), read back from what it wrote."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "unit: functions and classes on real inputs, in process (quick)")
    config.addinivalue_line("markers", "app: the Textual app driven by its Pilot, or the live command")
    config.addinivalue_line(
        "markers", "e2e: the real fertui command in a fresh process, a terminal or an installed wheel"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = item.path.stem
        kind = "app" if module in APP_MODULES else "e2e" if module in END_TO_END_MODULES else "unit"
        item.add_marker(getattr(pytest.mark, kind))


def pytest_collection_finish(session: pytest.Session) -> None:
    # Collecting imports every test module, TensorFlow's included: some 400,000 objects that live as long as the
    # session. Frozen, they are left out of every later full garbage collection (about 0.2 s each: Python's own,
    # and the TFLite converter's explicit ones in the export tests).
    gc.collect()
    gc.freeze()


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory) -> Path:
    """A copy of the committed tiny model (tests/data/tiny-models, made by tests/make_tiny_models.py): a real
    TFLite file and card, loaded without TensorFlow and without training anything), with the installed MTCNN
    networks beside it: a models folder is a whole ModelSet."""
    folder = Path(shutil.copytree(TINY_MODELS, tmp_path_factory.mktemp("models") / "tiny-models"))
    add_detector(folder)
    return folder


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
