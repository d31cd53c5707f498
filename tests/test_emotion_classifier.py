"""EmotionClassifier on a tiny real exported model: sha256 check before loading, errors, batched predictions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pipeline.core.labels import EMOTIONS
from pipeline.runtime.emotion.calibration import apply_class_bias, apply_temperature
from pipeline.runtime.emotion.classifier import MODEL_CARD, EmotionClassifier, ModelError, read_model_card


@pytest.fixture(scope="module")
def classifier(tiny_models_dir):
    return EmotionClassifier.load(tiny_models_dir)


@pytest.fixture
def models_copy(tiny_models_dir, tmp_path):
    return shutil.copytree(tiny_models_dir, tmp_path / "models")


def test_probabilities_have_one_row_per_face_and_sum_to_one(classifier):
    crops = np.random.default_rng(1).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    probs = classifier.predict(crops)
    assert probs.shape == (5, len(EMOTIONS))
    assert probs.dtype == np.float32
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert (probs >= 0).all()


def test_a_batch_gives_the_same_answers_as_one_face_at_a_time(classifier):
    crops = np.random.default_rng(2).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    batched = classifier.predict(crops)
    single = np.concatenate([classifier.predict(crops[i : i + 1]) for i in range(4)])
    assert np.allclose(batched, single, atol=1e-5)
    assert classifier.predict(crops[:0]).shape == (0, 7)


def test_the_model_card_gives_file_sha256_and_threshold(classifier, tiny_models_dir):
    card = read_model_card(tiny_models_dir)
    described = classifier.describe()
    assert described["file"] == card.model == "emotion.tflite"
    assert described["sha256"] == card.files["emotion.tflite"]["sha256"]
    assert described["thresholds"] == {"unclear_metric": "margin", "unclear": 0.05}
    assert described["temperature"] == 1.0
    assert card.classes == list(EMOTIONS)


def test_a_changed_file_is_refused_before_loading(models_copy):
    model = models_copy / "emotion.tflite"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not match its model card"):
        EmotionClassifier.load(models_copy)


def test_a_missing_file_or_card_is_a_model_error(models_copy):
    (models_copy / "emotion.tflite").unlink()
    with pytest.raises(ModelError, match="model file not found"):
        EmotionClassifier.load(models_copy)
    (models_copy / MODEL_CARD).unlink()
    with pytest.raises(ModelError, match="model card not found"):
        EmotionClassifier.load(models_copy)


def test_an_unreadable_file_with_a_matching_sha_is_a_model_error(models_copy):
    import hashlib

    junk = b"not a flatbuffer at all" * 10
    (models_copy / "emotion.tflite").write_bytes(junk)
    card_path = models_copy / MODEL_CARD
    card = read_model_card(models_copy)
    old = card.files["emotion.tflite"]["sha256"]
    card_path.write_text(card_path.read_text().replace(old, hashlib.sha256(junk).hexdigest()))
    with pytest.raises(ModelError, match="cannot load"):
        EmotionClassifier.load(models_copy)


def test_a_card_without_its_json_block_is_a_model_error(models_copy):
    (models_copy / MODEL_CARD).write_text("# a model card\n\nno machine-readable part\n")
    with pytest.raises(ModelError, match="json block"):
        EmotionClassifier.load(models_copy)
    (models_copy / MODEL_CARD).write_text("```json\n" + json.dumps({"model": "x"}) + "\n```\n")
    with pytest.raises(ModelError, match="not a fertui model card"):
        EmotionClassifier.load(models_copy)


def _with_card_temperature(models_copy, value: float) -> None:
    card_path = models_copy / MODEL_CARD
    text = card_path.read_text()
    card = read_model_card(models_copy)
    card.temperature = {"value": value}
    start, end = text.index("```json\n") + len("```json\n"), text.rindex("\n```")
    card_path.write_text(text[:start] + json.dumps(card.to_json(), indent=2) + text[end:])


def test_a_face_is_its_crops_averaged_then_calibrated_by_the_cards_temperature(models_copy):
    _with_card_temperature(models_copy, 0.5)
    calibrated = EmotionClassifier.load(models_copy)
    raw = EmotionClassifier.load(models_copy, calibrated=False)
    assert calibrated.temperature == 0.5 and raw.temperature == 1.0
    assert calibrated.describe()["temperature"] == 0.5
    crops = np.random.default_rng(4).integers(0, 256, (2, 3, 48, 48), dtype=np.uint8)  # 2 faces x 3 alignments
    averaged = raw.predict(crops.reshape(6, 48, 48)).reshape(2, 3, 7).mean(axis=1)
    assert np.allclose(raw.face_probabilities(crops), averaged, atol=1e-6)
    assert np.allclose(calibrated.face_probabilities(crops), apply_temperature(averaged, 0.5), atol=1e-6)
    assert calibrated.face_probabilities(crops[:0]).shape == (0, 7)


def test_a_class_bias_shifts_the_decision_before_the_temperature_and_is_left_out_uncalibrated(models_copy):
    card_path = models_copy / MODEL_CARD
    text, card = card_path.read_text(), read_model_card(models_copy)
    card.temperature = {"value": 0.5}
    card.class_bias = {"values": {"neutral": -1.5, "angry": 0.25}}
    start, end = text.index("```json\n") + len("```json\n"), text.rindex("\n```")
    card_path.write_text(text[:start] + json.dumps(card.to_json(), indent=2) + text[end:])
    biased = EmotionClassifier.load(models_copy)
    bias = np.array([0.25, 0, 0, 0, 0, 0, -1.5])
    assert np.array_equal(biased.class_bias, bias)
    assert biased.describe()["class_bias"]["neutral"] == -1.5
    crops = np.random.default_rng(5).integers(0, 256, (4, 3, 48, 48), dtype=np.uint8)
    raw = EmotionClassifier.load(models_copy, calibrated=False)
    averaged = raw.face_probabilities(crops)
    expected = apply_temperature(apply_class_bias(averaged, bias), 0.5)
    assert np.allclose(biased.face_probabilities(crops), expected, atol=1e-6)
    assert np.allclose(biased.uncalibrated().face_probabilities(crops), averaged, atol=1e-6)
    assert "class_bias" not in raw.describe()
    # The shift by hand: neutral's share falls by e^1.5 against the others, angry's rises by e^0.25.
    p = np.array([[0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.4]])
    shifted = p * np.exp(bias)
    assert np.allclose(apply_class_bias(p, bias), shifted / shifted.sum(), atol=1e-6)
    assert apply_class_bias(p, np.zeros(7)) is not None and np.allclose(apply_class_bias(p, None), p)


def test_the_shipped_models_answers_do_not_depend_on_the_number_of_threads():
    # `fertui eval` and `calibrate` give the model every core (pipeline.core.threads.thread_budget); the app one.
    from pipeline.core.paths import installed_models_dir

    crops = np.random.default_rng(8).integers(0, 256, (64, 48, 48), dtype=np.uint8)
    one, two = (EmotionClassifier.load(installed_models_dir(), num_threads=n) for n in (1, 2))
    assert np.array_equal(one.predict(crops), two.predict(crops))


def test_a_card_without_a_temperature_is_uncalibrated_and_a_bad_one_is_refused(classifier, models_copy):
    assert classifier.temperature == 1.0  # cards written before calibration existed
    _with_card_temperature(models_copy, -1.0)
    with pytest.raises(ModelError, match="temperature must be positive"):
        EmotionClassifier.load(models_copy)


def test_flip_tta_gives_a_face_and_its_mirror_the_same_probabilities(tmp_path):
    from tests.model_fixtures import make_tiny_models_dir

    classifier = EmotionClassifier.load(make_tiny_models_dir(tmp_path, flip_tta=True))
    crops = np.random.default_rng(4).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    probs = classifier.predict(crops)
    assert np.allclose(probs, classifier.predict(crops[:, :, ::-1].copy()), atol=1e-5)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert read_model_card(tmp_path).flip_tta is True


def test_the_card_reads_back_what_was_written(tiny_models_dir):
    from pipeline.runtime.emotion.model_card import ModelCard

    card = read_model_card(tiny_models_dir)
    assert ModelCard.from_json(json.loads(json.dumps(card.to_json()))) == card
    assert list(card.to_json())[:3] == ["format", "model", "files"] and "temperature" not in card.to_json()
    with pytest.raises(ModelError, match="not a fertui model card"):
        ModelCard.from_json({**card.to_json(), "files": {}})
    with pytest.raises(ModelError, match="differ from fertui's"):
        ModelCard.from_json({**card.to_json(), "classes": ["happy", "sad"]})


def test_an_ensemble_averages_its_members_and_checks_every_file(tmp_path):
    from pipeline.modelling.conversion import add_member_file
    from pipeline.runtime.emotion.model_card import ModelCard
    from tests.make_tiny_models import TINY_MODELS, TINY_MODELS_SEED1

    # Two real exports of one network from different seeds (committed: tests/make_tiny_models.py makes them).
    ensemble_dir = Path(shutil.copytree(TINY_MODELS, tmp_path / "ensemble"))
    other_dir = Path(shutil.copytree(TINY_MODELS_SEED1, tmp_path / "other"))
    first, second = EmotionClassifier.load(ensemble_dir), EmotionClassifier.load(other_dir)
    added = add_member_file(
        (other_dir / "emotion.tflite").read_bytes(),
        ensemble_dir,
        parameters=read_model_card(other_dir).parameters,
        multiply_adds=123_456,
        quantized=True,
        training={"command": "fertui train --seed 1 --out runs/other", "epochs": 1},
    )
    assert added == "emotion-2.tflite"
    card = read_model_card(ensemble_dir)
    assert card.member_files == ["emotion.tflite", "emotion-2.tflite"] and card.model == "emotion.tflite"
    assert card.parameters == 2 * read_model_card(other_dir).parameters
    assert card.files["emotion-2.tflite"]["multiply_adds_per_face"] == 123_456, "no mirror image in these files"
    assert ModelCard.from_json(json.loads(json.dumps(card.to_json()))) == card

    ensemble = EmotionClassifier.load(ensemble_dir)
    assert ensemble.multiply_adds_per_face == first.multiply_adds_per_face + 123_456
    crops = np.random.default_rng(6).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    alone = first.predict(crops), second.predict(crops)
    assert not np.allclose(alone[0], alone[1], atol=1e-3), "the two members must differ for this test to mean much"
    assert np.allclose(ensemble.predict(crops), (alone[0] + alone[1]) / 2, atol=1e-6)
    assert [m["file"] for m in ensemble.describe()["members"]] == ["emotion.tflite", "emotion-2.tflite"]

    text = (ensemble_dir / MODEL_CARD).read_text()
    assert "### `emotion-2.tflite`" in text and "fertui train --seed 1 --out runs/other" in text
    assert card.files["emotion-2.tflite"]["sha256"] in text and "An ensemble of 2 networks" in text

    member = ensemble_dir / "emotion-2.tflite"
    member.write_bytes(member.read_bytes()[:-1] + b"\0")
    with pytest.raises(ModelError, match="emotion-2.tflite does not match its model card"):
        EmotionClassifier.load(ensemble_dir)
    with pytest.raises(ModelError, match="not a fertui model card"):
        ModelCard.from_json({**card.to_json(), "members": ["emotion.tflite", "missing.tflite"]})


def test_the_committed_tiny_model_loads_without_tensorflow() -> None:
    # The end-to-end tests run this file (tests/make_tiny_models.py makes it): no TensorFlow, no training.
    import subprocess
    import sys

    from tests.make_tiny_models import TINY_MODELS

    code = (
        "import sys, numpy as np; from pipeline.runtime.emotion.classifier import EmotionClassifier; "
        f"c = EmotionClassifier.load({str(TINY_MODELS)!r}); "
        "p = c.face_probabilities(np.zeros((1, 1, 48, 48), np.uint8)); "
        "assert p.shape == (1, 7) and abs(float(p.sum()) - 1) < 1e-3; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules; print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
    assert sum(path.stat().st_size for path in TINY_MODELS.iterdir()) < 64_000, "a few KB, committed"
