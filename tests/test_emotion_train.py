"""The training loop on a tiny dataset the test writes: checkpoints, state, resume."""

from __future__ import annotations

import json

import numpy as np

from pipeline.emotion.train import TrainConfig, train


def test_train_then_resume(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 48), ("val", 16), ("test", 16)):
        arrays[f"{split}_x"] = rng.integers(0, 256, (n, 48, 48), dtype=np.uint8)
        arrays[f"{split}_y"] = (np.arange(n) % 7).astype(np.uint8)
    data = tmp_path / "tiny.npz"
    np.savez_compressed(data, **arrays)
    out = tmp_path / "run"
    config = TrainConfig(data=str(data), epochs=2, batch_size=16, widths=(4, 8, 8, 8), warmup_epochs=1)

    state = train(config, out)
    assert state["epoch"] == 2 and len(state["history"]) == 2
    for name in ("config.json", "checkpoint.keras", "best.keras", "state.json"):
        assert (out / name).exists(), name
    assert json.loads((out / "config.json").read_text())["widths"] == [4, 8, 8, 8]
    assert 1 <= state["best_epoch"] <= 2
    first_checkpoint = (out / "checkpoint.keras").stat().st_mtime_ns

    # Resume to 3 epochs: the stored run continues (its config is kept apart from the epoch count asked for).
    stored = json.loads((out / "config.json").read_text())
    stored["epochs"] = 3
    (out / "config.json").write_text(json.dumps(stored))
    resumed = train(config, out, resume=True)
    assert resumed["epoch"] == 3
    assert [h["epoch"] for h in resumed["history"]] == [1, 2, 3]
    assert resumed["history"][:2] == state["history"]
    assert json.loads((out / "state.json").read_text())["epoch"] == 3
    assert (out / "checkpoint.keras").stat().st_mtime_ns > first_checkpoint
