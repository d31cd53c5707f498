"""Metric math against a hand-computed confusion matrix, and `fertui eval` end to end on data the test writes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.commands.cli import main
from pipeline.core.labels import EMOTIONS
from pipeline.core.paths import default_data, installed_models_dir
from pipeline.modelling.conversion import PAPER_F1
from pipeline.modelling.data import load_split
from pipeline.modelling.evaluate import confusion_matrix, metrics_from_confusion, neutral_read_as, predict_split
from pipeline.runtime.emotion.classifier import EmotionClassifier, read_model_card


def test_metrics_match_a_hand_computed_confusion_matrix():
    confusion = np.array([[5, 1, 0, 0], [2, 3, 1, 0], [0, 0, 4, 0], [0, 0, 0, 0]])
    m = metrics_from_confusion(confusion, classes=("a", "b", "c", "d"))
    assert m["n"] == 16
    assert m["accuracy"] == pytest.approx(12 / 16)
    a, b, c, d = (m["per_class"][k] for k in "abcd")
    assert (a["precision"], a["recall"], a["support"]) == (pytest.approx(5 / 7), pytest.approx(5 / 6), 6)
    assert (b["precision"], b["recall"], b["support"]) == (pytest.approx(3 / 4), pytest.approx(3 / 6), 6)
    assert (c["precision"], c["recall"], c["support"]) == (pytest.approx(4 / 5), pytest.approx(1.0), 4)
    assert a["f1"] == pytest.approx(50 / 65)  # 2PR/(P+R) with P=5/7, R=5/6
    assert b["f1"] == pytest.approx(0.6)
    assert c["f1"] == pytest.approx(8 / 9)
    assert d == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}  # never seen, never predicted
    assert m["macro_f1"] == pytest.approx((50 / 65 + 0.6 + 8 / 9 + 0.0) / 4)


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    cm = confusion_matrix(np.array([0, 0, 1, 6, 6, 6]), np.array([0, 1, 1, 6, 6, 2]))
    assert cm.shape == (7, 7)
    assert cm[0, 0] == 1 and cm[0, 1] == 1 and cm[1, 1] == 1 and cm[6, 6] == 2 and cm[6, 2] == 1
    assert cm.sum() == 6


def test_the_neutral_to_sad_rate_counts_truly_neutral_faces_read_as_sad():
    cm = confusion_matrix(np.array([6, 6, 6, 6, 4]), np.array([4, 4, 6, 0, 4]))
    assert neutral_read_as(cm, "sad") == pytest.approx(0.5)  # two of the four neutral faces; the sad one is right
    assert neutral_read_as(cm, "angry") == pytest.approx(0.25)
    assert neutral_read_as(confusion_matrix(np.array([0]), np.array([4])), "sad") == 0.0  # no neutral face


def _write_npz(path, n=40, seed=0, **override):
    rng = np.random.default_rng(seed)
    arrays = {}
    for split in ("train", "val", "test"):
        arrays[f"{split}_x"] = rng.integers(0, 256, (n, 48, 48), dtype=np.uint8)
        arrays[f"{split}_y"] = rng.integers(0, 7, n).astype(np.uint8)
    arrays.update(override)
    np.savez_compressed(path, **arrays)
    return path


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory):
    return _write_npz(tmp_path_factory.mktemp("data") / "tiny.npz")


def test_eval_json_on_a_tiny_dataset(tiny_npz, tiny_models_dir, capsys):
    assert main(["eval", "--data", str(tiny_npz), "--model", str(tiny_models_dir), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) >= {"split", "labels", "n", "accuracy", "macro_f1", "per_class", "confusion", "model"}
    assert (report["split"], report["labels"], report["n"]) == ("test", "fer2013", 40)
    assert list(report["per_class"]) == list(EMOTIONS)
    # The figures are those of the real model's predictions on the real file, each image averaged over the
    # alignments the app gives a face in one video frame (6 for a one-network model).
    assert report["jitter_crops"] == 6
    split = load_split(tiny_npz, "test")
    classifier = EmotionClassifier.load(tiny_models_dir)
    predicted = np.argmax(predict_split(classifier, split.images, 6), axis=1)
    assert report["confusion"] == confusion_matrix(split.labels, predicted).tolist()
    assert report["accuracy"] == pytest.approx(float((predicted == split.labels).mean()))
    assert report["model"] == {"file": "emotion.tflite", "sha256": classifier.sha256}
    unclear = report["unclear"]
    assert unclear["metric"] == "margin" and unclear["threshold"] == pytest.approx(0.05)
    assert 0 <= unclear["n_unclear"] <= 40


def test_eval_jitter_crops_averages_that_many_alignments_of_each_image(tiny_npz, tiny_models_dir, capsys):
    split = load_split(tiny_npz, "test")
    classifier = EmotionClassifier.load(tiny_models_dir)
    one_crop = predict_split(classifier, split.images)
    np.testing.assert_allclose(one_crop, classifier.face_probabilities(split.images[:, None]), atol=1e-6)
    for crops in (1, 3):
        args = ["eval", "--data", str(tiny_npz), "--model", str(tiny_models_dir), "--json", "--jitter-crops"]
        assert main([*args, str(crops)]) == 0
        report = json.loads(capsys.readouterr().out)
        expected = np.argmax(predict_split(classifier, split.images, crops), axis=1)
        assert report["jitter_crops"] == crops
        assert report["confusion"] == confusion_matrix(split.labels, expected).tolist()
    # Three alignments are not the image alone: the average moves the probabilities.
    assert np.abs(predict_split(classifier, split.images, 3) - one_crop).max() > 1e-3


def test_eval_scores_image_i_with_the_slice_of_the_alignment_cycle_video_frame_i_gets(tiny_npz, tiny_models_dir):
    # The app moves to the next slice of the cycle every frame; scoring every image with slice 0 measured one
    # fiftieth of the cycle.
    from pipeline.runtime.emotion.crop import jitter_schedule, reframe_crop

    images = load_split(tiny_npz, "test").images[:5]
    classifier = EmotionClassifier.load(tiny_models_dir)
    probs = predict_split(classifier, images, 3, batch_size=2)  # batches do not restart the frame count
    assert jitter_schedule(0, 3) != jitter_schedule(3, 3)
    for i, image in enumerate(images):
        crops = np.stack([[reframe_crop(image, jitter) for jitter in jitter_schedule(i, 3)]])
        np.testing.assert_allclose(probs[i], classifier.face_probabilities(crops)[0], atol=1e-6)


def test_eval_table_and_plot(tiny_npz, tiny_models_dir, tmp_path, capsys):
    plot = tmp_path / "confusion.png"
    args = ["eval", "--data", str(tiny_npz), "--model", str(tiny_models_dir), "--split", "val", "--plot", str(plot)]
    assert main(args) == 0
    out = capsys.readouterr().out
    for word in ("precision", "recall", "F1", "support", "macro avg", "accuracy", *EMOTIONS):
        assert word in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot.stat().st_mode & 0o777 == 0o600, "owner-only, like every file fertui writes"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "data file not found"),
        ("corrupt", "cannot read"),
        ("shape", "expected (N, 48, 48) uint8"),
        ("labels", "unknown label set"),
        ("model", "model card not found"),
        ("split", "unknown split"),
        ("no crops", "--jitter-crops must be at least 1"),
        ("photo crops", "--jitter-crops is for --path direct"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(case, message, tiny_npz, tiny_models_dir, tmp_path, capsys):
    data, model, extra = tiny_npz, tiny_models_dir, []
    if case == "missing":
        data = tmp_path / "nowhere.npz"
    elif case == "corrupt":
        data = tmp_path / "corrupt.npz"
        data.write_bytes(b"PK\x03\x04 this is not a zip archive")
    elif case == "shape":
        data = _write_npz(tmp_path / "shape.npz", test_x=np.zeros((40, 64, 64), np.uint8))
    elif case == "labels":
        extra = ["--labels", "affectnet"]
    elif case == "model":
        model = tmp_path / "no-models"
    elif case == "split":
        extra = ["--split", "train"]
    elif case == "no crops":
        extra = ["--jitter-crops", "0"]
    elif case == "photo crops":
        extra = ["--path", "photo", "--jitter-crops", "3"]
    assert main(["eval", "--data", str(data), "--model", str(model), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fertui: ") and message in err
    assert err.count("\n") == 1


SHIPPED_MODEL = installed_models_dir() / "emotion.tflite"


@pytest.mark.skipif(not default_data().exists(), reason=f"FER-2013 not found at {default_data()}")
@pytest.mark.skipif(not SHIPPED_MODEL.exists(), reason=f"no shipped model at {SHIPPED_MODEL} (fertui export)")
def test_the_shipped_model_holds_its_measured_floors_on_privatetest(capsys):
    """The shipped model answers to the FER+ annotators' majority; these are the floors it was measured to hold
    (models/MODEL_CARD.md; each image averaged over a video frame's alignments, as the app classifies a face), just
    under its figures, so a worse model cannot ship unnoticed: 0.82 on FER+ and 0.62 on the original labels (the
    real-people issue's floors). Its card's prior correction (README, "On real people") moves mild expressions out
    of `neutral`, at a cost on FER+'s calm faces: neutral recall 0.80 and 11.7% of them read as sad, against 0.88
    and 7.1% without it (`fertui calibrate --prior-correction 0`). Disgust and fear F1 on the original labels stay
    under the paper's: a model of the annotators cannot reach them (`benchmarks.label_agreement`, README)."""
    # No skip for an interim card: a shipped model whose figures nobody checks is what this test exists to stop.
    assert read_model_card(installed_models_dir()).status == "final", (
        "the shipped model is an interim export: ship a final one"
    )
    assert main(["eval", "--json", "--labels", "ferplus"]) == 0
    ferplus = json.loads(capsys.readouterr().out)
    assert (ferplus["split"], ferplus["labels"], ferplus["n"]) == ("test", "ferplus", 3492)
    assert ferplus["accuracy"] >= 0.82
    assert ferplus["per_class"]["neutral"]["recall"] >= 0.79
    assert ferplus["neutral_as_sad"] < 0.12, "calm faces must not read as sad"
    assert main(["eval", "--json"]) == 0
    original = json.loads(capsys.readouterr().out)
    assert (original["labels"], original["n"]) == ("fer2013", 3589)
    assert original["accuracy"] >= 0.62, "beside the paper's 0.58 on the original labels"
    for emotion in ("angry", "happy", "sad", "neutral"):
        assert original["per_class"][emotion]["f1"] > PAPER_F1[emotion], emotion
