"""A tiny but real emotion model folder for tests: the real export, sha256 check and TFLite inference, cheaply."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def make_tiny_models_dir(path: Path, *, unclear: dict | None = None, flip_tta: bool = False, seed: int = 0) -> Path:
    """Build a (4, 8, 8, 8)-wide model, train it one step on random data, export it into `path`; returns `path`."""
    import keras

    from pipeline.modelling.conversion import write_model_dir
    from pipeline.modelling.network import build_model

    keras.utils.set_random_seed(seed)
    model = build_model(widths=(4, 8, 8, 8), dense_units=8)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    rng = np.random.default_rng(seed)
    x = rng.random((16, 48, 48, 1), dtype=np.float32)
    y = np.eye(7, dtype=np.float32)[rng.integers(0, 7, 16)]
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    return write_model_dir(model, path, unclear=unclear, flip_tta=flip_tta)
