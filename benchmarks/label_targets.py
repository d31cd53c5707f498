"""Training runs compared on val by both label sets (original FER-2013 and the FER+ majority); one JSON object.

    uv run python -m benchmarks.label_targets RUN [RUN ...] [--weights best|last] [--split val]

For each run folder (`fertui train --out`), its weights (best.keras, or checkpoint.keras for the last epoch) are
loaded with Keras and classify the split's images with their mirror images averaged in, as the shipped file does.
Reported per run: its training labels and epochs, accuracy and macro F1 on the original labels and on the FER+
majority, FER+ neutral recall and the share of FER+ neutral faces read as sad. Meant for `val`, where the
training targets are chosen (needs the `train` extra: TensorFlow).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from pipeline.core.labels import EMOTIONS
from pipeline.core.paths import default_data
from pipeline.modelling.data import load_split
from pipeline.modelling.evaluate import confusion_matrix, metrics_from_confusion, neutral_read_as


def _predict(model, images: np.ndarray, equalize: bool = False) -> np.ndarray:
    from pipeline.modelling.train import to_inputs

    x = to_inputs(images, equalize)  # as the run was trained: equalised or not
    both = np.concatenate([x, x[:, :, ::-1]])
    probs = model.predict(both, batch_size=512, verbose=0)
    return (probs[: len(x)] + probs[len(x) :]) / 2


def _figures(predicted: np.ndarray, labels: np.ndarray) -> dict:
    confusion = confusion_matrix(labels, predicted)
    metrics = metrics_from_confusion(confusion)
    return {
        "n": metrics["n"],
        "accuracy": round(metrics["accuracy"], 4),
        "macro_f1": round(metrics["macro_f1"], 4),
        "neutral_recall": round(metrics["per_class"]["neutral"]["recall"], 4),
        "neutral_as_sad": round(neutral_read_as(confusion, "sad"), 4),
    }


def compare_runs(runs: list[Path], data: Path, split: str = "val", weights: str = "best") -> list[dict]:
    """Each run's figures on `split` by both label sets (weights: best.keras or, for "last", checkpoint.keras)."""
    import keras

    original = load_split(data, split, "fer2013")
    ferplus = load_split(data, split, "ferplus")
    # The FER+ split keeps the images whose majority is an emotion; find them in the original order.
    keys = {image.tobytes(): i for i, image in enumerate(original.images)}
    ferplus_index = np.array([keys[image.tobytes()] for image in ferplus.images])
    results = []
    for run in runs:
        state = json.loads((run / "state.json").read_text())
        config = json.loads((run / "config.json").read_text())
        weights_file = run / ("best.keras" if weights == "best" else "checkpoint.keras")
        model = keras.models.load_model(weights_file, safe_mode=True)
        predicted = _predict(model, original.images, config.get("equalize", False)).argmax(axis=1)
        results.append(
            {
                "run": str(run),
                "labels": config["labels"],
                "original_weight": config.get("original_weight", 0.0),
                "label_smoothing": config.get("label_smoothing"),
                "mixup_alpha": config.get("mixup_alpha", 0.0),
                "webcam_augment": config.get("webcam_augment", False),
                "equalize": config.get("equalize", False),
                "teacher": config.get("teacher"),
                "epochs": state["epoch"],
                "weights": weights_file.name,
                "best_epoch": state["best_epoch"],
                "fer2013_labels": _figures(predicted, original.labels),
                "ferplus_majority": _figures(predicted[ferplus_index], ferplus.labels),
            }
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--weights", choices=("best", "last"), default="best")
    parser.add_argument("--split", choices=("val", "test"), default="val")
    parser.add_argument("--data", type=Path, default=default_data())
    args = parser.parse_args()
    results = compare_runs(args.runs, args.data, args.split, args.weights)
    print(json.dumps({"split": args.split, "classes": list(EMOTIONS), "runs": results}, indent=2))


if __name__ == "__main__":
    main()
