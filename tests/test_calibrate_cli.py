"""`fertui calibrate` and `fertui eval --path photo`: FER-2013 through the app's photo path, with the shipped model.

Small slices of the splits keep these quick; the full figures are in models/MODEL_CARD.md (`fertui calibrate`).
"""

from __future__ import annotations

import json
import shutil

import pytest

from pipeline.commands.cli import main
from pipeline.core.paths import default_data, installed_models_dir
from pipeline.engine import EngineConfig, video_jitter_crops
from pipeline.modelling.conversion import TAIL_HEADING, card_head
from pipeline.runtime.emotion.classifier import MODEL_CARD, EmotionClassifier, read_model_card

needs_data = pytest.mark.skipif(not default_data().exists(), reason=f"FER-2013 not found at {default_data()}")


@needs_data
def test_calibrate_fits_on_val_through_the_photo_path_and_rewrites_only_the_cards_calibration(tmp_path, capsys):
    models = shutil.copytree(
        installed_models_dir(), tmp_path / "models", ignore=shutil.ignore_patterns("mtcnn", "*.png")
    )
    before = (models / MODEL_CARD).read_text()
    assert read_model_card(models).calibration_labels == "ferplus", "the shipped card is calibrated by FER+"
    assert main(["calibrate", "--models", str(models), "--limit", "27", "--coverage", "0.8"]) == 0
    out = capsys.readouterr().out
    assert "expected calibration error on test" in out and "risk-coverage" in out

    card = read_model_card(models)
    assert card.unclear["path"] == "photo" and card.unclear["coverage"] == 0.8
    assert "first 27 images" in card.unclear["criterion"]
    temperature = card.temperature
    assert 0.2 < temperature["value"] < 5.0 and temperature["val_faces"] > 20  # most of the 27 faces are found
    assert temperature["val_nll"]["after"] <= temperature["val_nll"]["before"] + 1e-6  # the fit can only help
    text = (models / MODEL_CARD).read_text()
    assert text.startswith(card_head(before)) and "## Training" in card_head(before), "the training account is kept"
    assert TAIL_HEADING in text and "### test split, photo path (detected faces)" in text
    # The split's own images are reported as the app classifies a face in a video frame (the model's budget of
    # alignments), and as one crop beside.
    frame_crops = video_jitter_crops(EngineConfig(), EmotionClassifier.load(models))
    assert card.temperature["labels"] == card.unclear["labels"] == "ferplus", "by the card's own labels"
    assert f"### test split (ferplus labels, 27 faces, {frame_crops} alignment jitters averaged)" in text
    assert f"| direct (the 48x48 images, {frame_crops} jitters) | 27 |" in text
    assert "| direct (the 48x48 images, one crop) | 27 |" in text
    assert card.files == read_model_card(installed_models_dir()).files, "the model file is not touched"
    assert (models / "confusion-test-ferplus.png").read_bytes().startswith(b"\x89PNG")

    classifier = EmotionClassifier.load(models)
    assert classifier.temperature == pytest.approx(temperature["value"])
    assert (classifier.unclear_metric, classifier.unclear_threshold) == (
        card.unclear["metric"],
        card.unclear["threshold"],
    )


@needs_data
def test_eval_through_the_photo_path_reports_calibration_and_the_risk_coverage_curve(capsys):
    # 135 images (about 120 faces, 25 alignments each) are enough for these loose bounds; the full split's figures
    # are in the model card.
    assert main(["eval", "--path", "photo", "--limit", "135", "--json", "--labels", "ferplus"]) == 0  # as calibrated
    report = json.loads(capsys.readouterr().out)
    assert 0.75 < report["detection_rate"] <= 1.0
    assert report["n"] == round(135 * report["detection_rate"])
    assert 0.0 <= report["ece"] < 0.15
    coverages = sorted({row["coverage"] for row in report["risk_coverage"]})
    assert coverages[-1] == 1.0 and len(report["risk_coverage"]) == 2 * len(coverages)
    full = [row for row in report["risk_coverage"] if row["coverage"] == 1.0]
    assert all(row["accuracy_on_kept"] == pytest.approx(report["accuracy"]) for row in full)
    # The shipped rule names most faces and sets aside the least confident ones.
    assert 0.02 < report["unclear"]["unclear_fraction"] < 0.25
    assert report["unclear"]["accuracy_on_rest"] >= report["accuracy"]


def test_calibrate_refuses_a_coverage_outside_0_to_1(capsys):
    assert main(["calibrate", "--coverage", "1.5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fertui: --coverage") and err.count("\n") == 1


def test_a_bare_calibrate_leaves_the_shipped_card_byte_identical(capsys):
    before = (installed_models_dir() / MODEL_CARD).read_bytes()
    assert main(["calibrate"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fertui: calibrate writes a model card: name a new folder with --out")
    assert err.count("\n") == 1
    assert (installed_models_dir() / MODEL_CARD).read_bytes() == before


def test_calibrate_refuses_labels_other_than_the_cards_in_one_line(tmp_path, capsys):
    models = shutil.copytree(
        installed_models_dir(), tmp_path / "models", ignore=shutil.ignore_patterns("mtcnn", "*.png")
    )
    before = (models / MODEL_CARD).read_bytes()
    assert read_model_card(models).calibration_labels == "ferplus"
    assert main(["calibrate", "--models", str(models), "--labels", "fer2013"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fertui: --labels fer2013: this model is calibrated by the ferplus labels")
    assert err.count("\n") == 1
    assert (models / MODEL_CARD).read_bytes() == before


def test_calibrate_out_must_be_a_new_folder(tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("x")
    assert main(["calibrate", "--out", str(tmp_path / "taken")]) == 2
    err = capsys.readouterr().err
    assert "exists and is not an empty folder" in err and err.count("\n") == 1
