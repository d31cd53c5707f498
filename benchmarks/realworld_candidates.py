"""Candidate emotion models on both measures: the real-world development set and FER-2013 `val`.

    uv run python -m benchmarks.realworld_candidates --models models --run runs/A [--run runs/B ...]
        [--neutral-bias 0,-0.5,-1,-1.5] [--checkpoint]

For every candidate (an exported model folder, or a training run whose best.keras is converted to the shipped
form, dynamic-range int8, on the fly) and every log-prior correction of `neutral` asked for, one JSON line:
- the development set (`pipeline.modelling.realworld`: JAFFE through the photo path, CK+48 through the crop path,
  25 alignments each): top-class accuracy per part, macro recall over both pooled, the lowest JAFFE recall, and
  recall by class;
- `val` (PublicTest, never `test`), each image averaged over one video frame's alignments: accuracy by the FER+
  majority and by the original labels.
The probabilities are uncalibrated: a temperature does not move the top class, and the unclear rule is chosen
after a candidate is chosen (`fertui calibrate`). Everything here is for choosing; nothing is trained on it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

import numpy as np

from pipeline.core.labels import EMOTIONS
from pipeline.core.paths import default_data
from pipeline.engine import STILL_JITTER_CROPS, EngineConfig, video_jitter_crops
from pipeline.modelling.data import load_split
from pipeline.modelling.evaluate import predict_split
from pipeline.modelling.realworld import default_realworld_dir, evaluate_realworld, part_report, pooled
from pipeline.runtime.emotion.calibration import apply_class_bias
from pipeline.runtime.emotion.classifier import EmotionClassifier


def _bias(neutral: float) -> np.ndarray:
    bias = np.zeros(len(EMOTIONS))
    bias[EMOTIONS.index("neutral")] = neutral
    return bias


def candidate_lines(
    name: str, classifier: EmotionClassifier, data: Path, biases: list[float], save: Path | None = None
) -> list[dict]:
    """One figure line per neutral bias for one loaded (uncalibrated) candidate; `save`: a folder to keep its
    probabilities in (NAME.npz), to compare ensembles and corrections without running the model again."""
    _, parts = evaluate_realworld(default_realworld_dir(), classifier, STILL_JITTER_CROPS)
    crops = video_jitter_crops(EngineConfig(), classifier)
    original = load_split(data, "val", "fer2013")
    majority = load_split(data, "val", "ferplus")
    val_probs = predict_split(classifier, original.images, crops)
    # The FER+ split drops images whose majority is not one of the seven: find them among the original's.
    ferplus_index = _ferplus_rows(data)
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        arrays = {f"{part.name}_{key}": getattr(part, key) for part in parts for key in ("raw", "labels", "found")}
        np.savez(save / f"{Path(name).name}.npz", val_raw=val_probs, **arrays)
    lines = []
    for neutral in biases:
        bias = _bias(neutral)
        shifted = [dataclasses.replace(part, probs=apply_class_bias(part.raw, bias)) for part in parts]
        reports = {part.name: part_report(part) for part in shifted}
        both = part_report(pooled(shifted))
        val = apply_class_bias(val_probs, bias).argmax(axis=1)
        lines.append(
            {
                "candidate": name,
                "neutral_bias": neutral,
                "jaffe": round(reports["jaffe"]["accuracy"], 4),
                "jaffe_min_recall": round(reports["jaffe"]["min_recall"], 3),
                "ckplus48": round(reports["ckplus48"]["accuracy"], 4),
                "macro_recall_both": round(both["macro_recall"], 4),
                "jaffe_found": reports["jaffe"]["coverage"],
                "val_ferplus": round(float((val[ferplus_index] == majority.labels).mean()), 4),
                "val_fer2013": round(float((val == original.labels).mean()), 4),
                "recall_both": {k: round(v, 3) for k, v in both["recall"].items()},
                "recall_jaffe": {k: round(v, 3) for k, v in reports["jaffe"]["recall"].items()},
                "video_crops": crops,
            }
        )
    return lines


def _ferplus_rows(data: Path) -> np.ndarray:
    """Indices into val (original order) of the images the FER+ majority keeps, in order."""
    from pipeline.modelling.data import ferplus_majority, ferplus_votes

    n = len(load_split(data, "val", "fer2013"))
    return np.flatnonzero(ferplus_majority(ferplus_votes(data.with_name("ferplus_labels.csv"), "val", n)) >= 0)


def run_classifier(run_dir: Path, scratch: Path, checkpoint: bool) -> EmotionClassifier:
    """A training run's best.keras (or its last checkpoint) in the shipped form, as an uncalibrated classifier."""
    import keras

    from pipeline.modelling.conversion import write_model_dir

    model = keras.models.load_model(run_dir / ("checkpoint.keras" if checkpoint else "best.keras"), safe_mode=True)
    write_model_dir(model, scratch)
    return EmotionClassifier.load(scratch, calibrated=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, action="append", default=[], help="an exported model folder")
    parser.add_argument("--run", type=Path, action="append", default=[], help="a training run folder")
    parser.add_argument("--checkpoint", action="store_true", help="runs: the last epoch instead of best.keras")
    parser.add_argument("--neutral-bias", default="0", help="comma-separated log-prior shifts of neutral")
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--save", type=Path, default=None, help="keep each candidate's probabilities here")
    args = parser.parse_args()
    biases = [float(b) for b in args.neutral_bias.split(",")]
    for folder in args.models:
        for line in candidate_lines(
            str(folder), EmotionClassifier.load(folder, calibrated=False), args.data, biases, args.save
        ):
            print(json.dumps(line), flush=True)
    for run_dir in args.run:
        with tempfile.TemporaryDirectory() as scratch:
            classifier = run_classifier(run_dir, Path(scratch), args.checkpoint)
            for line in candidate_lines(str(run_dir), classifier, args.data, biases, args.save):
                print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
