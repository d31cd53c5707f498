"""The training loop on a tiny dataset the test writes: checkpoints, state, resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pipeline.modelling.data import DataError, load_splits
from pipeline.modelling.network import build_model, multiply_adds
from pipeline.modelling.release import export_run, training_account
from pipeline.modelling.train import TrainConfig, class_weights, teacher_targets, train
from pipeline.runtime.emotion.calibration import choose_unclear
from pipeline.runtime.emotion.classifier import EmotionClassifier, ModelError, read_model_card


def write_tiny_fer2013(path, seed: int, n_train: int) -> dict[str, np.ndarray]:
    """A FER-2013-shaped npz of random images, labels cycling through the seven classes; returns its arrays."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("val", 16), ("test", 16)):
        arrays[f"{split}_x"] = rng.integers(0, 256, (n, 48, 48), dtype=np.uint8)
        arrays[f"{split}_y"] = (np.arange(n) % 7).astype(np.uint8)
    np.savez_compressed(path, **arrays)
    return arrays


def test_train_resume_and_export(tmp_path):
    data = tmp_path / "tiny.npz"
    write_tiny_fer2013(data, seed=0, n_train=48)
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
    interim = tmp_path / "interim"
    partial = export_run(out, interim, data=data, flip_tta=False, machine="test machine")
    assert read_model_card(interim).status == "interim"
    assert list(partial["exported"]["val_accuracy_as_shipped"]) == ["best.keras"], "an unfinished run ships its best"
    assert "Status: interim" in (interim / "MODEL_CARD.md").read_text()
    resumed = train(config, out, resume=True)
    assert resumed["epoch"] == 3
    assert [h["epoch"] for h in resumed["history"]] == [1, 2, 3]
    assert resumed["history"][:2] == state["history"]
    assert json.loads((out / "state.json").read_text())["epoch"] == 3
    assert (out / "checkpoint.keras").stat().st_mtime_ns > first_checkpoint

    # Export the run: the model the app loads, with the training account and metrics in its card.
    models = tmp_path / "models"
    result = export_run(out, models, data=data, flip_tta=False, machine="test machine")
    card = read_model_card(models)
    assert card.status == "final"
    tiny_cost = multiply_adds(build_model(widths=(4, 8, 8, 8)))  # no mirror image in this export
    assert card.files[card.model]["multiply_adds_per_face"] == tiny_cost
    text = (models / "MODEL_CARD.md").read_text()
    assert f"--epochs 3 --batch-size 16 --seed 1234 --out {out}" in text
    assert "test machine" in text and "### test split" in text and "### val split" in text
    assert card.unclear["metric"] == result["unclear"]["metric"]
    classifier = EmotionClassifier.load(models)
    assert classifier.unclear_threshold == result["unclear"]["threshold"]
    assert result["test"]["n"] == 16 and result["test"]["model"]["sha256"] == classifier.sha256

    # A complete run ships whichever of best.keras and the last epoch scores higher on val in the shipped form.
    best_epoch = json.loads((out / "state.json").read_text())["best_epoch"]
    exported, scores = result["exported"], result["exported"]["val_accuracy_as_shipped"]
    assert set(scores) == ({"best.keras"} if best_epoch == 3 else {"best.keras", "checkpoint.keras"})
    assert scores[exported["file"]] == max(scores.values())
    assert exported["epoch"] == (best_epoch if exported["file"] == "best.keras" else 3)
    assert f"'file': '{exported['file']}'" in text

    # The same run again as a second ensemble member: both files give the same answers, so the average does too.
    joined = export_run(out, models, data=data, flip_tta=False, machine="test machine", add_member=True)
    accuracy = joined["ensemble_val_accuracy"]
    assert accuracy["before"] == accuracy["this file"] == accuracy["averaged"]
    assert read_model_card(models).member_files == ["emotion.tflite", "emotion-2.tflite"]
    assert EmotionClassifier.load(models).files.keys() == {"emotion.tflite", "emotion-2.tflite"}
    text = (models / "MODEL_CARD.md").read_text()
    assert text.count(f"--out {out}") == 2 and "### `emotion.tflite`" in text and "### test split" in text
    with pytest.raises(DataError, match="flip test-time augmentation"):
        export_run(out, models, data=data, flip_tta=True, add_member=True)


def test_the_unclear_rule_at_ninety_percent_coverage_sets_aside_the_least_confident_tenth():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(1000, 7)) * rng.uniform(0.1, 3.0, size=(1000, 1))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.where(rng.random(1000) < 0.7, probs.argmax(axis=1), rng.integers(0, 7, 1000))
    rule = choose_unclear(probs, labels, coverage=0.9)
    assert rule["metric"] in ("top_probability", "margin")
    top2 = np.sort(probs, axis=1)[:, -2:]
    score = top2[:, 1] if rule["metric"] == "top_probability" else top2[:, 1] - top2[:, 0]
    assert (score < rule["threshold"]).mean() == pytest.approx(0.1, abs=0.005)
    overall = (probs.argmax(axis=1) == labels).mean()
    assert rule["accuracy_on_kept"] >= overall
    assert rule["accuracy"] == pytest.approx(overall, abs=1e-4)


def test_training_on_the_ferplus_vote_distribution_selects_on_the_ferplus_majority(tmp_path):
    from tests.test_emotion_data import VOTE_COLUMNS

    rng = np.random.default_rng(5)
    n = 24
    arrays = {}
    with (tmp_path / "ferplus_labels.csv").open("w") as fh:
        fh.write(",".join(["row", "split", "split_index", "fer2013_emotion", *VOTE_COLUMNS]) + "\n")
        for s, split in enumerate(("train", "val", "test")):
            arrays[f"{split}_x"] = rng.integers(0, 256, (n, 48, 48), dtype=np.uint8)
            arrays[f"{split}_y"] = rng.integers(0, 7, n).astype(np.uint8)
            for i in range(n):
                votes = rng.multinomial(10, [0.2, 0.2, 0.1, 0.2, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025])
                if i < 2:
                    votes = np.array([0] * 9 + [10])  # not a face: in no label set
                fh.write(",".join(map(str, [s * n + i, split, i, arrays[f"{split}_y"][i], *votes])) + "\n")
    data = tmp_path / "fer2013.npz"
    np.savez_compressed(data, **arrays)
    config = TrainConfig(
        data=str(data),
        labels="ferplus-votes",
        original_weight=0.25,
        mixup_alpha=0.2,
        class_weight_power=0.0,
        epochs=1,
        batch_size=8,
        widths=(4, 8, 8, 8),
    )
    state = train(config, tmp_path / "run")
    assert state["epoch"] == 1 and 0.0 <= state["best_val_accuracy"] <= 1.0
    expected_val = load_splits(data, "ferplus", ("val",))["val"]
    assert (state["val_labels"], state["val_images"]) == ("ferplus", len(expected_val))
    assert len(expected_val) < n  # images whose majority is contempt, unknown or not-a-face are not scored
    stored = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (stored["labels"], stored["original_weight"], stored["mixup_alpha"]) == ("ferplus-votes", 0.25, 0.2)
    command = training_account(tmp_path / "run")["command"]
    assert "--original-weight 0.25" in command and "--mixup 0.2" in command  # the card's command reproduces it
    assert "--class-weight-power 0.0" in command and "--widths 4,8,8,8" in command


def test_class_weights_run_from_none_to_inverse_frequency_and_keep_the_average_sample_at_one():
    labels = np.array([3] * 60 + [6] * 30 + [1] * 10)
    for power in (0.0, 0.5, 1.0):
        weights = class_weights(labels, power)
        assert weights[labels].mean() == pytest.approx(1.0)
        assert weights[2] == 0.0  # a class with no training image
    assert class_weights(labels, 0.0)[[1, 3, 6]] == pytest.approx([1.0, 1.0, 1.0])
    inverse = class_weights(labels, 1.0)
    assert inverse[1] / inverse[3] == pytest.approx(6.0)  # 60 happy faces to 10 disgusted ones
    assert class_weights(labels, 0.5)[1] / class_weights(labels, 0.5)[3] == pytest.approx(6.0**0.5)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--class-weight-power", "1.5"),
        ("--original-weight", "-0.1"),
        ("--teacher-weight", "2"),
        ("--mixup", "-1"),
        ("--widths", "32,64"),
        ("--widths", "32,64,wide,256"),
        ("--learning-rate", "0"),
        ("--warmup-epochs", "-1"),
        ("--wild", "/nonexistent/muxspace"),
        ("--init", "/nonexistent/best.keras"),
        ("--wild-per-class", "100"),  # without --wild
        ("--lower-face-occlusion", "1.5"),
        ("--original-where-voted", None),  # without --original-weight
    ],
)
def test_train_refuses_an_option_out_of_range_in_one_line(option, value, tmp_path, capsys):
    from pipeline.commands.cli import main

    given = [option] if value is None else [option, value]
    assert main(["train", "--data", str(tmp_path / "none.npz"), *given, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fertui: ") and option in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_the_webcam_degradation_is_reproducible_and_changes_only_what_it_adds():
    import tensorflow as tf

    from pipeline.modelling.network import augment

    images = tf.constant(np.random.default_rng(2).random((32, 48, 48, 1)), tf.float32)
    seed = tf.constant([3, 4], tf.int64)
    plain = augment(images, seed).numpy()
    webcam = augment(images, seed, webcam=True).numpy()
    assert np.array_equal(webcam, augment(images, seed, webcam=True).numpy())  # the same batch, the same degradation
    assert webcam.min() >= 0.0 and webcam.max() <= 1.0
    changed = [not np.allclose(a, b, atol=1e-5) for a, b in zip(plain, webcam, strict=True)]
    assert 8 < sum(changed) < 32  # each degradation hits about half the batch, so some images come through as they were


def test_the_domain_degradation_is_reproducible_in_range_and_leaves_some_images_alone():
    import tensorflow as tf

    from pipeline.modelling.network import domain_degrade

    images = tf.constant(np.random.default_rng(3).random((64, 48, 48, 1)), tf.float32)
    seed = tf.constant([5, 6], tf.int64)
    degraded = domain_degrade(images, seed).numpy()
    assert np.array_equal(degraded, domain_degrade(images, seed).numpy())
    assert degraded.shape == (64, 48, 48, 1) and degraded.min() >= 0.0 and degraded.max() <= 1.0
    changed = [not np.allclose(a, b, atol=1e-5) for a, b in zip(images.numpy(), degraded, strict=True)]
    assert 32 < sum(changed) < 64  # four steps, each on about half the batch: few images escape all four


def test_the_lower_face_occlusion_hides_below_the_nose_in_about_its_share_and_nothing_else():
    import tensorflow as tf

    from pipeline.modelling.network import LOWER_FACE_TOP, augment, lower_face_occlusion

    images = tf.constant(np.random.default_rng(4).random((200, 48, 48, 1)), tf.float32)
    seed = tf.constant([7, 8], tf.int64)
    hidden = lower_face_occlusion(images, seed, 0.25).numpy()
    assert np.array_equal(hidden, lower_face_occlusion(images, seed, 0.25).numpy())
    changed = ~np.all(np.isclose(hidden, images.numpy()), axis=(2, 3))  # (200, 48): rows changed per image
    occluded = changed.any(axis=1)
    assert 30 < occluded.sum() < 70  # a quarter of 200, give or take
    tops = changed[occluded].argmax(axis=1)
    assert tops.min() >= LOWER_FACE_TOP[0] and tops.max() < LOWER_FACE_TOP[1]
    assert changed[occluded][:, tops.max() :].all()  # every row from the top edge down
    assert not changed[:, : LOWER_FACE_TOP[0]].any()  # the eyes and brows are never touched
    # Its own seed stream: the rest of the augmentation is the same with or without it.
    plain, with_it = augment(images, seed).numpy(), augment(images, seed, lower_face=0.25).numpy()
    assert np.array_equal(plain[:, : LOWER_FACE_TOP[0]], with_it[:, : LOWER_FACE_TOP[0]])


def test_fine_tuning_starts_from_a_runs_weights_and_adds_the_wild_faces_the_detector_finds(tmp_path):
    import cv2
    import keras

    from tests.media import portrait

    data = tmp_path / "tiny.npz"
    write_tiny_fer2013(data, seed=0, n_train=32)
    base = tmp_path / "base"
    train(TrainConfig(data=str(data), epochs=1, batch_size=16, widths=(4, 8, 8, 8), warmup_epochs=0), base)

    # A muxspace-shaped folder: two real faces (grey, longest side 128 px, cropped tight), one photo without a
    # face, and one labelled contempt, which is not one of the seven.
    wild = tmp_path / "wild"
    wild.mkdir()
    hopper = cv2.cvtColor(portrait("hopper"), cv2.COLOR_BGR2GRAY)[60:380, 110:430]
    astronaut = cv2.cvtColor(portrait("astronaut"), cv2.COLOR_BGR2GRAY)[20:260, 150:350]
    for name, image in (("hopper.jpg", hopper), ("astronaut.jpg", astronaut), ("contempt.jpg", hopper)):
        scale = 128 / max(image.shape)
        cv2.imwrite(str(wild / name), cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
    cv2.imwrite(str(wild / "wall.jpg"), np.full((128, 128), 128, np.uint8))
    (wild / "labels.csv").write_text(
        "file,labeller,emotion\nhopper.jpg,a,neutral\nastronaut.jpg,a,happy\nwall.jpg,b,sad\ncontempt.jpg,b,contempt\n"
    )

    tuned = tmp_path / "tuned"
    config = TrainConfig(
        data=str(data),
        epochs=1,
        batch_size=16,
        widths=(4, 8, 8, 8),
        warmup_epochs=0,
        learning_rate=1e-9,  # so small that the convolutions keep the weights they started from
        init=str(base / "best.keras"),
        wild=str(wild),
        wild_per_class=1,
        domain_augment=True,
    )
    train(config, tuned)
    assert json.loads((tuned / "wild.json").read_text()) == {
        "wild": str(wild),
        "photos": 3,
        "faces": 2,
        "no_face": 1,
        "unreadable": 0,
        "per_class": 1,
        "kept": 2,
    }
    with np.load(tuned / "wild_crops.npz") as npz:
        assert npz["x"].shape == (2, 48, 48) and list(npz["y"]) == [6, 3]
    start = keras.models.load_model(base / "best.keras").get_layer("conv1_1").get_weights()[0]
    after = keras.models.load_model(tuned / "checkpoint.keras").get_layer("conv1_1").get_weights()[0]
    assert np.allclose(start, after, atol=1e-6)
    command = training_account(tuned)["command"]
    assert "--init" in command and "--wild" in command and "--wild-per-class 1" in command


def test_a_balanced_wild_subset_caps_each_class_and_keeps_the_rare_ones_whole():
    from pipeline.modelling.train import balanced_subset

    # muxspace's shape in small: mostly neutral and happy, a few of the rest, no fear at all.
    labels = np.array([6] * 70 + [3] * 50 + [0] * 4 + [1] * 2 + [4] * 3 + [5] * 9)
    keep = balanced_subset(labels, 8, seed=1)
    counts = np.bincount(labels[keep], minlength=7)
    assert list(counts) == [4, 2, 0, 8, 3, 8, 8]
    assert list(keep) == sorted(set(keep))  # each face once, in the folder's order
    assert np.array_equal(keep, balanced_subset(labels, 8, seed=1))  # the seed decides which
    assert not np.array_equal(keep, balanced_subset(labels, 8, seed=2))


def test_mixup_blends_each_image_mostly_with_itself_and_its_target_alike():
    import tensorflow as tf

    from pipeline.modelling.network import mixup

    rng = np.random.default_rng(3)
    images = tf.constant(rng.random((16, 48, 48, 1)), tf.float32)
    targets = tf.constant(np.eye(7, dtype=np.float32)[np.arange(16) % 7])  # neighbours differ in class
    weights = tf.constant(rng.uniform(0.5, 2.0, 16), tf.float32)
    seed = tf.constant([1, 2], tf.int64)
    mixed_images, mixed_targets, mixed_weights = (t.numpy() for t in mixup(images, targets, weights, 0.2, seed))
    assert np.array_equal(mixed_images, mixup(images, targets, weights, 0.2, seed)[0].numpy())  # reproducible
    classes = np.arange(16) % 7
    own = mixed_targets[np.arange(16), classes]
    partner = mixed_targets[np.arange(16), np.roll(classes, 1)]  # the partner: the batch rolled by one
    assert np.allclose(mixed_targets.sum(axis=1), 1.0) and np.all(own >= 0.5) and np.allclose(own + partner, 1.0)
    assert 0.0 < (own < 0.999).mean() < 1.0  # Beta(0.2, 0.2) leaves some images nearly whole, blends others
    # The image and the loss weight are blended by the same share as the target.
    rolled = np.roll(images.numpy(), 1, axis=0)
    lam = own[:, None, None, None]
    assert np.allclose(mixed_images, lam * images.numpy() + (1 - lam) * rolled, atol=1e-5)
    assert np.allclose(mixed_weights, own * weights.numpy() + (1 - own) * np.roll(weights.numpy(), 1), atol=1e-5)


def test_a_run_on_equalised_images_is_not_exported_because_the_app_does_not_equalise(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    config = {**TrainConfig(epochs=1).__dict__, "widths": [4, 8, 8, 8], "equalize": True}
    (run / "config.json").write_text(json.dumps(config))
    (run / "state.json").write_text(json.dumps({"epoch": 1, "best_epoch": 1, "best_val_accuracy": 0.5}))
    with pytest.raises(DataError, match="histogram-equalised"):
        training_account(run)


def test_a_student_learns_from_its_teachers_probabilities_mixed_into_the_targets(tmp_path):
    from tests.make_tiny_models import TINY_MODELS

    data = tmp_path / "tiny.npz"
    arrays = write_tiny_fer2013(data, seed=7, n_train=40)
    teacher = Path(shutil.copytree(TINY_MODELS, tmp_path / "teacher"))  # a real exported model, committed
    config = TrainConfig(
        data=str(data),
        teacher=str(teacher),
        teacher_weight=0.4,
        label_smoothing=0.0,
        epochs=1,
        batch_size=8,
        widths=(4, 8, 8, 8),
    )
    train(config, tmp_path / "run")

    raw_teacher = EmotionClassifier.load(teacher, calibrated=False)
    images = arrays["train_x"]
    expected = (raw_teacher.predict(images) + raw_teacher.predict(images[:, :, ::-1].copy())) / 2.0
    kept = np.load(tmp_path / "run" / "teacher.npy")
    # the teacher's own answers for every training image, in order, averaged with its answers for the mirror image
    assert np.allclose(kept, expected, atol=1e-6)
    split = load_splits(data, "fer2013", ("train",))["train"]
    mixed = teacher_targets(config, split, tmp_path / "run").targets
    assert np.allclose(mixed, 0.6 * np.eye(7)[split.labels] + 0.4 * expected, atol=1e-6)
    account = json.loads((tmp_path / "run" / "teacher.json").read_text())
    assert list(account["files"]) == read_model_card(teacher).member_files and account["teacher"] == str(teacher)
    assert f"--teacher {teacher} --teacher-weight 0.4" in training_account(tmp_path / "run")["command"]

    # Resuming needs only the run folder: the teacher's answers were kept there.
    (tmp_path / "teacher" / "MODEL_CARD.md").unlink()
    state = train(TrainConfig(**{**config.__dict__, "epochs": 2}), tmp_path / "run", resume=True)
    assert state["epoch"] == 1  # the run keeps the epochs it was started for

    other = TrainConfig(**{**config.__dict__, "teacher": str(tmp_path / "no-such-folder")})
    with pytest.raises(ModelError):
        train(other, tmp_path / "run-2")
