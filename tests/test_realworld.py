"""The real-world development set (JAFFE through the photo path, CK+48 through the crop path) and `fertui eval
--data realworld-dev`, on the shipped model. Skips where the set is not beside the checkout (CI has it)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from pipeline.commands.cli import main
from pipeline.core.labels import EMOTIONS
from pipeline.core.paths import installed_models_dir
from pipeline.modelling.realworld import default_realworld_dir, evaluate_realworld, load_jaffe, part_report, pooled
from pipeline.runtime.emotion.classifier import EmotionClassifier

REALWORLD = default_realworld_dir()
pytestmark = pytest.mark.skipif(
    not (REALWORLD / "jaffe" / "labels.csv").is_file() or not (REALWORLD / "ckplus48.npz").is_file(),
    reason=f"the real-world development set is not at {REALWORLD} (shared/data/realworld-dev; CI has it)",
)


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    """Two JAFFE photos of each class (links, never copies into the repository) and the first 70 CK+48 crops."""
    root = tmp_path_factory.mktemp("realworld")
    (root / "jaffe").mkdir()
    paths, labels = load_jaffe(REALWORLD)
    chosen = [i for c in range(len(EMOTIONS)) for i in np.flatnonzero(labels == c)[:2]]
    with (root / "jaffe" / "labels.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "subject", "emotion"])
        for i in chosen:
            (root / "jaffe" / paths[i].name).symlink_to(paths[i])
            writer.writerow([paths[i].name, paths[i].name[:2], EMOTIONS[labels[i]]])
    with np.load(REALWORLD / "ckplus48.npz") as npz:
        np.savez(root / "ckplus48.npz", test_x=npz["test_x"][:70], test_y=npz["test_y"][:70])
    return root


def test_each_part_runs_its_own_path_and_the_pooled_recall_covers_both(small_set):
    classifier = EmotionClassifier.load(installed_models_dir())
    report, parts = evaluate_realworld(small_set, classifier, jitter_crops=3)
    jaffe, ckplus = report["parts"]["jaffe"], report["parts"]["ckplus48"]
    assert (jaffe["n"], ckplus["n"]) == (14, 70)
    assert jaffe["found"] >= 12, "the detector finds the faces of JAFFE's photos"
    assert ckplus["coverage"] == 1.0  # crops are faces already
    assert set(jaffe["recall"]) == set(EMOTIONS) and "neutral" not in ckplus["recall"]
    assert report["pooled"]["n"] == 84 and set(report["pooled"]["recall"]) == set(EMOTIONS)
    # The figures come from the per-image results: accuracy over the found faces, shown right <= accuracy.
    for part in parts:
        found = part.subset(part.found)
        right = (found.probs.argmax(axis=1) == found.labels).mean()
        assert report["parts"][part.name]["accuracy"] == pytest.approx(right)
        assert report["parts"][part.name]["shown_right"] <= report["parts"][part.name]["accuracy"]
        assert np.allclose(found.probs.sum(axis=1), 1.0, atol=1e-5)
    assert part_report(pooled(parts))["confusion"] == report["pooled"]["confusion"]
    # Happy is the one expression every model here gets right on posed faces.
    happy = EMOTIONS.index("happy")
    assert np.all(parts[0].probs[parts[0].found & (parts[0].labels == happy)].argmax(axis=1) == happy)


def test_fertui_eval_on_the_development_set_prints_json_and_plots(small_set, tmp_path, capsys):
    plot = str(tmp_path / "c.png")
    assert main(["eval", "--data", str(small_set), "--json", "--jitter-crops", "2", "--plot", plot]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["set"] == "realworld-dev" and report["jitter_crops"] == 2
    assert set(report["parts"]) == {"jaffe", "ckplus48"}
    for name in ("jaffe", "ckplus48", "pooled"):
        assert (tmp_path / f"c-{name}.png").stat().st_size > 10_000
    assert main(["eval", "--data", str(small_set), "--path", "photo"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fertui: ") and err.count("\n") == 1


def test_the_shipped_model_holds_its_measured_floors_on_the_development_set(capsys):
    """Floors just under the shipped model's figures at a video frame's 3 alignments (JAFFE 0.502, CK+48 0.810,
    macro recall over both 0.724, 7.5% of the faces `unclear`), so a model that is worse on real people cannot ship
    unnoticed. The issue's macro recall (>= 0.70) and label coverage (>= 90%) hold with the card's prior
    correction; its JAFFE (>= 0.60, every class >= 0.30) and CK+48 (>= 0.85) targets are not met yet: README,
    "On real people"."""
    assert main(["eval", "--data", "realworld-dev", "--jitter-crops", "3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    jaffe, ckplus = report["parts"]["jaffe"], report["parts"]["ckplus48"]
    assert (jaffe["n"], ckplus["n"]) == (213, 927)
    assert jaffe["coverage"] == 1.0, "the detector finds every JAFFE face"
    assert jaffe["accuracy"] >= 0.49
    assert ckplus["accuracy"] >= 0.80
    assert report["pooled"]["macro_recall"] >= 0.71
    assert report["pooled"]["unclear_fraction"] <= 0.10, "a label shown for at least 90% of the faces"
    assert report["pooled"]["recall"]["happy"] >= 0.95
