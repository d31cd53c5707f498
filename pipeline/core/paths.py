"""The emotion classifier: labels, data, model definition, training and evaluation.

Importing this package is cheap; TensorFlow is imported only by the modules that need it.
"""

import os
from importlib.resources import files
from pathlib import Path

from pipeline.labels import EMOTIONS, UNCLEAR

__all__ = [
    "DATA_ENV",
    "DEFAULT_DATA",
    "DEFAULT_FERPLUS",
    "DEFAULT_WIDTHS",
    "EMOTIONS",
    "MODELS_DIR",
    "PROJECT_ROOT",
    "UNCLEAR",
]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
"""The checkout, when fertui runs from one (an installed wheel has none: this is then site-packages' parent)."""

DATA_ENV = "FERTUI_DATA"
"""Environment variable naming FER-2013's folder (fer2013.npz, ferplus_labels.csv) or its fer2013.npz."""


def _models_dir() -> Path:
    """The models the app loads: the wheel's package data (pipeline/models), or in a checkout its models/."""
    packaged = Path(str(files("pipeline") / "models"))
    return packaged if (packaged / "MODEL_CARD.md").is_file() else PROJECT_ROOT / "models"


def _default_data() -> Path:
    """FER-2013's npz: from $FERTUI_DATA; inside a checkout, ../shared/data/fer2013/; else ./fer2013.npz."""
    configured = os.environ.get(DATA_ENV)
    if configured:
        path = Path(configured).expanduser()
        return path / "fer2013.npz" if path.is_dir() else path
    if (PROJECT_ROOT / "pyproject.toml").is_file():
        return PROJECT_ROOT.parent / "shared" / "data" / "fer2013" / "fer2013.npz"
    return Path("fer2013.npz")


MODELS_DIR = _models_dir()
DEFAULT_DATA = _default_data()
DEFAULT_FERPLUS = DEFAULT_DATA.with_name("ferplus_labels.csv")
# Channels of the emotion network's four conv stages, as shipped (pipeline.emotion.model).
DEFAULT_WIDTHS = (32, 64, 128, 256)
