"""Make the committed tiny emotion model the tests run (tests/data/tiny-models/): a few KB of real TFLite and its card.

    uv run python -m tests.make_tiny_models

The session fixture `tiny_models_dir` copies that folder, so the end-to-end tests load a real model file through
the real sha256 check and TFLite, without TensorFlow and without training anything. Re-run this script (it needs
the train extra: TensorFlow) only when the export format or the card changes; tests/model_fixtures.py keeps
`make_tiny_models_dir` for the few tests that need a variant (mirrored, another seed).
"""

from __future__ import annotations

import shutil
from pathlib import Path

TINY_MODELS = Path(__file__).resolve().parent / "data" / "tiny-models"
TINY_UNCLEAR = {"metric": "margin", "threshold": 0.05}


def main() -> None:
    from tests.model_fixtures import make_tiny_models_dir

    if TINY_MODELS.exists():
        shutil.rmtree(TINY_MODELS)
    make_tiny_models_dir(TINY_MODELS, unclear=TINY_UNCLEAR)
    for path in sorted(TINY_MODELS.iterdir()):
        print(f"{path.relative_to(TINY_MODELS.parents[2])}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
