"""Where fertui finds its files: the models folder, the training data, the checkout it runs from.

Every path is computed when it is asked for, never at import: a test, a `--models DIR` or a changed
$FERTUI_DATA is seen by whatever asks next. Only `fertui train`, `export`, `eval` and `calibrate` (and the
benchmarks) need the data paths; every command that runs models takes `--models`, whose default is
`installed_models_dir()`.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

DATA_ENV = "FERTUI_DATA"
"""Environment variable naming FER-2013's folder (fer2013.npz, ferplus_labels.csv) or its fer2013.npz."""


def checkout_root() -> Path:
    """The checkout, when fertui runs from one (an installed wheel has none: this is then site-packages' parent)."""
    return Path(__file__).resolve().parents[2]


def in_checkout() -> bool:
    return (checkout_root() / "pyproject.toml").is_file()


def installed_models_dir() -> Path:
    """The models the app loads by default: the wheel's package data (pipeline/models), or in a checkout its
    models/."""
    packaged = Path(str(files("pipeline") / "models"))
    return packaged if (packaged / "MODEL_CARD.md").is_file() else checkout_root() / "models"


def shared_data_dir() -> Path:
    """A checkout's ../shared/data: the data sets that sit beside the project on the machines it is developed on."""
    return checkout_root().parent / "shared" / "data"


def default_data() -> Path:
    """FER-2013's npz: from $FERTUI_DATA; inside a checkout, ../shared/data/fer2013/; else ./fer2013.npz."""
    configured = os.environ.get(DATA_ENV)
    if configured:
        path = Path(configured).expanduser()
        return path / "fer2013.npz" if path.is_dir() else path
    if in_checkout():
        return shared_data_dir() / "fer2013" / "fer2013.npz"
    return Path("fer2013.npz")


def default_ferplus() -> Path:
    """FER+'s labels beside FER-2013's npz."""
    return default_data().with_name("ferplus_labels.csv")
