"""The prior correction (`fertui calibrate --prior-correction`): each class's log prior shifted by its share of
`train`, so a model trained where a third of the faces are neutral does not call a mild posed expression neutral."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.commands.cli import main
from pipeline.core.labels import EMOTIONS
from pipeline.core.paths import default_data, installed_models_dir
from pipeline.engine import EngineConfig, video_jitter_crops
from pipeline.modelling.data import load_splits
from pipeline.modelling.evaluate import predict_split
from pipeline.runtime.emotion.calibration import apply_class_bias, prior_correction
from pipeline.runtime.emotion.classifier import MODEL_CARD, EmotionClassifier, read_model_card

needs_data = pytest.mark.skipif(not default_data().exists(), reason=f"FER-2013 not found at {default_data()}")


def test_a_full_correction_divides_the_training_priors_out_and_half_of_one_moves_half_way():
    labels = np.array([6] * 60 + [3] * 30 + [0] * 9 + [4])  # no disgust, fear or surprise at all
    counts = np.maximum(np.bincount(labels, minlength=len(EMOTIONS)), 1)
    as_trained = counts / counts.sum()  # a face the model knows nothing about: the training shares
    levelled = apply_class_bias(as_trained[None], prior_correction(labels, 1.0))[0]
    np.testing.assert_allclose(levelled, np.full(len(EMOTIONS), 1 / len(EMOTIONS)), rtol=1e-5)
    half = apply_class_bias(as_trained[None], prior_correction(labels, 0.5))[0]
    np.testing.assert_allclose(half, np.sqrt(as_trained) / np.sqrt(as_trained).sum(), rtol=1e-5)
    assert np.all(np.isfinite(prior_correction(labels, 1.0))), "an absent class counts as one face"
    assert not prior_correction(labels, 0.0).any()


@needs_data
def test_calibrate_writes_the_correction_by_the_cards_labels_into_a_new_folder_and_reports_what_the_app_shows(
    tmp_path, capsys
):
    installed = (installed_models_dir() / MODEL_CARD).read_bytes()
    models = tmp_path / "models"
    limit = 27
    command = [
        "calibrate",
        "--out",
        str(models),
        "--limit",
        str(limit),
        "--labels",
        "ferplus",
        "--prior-correction",
        "1",
    ]
    assert main(command) == 0
    assert (installed_models_dir() / MODEL_CARD).read_bytes() == installed, "the installed card is read, not rewritten"
    card = read_model_card(models)
    assert card.unclear["labels"] == card.temperature["labels"] == "ferplus"
    shipped = read_model_card(installed_models_dir()).unclear["coverage"]
    assert card.unclear["coverage"] == shipped != 0.9, "without --coverage: re-chosen at the card's coverage"
    assert card.class_bias is not None and card.class_bias["labels"] == card.calibration_labels == "ferplus"
    for labels in ("ferplus", "fer2013"):
        assert (models / f"confusion-test-{labels}.png").read_bytes().startswith(b"\x89PNG")
    splits = load_splits(default_data(), "ferplus", ("train", "test"))
    train = splits["train"].labels
    shares = np.bincount(train, minlength=len(EMOTIONS)) / len(train)
    assert 0.30 < shares[EMOTIONS.index("neutral")] < 0.40, "FER+ calls about a third of its faces neutral"
    np.testing.assert_allclose(card.class_bias_values, -np.log(shares), atol=1e-4)
    text = (models / MODEL_CARD).read_text()
    assert "--prior-correction 1" in text
    assert "### test split, original labels (fer2013 labels" in text, "the original labels are reported beside"
    assert "Neutral faces read as sad:" in text

    # The card's test table is what the app shows with that card: the shift applied once, then the temperature.
    classifier = EmotionClassifier.load(models)
    np.testing.assert_allclose(classifier.class_bias, card.class_bias_values)
    frame_crops = video_jitter_crops(EngineConfig(), classifier)
    test = splits["test"]
    shown = predict_split(classifier, test.images[:limit], frame_crops).argmax(axis=1)
    accuracy = float((shown == test.labels[:limit]).mean())
    table = text.split(f"### test split (ferplus labels, {limit} faces, {frame_crops} alignment jitters averaged)")[1]
    assert f"Accuracy **{accuracy:.4f}**" in table.split("###")[0]

    # A face the model finds as likely neutral as sad by FER+'s priors is read as sad once they are divided out.
    torn = np.full((1, len(EMOTIONS)), 0.004, dtype=np.float32)
    torn[0, EMOTIONS.index("neutral")], torn[0, EMOTIONS.index("sad")] = 0.40, 0.35
    assert EMOTIONS[int(apply_class_bias(torn, classifier.class_bias).argmax())] == "sad"
    assert EMOTIONS[int(torn.argmax())] == "neutral"


def test_a_prior_correction_outside_0_to_1_is_refused_in_one_line(capsys):
    assert main(["calibrate", "--out", "/nonexistent/x", "--prior-correction", "1.5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fertui: --prior-correction must be in [0, 1]") and err.count("\n") == 1
