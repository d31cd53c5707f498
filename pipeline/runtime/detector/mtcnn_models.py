"""The MTCNN networks as fertui ships them: models/mtcnn/{pnet,rnet,onet}.tflite, checked against their card.

They are the mtcnn package's own weights (the version pinned in pyproject.toml), rearranged and converted to
TFLite by `python -m pipeline.modelling.mtcnn_conversion` (see mtcnn_nets.py). Loading them needs no TensorFlow,
which was most of fertui's start-up time; tests/test_mtcnn_nets.py checks that the files compute what the
package's networks compute.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from pipeline.core.files import sha256_of
from pipeline.runtime.model_files import ModelError, read_card_json, read_verified

FOLDER = "mtcnn"
"""The networks' folder inside a models folder."""
CARD = "MTCNN_CARD.md"
NETWORKS = ("pnet", "rnet", "onet")
CONVERSION_COMMAND = "uv run python -m pipeline.modelling.mtcnn_conversion"


def package_weights() -> dict[str, str]:
    """File name -> sha256 of each weights file inside the installed mtcnn package (empty when it is not
    installed)."""
    return {Path(path).name: digest for path, digest in package_weight_files().items()}


def package_weight_files() -> dict[str, str]:
    """Path -> sha256 of each weights file inside the installed mtcnn package (empty when it is not installed)."""
    spec = importlib.util.find_spec("mtcnn")
    if spec is None or not spec.submodule_search_locations:
        return {}
    folder = Path(next(iter(spec.submodule_search_locations))) / "assets" / "weights"
    return {str(path): sha256_of(path) for path in sorted(folder.glob("*.lz4"))}


def network_file(name: str) -> str:
    return f"{name}.tflite"


def read_card(folder: Path) -> dict:
    """The json block of the MTCNN card, with a sha256 for each network file."""
    card_path = Path(folder) / CARD
    card = read_card_json(card_path, f"convert the mtcnn package's networks: {CONVERSION_COMMAND}")
    try:
        for name in NETWORKS:
            card["files"][network_file(name)]["sha256"]  # noqa: B018 - checks the keys the loader needs
    except (KeyError, TypeError) as exc:
        raise ModelError(f"{card_path}: the json block is not an MTCNN card ({exc!r})") from None
    return card


def load_networks(folder: Path, card: dict | None = None) -> dict[str, bytes]:
    """name -> the verified bytes of its TFLite file, for P-Net, R-Net and O-Net (`card`: read_card's, if read)."""
    card = read_card(folder) if card is None else card
    return {
        name: read_verified(Path(folder) / network_file(name), card["files"][network_file(name)]["sha256"])
        for name in NETWORKS
    }
