"""Make the committed tiny emotion model the tests run (tests/data/tiny-models/): a few KB of real TFLite and its card.

    uv run python -m tests.make_tiny_models

The session fixture `tiny_models_dir` copies that folder, so the end-to-end tests load a real model file through
the real sha256 check and TFLite, without TensorFlow and without training anything. A second model of the same
shape from another seed (tests/data/tiny-models-seed1/) lets the ensemble tests average two members that differ.
Re-run this script (it needs the train extra: TensorFlow) only when the export format or the card changes;
tests/model_fixtures.py keeps `make_tiny_models_dir` for the tests that check the export itself (mirrored).
"""

from __future__ import annotations

import shutil
from pathlib import Path

TINY_MODELS = Path(__file__).resolve().parent / "data" / "tiny-models"
TINY_MODELS_SEED1 = TINY_MODELS.with_name("tiny-models-seed1")
"""The same network trained from seed 1, without an unclear rule: a second, different ensemble member."""
TINY_UNCLEAR = {"metric": "margin", "threshold": 0.05}


def main() -> None:
    from tests.model_fixtures import make_tiny_models_dir

    for folder, options in ((TINY_MODELS, {"unclear": TINY_UNCLEAR}), (TINY_MODELS_SEED1, {"seed": 1})):
        if folder.exists():
            shutil.rmtree(folder)
        make_tiny_models_dir(folder, **options)
        # The export copies the installed MTCNN networks beside the model (2 MB); the fixtures add them back.
        shutil.rmtree(folder / "mtcnn", ignore_errors=True)
        for path in sorted(folder.iterdir()):
            print(f"{path.relative_to(folder.parents[2])}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
