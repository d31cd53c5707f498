"""A finished training run -> the model folder the app loads (`fertui export`).

Steps: the model to ship, chosen on val -> TFLite; choose the `unclear` threshold on val; evaluate on val and
test; write emotion.tflite and MODEL_CARD.md with the training account, the metrics and the sha256. The test
split is only reported, never used to choose anything.

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

from pipeline.emotion import DEFAULT_DATA
from pipeline.emotion.classifier import UNCLEAR_METRICS, EmotionClassifier, unclear_mask
from pipeline.emotion.data import DataError, load_splits

QUANTIZATION_TOLERANCE = 0.005
"""Ship the dynamic-range quantized model unless it loses more than this much val accuracy against float32."""

UNCLEAR_FRACTION = 0.10
"""Share of the least confident val faces that the `unclear` label sets aside."""


def choose_unclear(probs: np.ndarray, labels: np.ndarray, fraction: float = UNCLEAR_FRACTION) -> dict:
    """The unclear rule for val: set aside the `fraction` least confident faces.

    Both confidence measures (top probability, margin over the second) are tried at that coverage; the one
    whose remaining faces are classified more accurately wins.
    """
    top2 = np.sort(probs, axis=1)[:, -2:]
    scores = {"top_probability": top2[:, 1], "margin": top2[:, 1] - top2[:, 0]}
    correct = np.argmax(probs, axis=1) == labels
    best = None
    for metric in UNCLEAR_METRICS:
        threshold = float(np.quantile(scores[metric], fraction))
        kept = ~unclear_mask(probs, metric, threshold)
        accuracy = float(correct[kept].mean()) if kept.any() else 0.0
        if best is None or accuracy > best["val_accuracy_on_rest"]:
            best = {"metric": metric, "threshold": round(threshold, 4), "val_accuracy_on_rest": accuracy}
    best["criterion"] = (
        f"the {fraction:.0%} least confident val faces are unclear; of top probability and margin, the measure "
        f"that leaves the more accurate rest ({best['metric']}, val accuracy on the rest "
        f"{best['val_accuracy_on_rest']:.4f} vs {correct.mean():.4f} on all)"
    )
    return best


def training_account(run_dir: Path) -> dict:
    """What the run folder says about its training: command, epochs, time, selected epoch, config."""
    config = json.loads((run_dir / "config.json").read_text())
    state = json.loads((run_dir / "state.json").read_text())
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
    if config.get("limit"):
        command += ["--limit", str(config["limit"])]
    return {
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
    data: Path | str = DEFAULT_DATA,
    flip_tta: bool = True,
    unclear_fraction: float = UNCLEAR_FRACTION,
    machine: str | None = None,
) -> dict:
    """Export the run's best weights on val into out_dir with its model card; returns the reports.

    The result holds {"unclear", "quantized", "val_accuracy_by_format", "exported", "val", "test"}.
    """
    import keras

    from pipeline.emotion.evaluate import predict_split, report_dict
    from pipeline.emotion.export import machine_description, to_tflite, write_model_files

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    best = run_dir / "best.keras"
    for needed in (best, run_dir / "config.json", run_dir / "state.json"):
        if not needed.is_file():
            raise DataError(f"{needed} not found: --run must be a training run folder (fertui train --out)")
    account = training_account(run_dir)
    candidates = {"best.keras": (best, account["best_epoch"])}
    last = run_dir / "checkpoint.keras"
    if account["complete"] and last.is_file() and account["best_epoch"] != account["epochs"]:
        candidates["checkpoint.keras"] = (last, account["epochs"])
    splits = load_splits(Path(data), "fer2013", ("val", "test"))
    val = splits["val"]

    def load(path: Path):
        try:
            return keras.models.load_model(path, safe_mode=True)
        except (ValueError, OSError) as exc:
            raise DataError(f"cannot load {path}: {str(exc).splitlines()[0]}") from None

    def val_predictions(model, quantized: bool) -> tuple[bytes, EmotionClassifier, np.ndarray]:
        tflite = to_tflite(model, flip_tta=flip_tta, quantize=quantized)
        parameters = int(model.count_params())
        write_model_files(tflite, scratch, parameters=parameters, flip_tta=flip_tta, quantized=quantized)
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
        parameters = int(model.count_params())
        as_float = val_predictions(model, False)
        tflite, classifier, val_probs = as_shipped[chosen]
        accuracy = {"float32": val_accuracy(as_float[2]), "dynamic_int8": val_accuracy(val_probs)}
        quantized = accuracy["dynamic_int8"] >= accuracy["float32"] - QUANTIZATION_TOLERANCE
        if not quantized:
            tflite, classifier, val_probs = as_float
        unclear = choose_unclear(val_probs, splits["val"].labels, unclear_fraction)
        classifier.unclear_metric, classifier.unclear_threshold = unclear["metric"], unclear["threshold"]
        test_probs = predict_split(classifier, splits["test"].images)
        reports = {
            "test": report_dict(test_probs, splits["test"], classifier),
            "val": report_dict(val_probs, splits["val"], classifier),
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
    card_unclear = {k: unclear[k] for k in ("metric", "threshold", "criterion")}
    write_model_files(
        tflite,
        out_dir,
        parameters=parameters,
        unclear=card_unclear,
        flip_tta=flip_tta,
        quantized=quantized,
        metrics=reports,
        training=training,
    )
    return {
        "unclear": unclear,
        "quantized": quantized,
        "val_accuracy_by_format": accuracy,
        "exported": training["exported"],
        **reports,
    }
