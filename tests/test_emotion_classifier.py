"""EmotionClassifier on a tiny real exported model: sha256 check before loading, errors, batched predictions."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from pipeline.emotion import EMOTIONS
from pipeline.emotion.classifier import MODEL_CARD, EmotionClassifier, ModelError, read_model_card, unclear_mask


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
    assert described["file"] == card["model"] == "emotion.tflite"
    assert described["sha256"] == card["files"]["emotion.tflite"]["sha256"]
    assert described["thresholds"] == {"unclear_metric": "margin", "unclear": 0.05}
    assert card["classes"] == list(EMOTIONS)


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
    old = card["files"]["emotion.tflite"]["sha256"]
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


def test_unclear_by_top_probability_and_by_margin():
    probs = np.array([[0.5, 0.45, 0.05, 0, 0, 0, 0], [0.3, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2]], dtype=np.float32)
    assert unclear_mask(probs, "margin", 0.08).tolist() == [True, False]
    assert unclear_mask(probs, "top_probability", 0.4).tolist() == [False, True]
    assert unclear_mask(probs, "margin", 0.0).tolist() == [False, False]
