"""A finished training run -> the model folder the app loads (`fertui export`), and its calibration
(`fertui calibrate`).

Export: the model to ship, chosen on val -> TFLite; write emotion.tflite and MODEL_CARD.md with the training
account and the sha256; then calibrate. Calibrate: run val through the path the app runs on photos (the real
detector, face_crop, the alignment jitters; pipeline/modelling/detection_path.py), fit the temperature and choose
the `unclear` rule there, report on test (through that path, through one video frame's path, and on the plain
48x48 images), and rewrite the card's calibration and metrics. The test split is only reported, never used to
choose anything.

Which weights: training keeps best.keras, the epoch with the best plain val accuracy, and checkpoint.keras, the
last epoch. The shipped file is neither plain nor float (int8 weights, flip test-time augmentation), so when
the run is complete both are converted and the one whose shipped form scores higher on val is exported.
"""

from __future__ import annotations

import json
import shlex
import tempfile
from pathlib import Path

import numpy as np

from pipeline.core.labels import EMOTIONS
from pipeline.core.paths import default_data
from pipeline.core.threads import thread_budget
from pipeline.modelling.data import DataError, load_splits, scored_labels
from pipeline.modelling.train import TrainConfig
from pipeline.runtime.emotion.calibration import (
    COVERAGE,
    apply_temperature,
    choose_unclear,
    class_shares,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    prior_correction,
    risk_coverage,
    unclear_mask,
)
from pipeline.runtime.emotion.classifier import EmotionClassifier
from pipeline.runtime.emotion.model_card import MODEL_CARD, ModelCard

QUANTIZATION_TOLERANCE = 0.005
"""Ship the dynamic-range quantized model unless it loses more than this much val accuracy against float32."""


def training_account(run_dir: Path) -> dict:
    """What the run folder says about its training: command, epochs, time, selected epoch, config."""
    config = json.loads((run_dir / "config.json").read_text())
    state = json.loads((run_dir / "state.json").read_text())
    if config.get("equalize"):
        # The app's face_crop does not equalise, so such a network would see other images than it learned on.
        raise DataError(f"{run_dir} was trained on histogram-equalised images, which the app does not make")
    command = [
        "fertui",
        "train",
        "--data",
        config["data"],
        "--labels",
        config["labels"],
        "--epochs",
        str(config["epochs"]),
        "--batch-size",
        str(config["batch_size"]),
        "--seed",
        str(config["seed"]),
        "--out",
        str(run_dir),
    ]
    if config.get("original_weight"):
        command += ["--original-weight", str(config["original_weight"])]
    if config.get("original_where_voted"):
        command += ["--original-where-voted"]
    # A setting left at its default stays out of the command; a run's config.json from before a setting
    # existed lacks it, and the run used the default.
    defaults = TrainConfig()
    if config.get("label_smoothing", defaults.label_smoothing) != defaults.label_smoothing:
        command += ["--label-smoothing", str(config["label_smoothing"])]
    if config.get("class_weight_power", defaults.class_weight_power) != defaults.class_weight_power:
        command += ["--class-weight-power", str(config["class_weight_power"])]
    if tuple(config.get("widths", defaults.widths)) != defaults.widths:
        command += ["--widths", ",".join(map(str, config["widths"]))]
    if config.get("webcam_augment"):
        command += ["--webcam-augment"]
    if config.get("domain_augment"):
        command += ["--domain-augment"]
    if config.get("lower_face_occlusion"):
        command += ["--lower-face-occlusion", str(config["lower_face_occlusion"])]
    if config.get("wild"):
        command += ["--wild", str(config["wild"])]
    if config.get("wild_per_class"):
        command += ["--wild-per-class", str(config["wild_per_class"])]
    if config.get("init"):
        command += ["--init", str(config["init"])]
    if config.get("learning_rate", defaults.learning_rate) != defaults.learning_rate:
        command += ["--learning-rate", str(config["learning_rate"])]
    if config.get("warmup_epochs", defaults.warmup_epochs) != defaults.warmup_epochs:
        command += ["--warmup-epochs", str(config["warmup_epochs"])]
    if config.get("mixup_alpha"):
        command += ["--mixup", str(config["mixup_alpha"])]
    if config.get("teacher"):
        command += ["--teacher", str(config["teacher"]), "--teacher-weight", str(config["teacher_weight"])]
    if config.get("limit"):
        command += ["--limit", str(config["limit"])]
    wild = run_dir / "wild.json"
    return {
        **({"wild": json.loads(wild.read_text())} if wild.is_file() else {}),
        "command": shlex.join(command),
        "run_dir": str(run_dir),
        "labels": config["labels"],
        "epochs": state["epoch"],
        "epochs_planned": config["epochs"],
        "complete": state["epoch"] >= config["epochs"],
        "best_epoch": state["best_epoch"],
        "best_val_accuracy": round(state["best_val_accuracy"], 4),
        "seconds": float(state.get("seconds", 0.0)),
        "seed": config["seed"],
        "config": config,
    }


def export_run(
    run_dir: Path | str,
    out_dir: Path | str,
    *,
    data: Path | str | None = None,
    flip_tta: bool = False,
    coverage: float = COVERAGE,
    machine: str | None = None,
    add_member: bool = False,
    realworld: bool = False,
) -> dict:
    """Export the run's best weights on val into out_dir with its model card, then calibrate it; returns the
    reports: {"quantized", "val_accuracy_by_format", "exported"} and calibrate_model_dir's result.

    add_member: out_dir already holds a model; the run joins it as one more ensemble member (emotion-N.tflite),
    and the card records the val accuracy of the model before, of the new member alone and of the two averaged.
    """
    import keras

    from pipeline.modelling.conversion import add_member_file, machine_description, to_tflite, write_model_files
    from pipeline.modelling.evaluate import predict_split
    from pipeline.modelling.network import multiply_adds

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    best = run_dir / "best.keras"
    for needed in (best, run_dir / "config.json", run_dir / "state.json"):
        if not needed.is_file():
            raise DataError(f"{needed} not found: --run must be a training run folder (fertui train --out)")
    account = training_account(run_dir)
    if add_member and ModelCard.read(out_dir).flip_tta != flip_tta:
        raise DataError(f"the model in {out_dir} and this export differ in flip test-time augmentation")
    ensemble_accuracy: dict[str, float] = {}
    candidates = {"best.keras": (best, account["best_epoch"])}
    last = run_dir / "checkpoint.keras"
    if account["complete"] and last.is_file() and account["best_epoch"] != account["epochs"]:
        candidates["checkpoint.keras"] = (last, account["epochs"])
    labels = scored_labels(account["labels"])  # what the model is selected and calibrated by
    data = default_data() if data is None else data
    val = load_splits(Path(data), labels, ("val",))["val"]

    def load(path: Path):
        try:
            return keras.models.load_model(path, safe_mode=True)
        except (ValueError, OSError) as exc:
            raise DataError(f"cannot load {path}: {str(exc).splitlines()[0]}") from None

    def val_predictions(model, quantized: bool) -> tuple[bytes, EmotionClassifier, np.ndarray]:
        tflite = to_tflite(model, flip_tta=flip_tta, quantize=quantized)
        write_model_files(
            tflite,
            scratch,
            parameters=int(model.count_params()),
            multiply_adds=multiply_adds(model),
            flip_tta=flip_tta,
            quantized=quantized,
        )
        classifier = EmotionClassifier.load(scratch)
        return tflite, classifier, predict_split(classifier, val.images)

    def val_accuracy(probs: np.ndarray) -> float:
        return float((probs.argmax(axis=1) == val.labels).mean())

    with tempfile.TemporaryDirectory() as scratch:
        models = {name: load(path) for name, (path, _) in candidates.items()}
        as_shipped = {name: val_predictions(model, True) for name, model in models.items()}  # int8 weights
        shipped_form = {name: val_accuracy(result[2]) for name, result in as_shipped.items()}
        chosen = max(candidates, key=lambda name: (shipped_form[name], name == "best.keras"))
        model = models[chosen]
        parameters, network_multiply_adds = int(model.count_params()), multiply_adds(model)
        as_float = val_predictions(model, False)
        tflite, classifier, val_probs = as_shipped[chosen]
        accuracy = {"float32": val_accuracy(as_float[2]), "dynamic_int8": val_accuracy(val_probs)}
        quantized = accuracy["dynamic_int8"] >= accuracy["float32"] - QUANTIZATION_TOLERANCE
        if not quantized:
            tflite, val_probs = as_float[0], as_float[2]
        if add_member:
            existing = EmotionClassifier.load(out_dir, calibrated=False)
            members = len(existing.files)
            before = predict_split(existing, val.images)
            averaged = (before * members + val_probs) / (members + 1)  # what the classifier will compute
            ensemble_accuracy = {
                "before": round(val_accuracy(before), 4),
                "this file": round(val_accuracy(val_probs), 4),
                "averaged": round(val_accuracy(averaged), 4),
            }
    training = {
        **account,
        "exported": {
            "file": chosen,
            "epoch": candidates[chosen][1],
            "val_accuracy_as_shipped": {name: round(value, 4) for name, value in shipped_form.items()},
        },
        "machine": machine or machine_description(),
        "val_accuracy_by_format": {k: round(v, 4) for k, v in accuracy.items()},
    }
    if add_member:
        training["ensemble_val_accuracy"] = ensemble_accuracy
        add_member_file(
            tflite,
            out_dir,
            parameters=parameters,
            multiply_adds=network_multiply_adds,
            quantized=quantized,
            training=training,
        )
    else:
        write_model_files(
            tflite,
            out_dir,
            parameters=parameters,
            multiply_adds=network_multiply_adds,
            flip_tta=flip_tta,
            quantized=quantized,
            training=training,
        )
    return {
        "quantized": quantized,
        "val_accuracy_by_format": accuracy,
        "exported": training["exported"],
        **({"ensemble_val_accuracy": ensemble_accuracy} if add_member else {}),
        **calibrate_model_dir(out_dir, data=data, coverage=coverage, labels=labels, realworld=realworld),
    }


def realworld_report(classifier: EmotionClassifier, models_dir: Path) -> dict | None:
    """The development set through the app's paths with the calibrated model, its confusion matrices drawn beside
    the card (`confusion-realworld-<part>.png`); None where the set is not on this machine."""
    from pipeline.engine import STILL_JITTER_CROPS
    from pipeline.modelling.evaluate import plot_confusion
    from pipeline.modelling.realworld import default_realworld_dir, evaluate_realworld

    root = default_realworld_dir()
    if not (root / "jaffe").is_dir() or not (root / "ckplus48.npz").is_file():
        return None
    report, _ = evaluate_realworld(root, classifier, STILL_JITTER_CROPS)
    for name, part in {**report["parts"], "pooled": report["pooled"]}.items():
        title = f"{name}: accuracy {part['accuracy']:.3f}, macro recall {part['macro_recall']:.3f}"
        plot_confusion(part, models_dir / f"confusion-realworld-{name}.png", title)
    return report


def prior_correction_entry(data: Path, labels: str, strength: float) -> dict | None:
    """The card's class_bias for a prior correction of `strength` by the shares of `train` (None at 0)."""
    if strength == 0:
        return None
    train_labels = load_splits(data, labels, ("train",))["train"].labels
    shares, bias = class_shares(train_labels), prior_correction(train_labels, strength)
    return {
        "values": {emotion: round(float(b), 4) for emotion, b in zip(EMOTIONS, bias, strict=True)},
        "prior_strength": strength,
        "train_shares": {emotion: round(float(p), 4) for emotion, p in zip(EMOTIONS, shares, strict=True)},
        "labels": labels,
        "rule": "-prior_strength x log(the class's share of train)",
    }


def calibrate_model_dir(
    models_dir: Path | str,
    *,
    data: Path | str | None = None,
    coverage: float = COVERAGE,
    limit: int | None = None,
    labels: str = "fer2013",
    realworld: bool = False,
    prior_strength: float | None = None,
) -> dict:
    """Fit the temperature and choose the `unclear` rule on val through the photo path; rewrite the card.

    limit: only the first N images of each split (quick checks; the card then says so in its criterion).
    labels: the label set the model answers to (fer2013, or ferplus for a model trained on the FER+ votes).
    realworld: also report the development set (pipeline.modelling.realworld) where it is on this machine.
    prior_strength: a new class bias, -strength x log(each class's share of `train` by `labels`), 0 for none;
        None keeps the card's. It moves the decision before the temperature is fitted and the rule chosen.
    Returns {"temperature", "unclear", "calibration", "val", "test", "test_path"}.
    """
    from pipeline.core.files import write_private_atomic
    from pipeline.engine import EngineConfig, video_jitter_crops
    from pipeline.modelling.conversion import card_head, render_card_tail
    from pipeline.modelling.detection_path import run_path
    from pipeline.modelling.evaluate import direct_report, plot_confusion, predict_split, report_dict

    models_dir = Path(models_dir)
    card = ModelCard.read(models_dir)
    data = default_data() if data is None else data
    if prior_strength is not None:
        card.class_bias = prior_correction_entry(Path(data), labels, prior_strength)
    raw = EmotionClassifier.load(models_dir, calibrated=False, num_threads=thread_budget())  # offline: every core
    # The class bias moves the decision and stays; the temperature is fitted on the shifted answers.
    raw.class_bias = np.array(card.class_bias_values)
    splits = load_splits(Path(data), labels, ("val", "test"))
    val, test = (splits[name].subset(np.arange(len(splits[name]))[:limit]) for name in ("val", "test"))

    val_path = run_path(val.images, raw)
    val_truth = val.labels[val_path.detected]
    temperature = fit_temperature(val_path.probs, val_truth)
    val_calibrated = apply_temperature(val_path.probs, temperature)
    unclear = choose_unclear(val_calibrated, val_truth, coverage)
    if limit is not None:
        unclear["criterion"] += f" (only the first {limit} images of each split)"

    test_photo = run_path(test.images, raw)
    test_frame = run_path(test.images, raw, per_image=False)
    engine = EngineConfig()
    # The 48x48 images as the app classifies a face in one video frame: averaged over that frame's alignments.
    frame_crops = video_jitter_crops(engine, raw)
    direct = {name: predict_split(raw, split.images, frame_crops) for name, split in (("val", val), ("test", test))}
    original = None
    if labels != "fer2013":
        # The original labels beside the ones the model answers to: the trade between the two label sets.
        original = load_splits(Path(data), "fer2013", ("test",))["test"]
        original = original.subset(np.arange(len(original))[:limit])
        direct["original"] = predict_split(raw, original.images, frame_crops)
    one_crop = predict_split(raw, test.images)
    ece_rows = []
    for path_name, probs, truth in (
        (
            f"photo (fertui analyze on images; {engine.still_jitter_crops} jitters)",
            test_photo.probs,
            test.labels[test_photo.detected],
        ),
        (
            f"one video frame ({frame_crops} jitters, before smoothing)",
            test_frame.probs,
            test.labels[test_frame.detected],
        ),
        (f"direct (the 48x48 images, {frame_crops} jitters)", direct["test"], test.labels),
        ("direct (the 48x48 images, one crop)", one_crop, test.labels),
    ):
        calibrated = apply_temperature(probs, temperature)
        ece_rows.append(
            {
                "path": path_name,
                "n": len(truth),
                "before": round(expected_calibration_error(probs, truth), 4),
                "after": round(expected_calibration_error(calibrated, truth), 4),
                "accuracy": round(float((probs.argmax(axis=1) == truth).mean()) if len(truth) else 0.0, 4),
            }
        )
    test_truth = test.labels[test_photo.detected]
    test_calibrated = apply_temperature(test_photo.probs, temperature)
    kept = ~unclear_mask(test_calibrated, unclear["metric"], unclear["threshold"])
    correct = test_calibrated.argmax(axis=1) == test_truth
    calibration = {
        "ece": ece_rows,
        "unclear_on_test": {
            "faces": len(test_truth),
            "detection_rate": round(test_photo.detection_rate, 4),
            "unclear_fraction": round(float(1 - kept.mean()) if len(kept) else 0.0, 4),
            "accuracy_on_rest": round(float(correct[kept].mean()) if kept.any() else 0.0, 4),
            "accuracy": round(float(correct.mean()) if len(correct) else 0.0, 4),
        },
        "risk_coverage_val": risk_coverage(val_calibrated, val_truth),
    }

    card.temperature = {
        "value": round(temperature, 4),
        "fitted_on": "val through the photo path (pipeline.modelling.detection_path), negative log-likelihood",
        "labels": labels,
        "val_faces": len(val_truth),
        "val_nll": {
            "before": round(negative_log_likelihood(val_path.probs, val_truth), 4) if len(val_truth) else None,
            "after": round(negative_log_likelihood(val_calibrated, val_truth), 4) if len(val_truth) else None,
        },
    }
    card.unclear = {
        "metric": unclear["metric"],
        "threshold": unclear["threshold"],
        "coverage": coverage,
        "path": "photo",
        "labels": labels,
        "criterion": unclear["criterion"],
    }
    # The same loaded model, now with the card's new calibration: the reports show what the app will show. Every
    # probability above came through `raw`, class bias included: only the temperature is left to apply.
    shipped = raw
    shipped.temperature = temperature
    shipped.unclear_metric, shipped.unclear_threshold = unclear["metric"], unclear["threshold"]
    test_path_report = report_dict(test_calibrated, test.subset(test_photo.detected), shipped)
    test_path_report["path"] = f", photo path: {len(test_photo.detected)} of {len(test)} found"
    reports = {
        "test split, photo path (detected faces)": test_path_report,
        "test split": direct_report(apply_temperature(direct["test"], temperature), test, shipped, frame_crops),
        "val split": direct_report(apply_temperature(direct["val"], temperature), val, shipped, frame_crops),
    }
    if original is not None:
        reports["test split, original labels"] = direct_report(
            apply_temperature(direct["original"], temperature), original, shipped, frame_crops
        )
    for name, report in reports.items():
        if name.startswith("test split") and "photo" not in name:
            plot_confusion(report, models_dir / f"confusion-test-{report['labels']}.png")
    realworld_figures = realworld_report(shipped, models_dir) if realworld else None
    if realworld_figures is not None:
        calibration["realworld"] = realworld_figures
    card_path = models_dir / MODEL_CARD
    text = card_head(card_path.read_text(encoding="utf-8")) + render_card_tail(card, reports, calibration)
    write_private_atomic(card_path, text.encode("utf-8"))
    return {
        "temperature": card.temperature,
        "unclear": unclear,
        "calibration": calibration,
        "realworld": realworld_figures,
        "val": reports["val split"],
        "test": reports["test split"],
        "test_path": reports["test split, photo path (detected faces)"],
    }
