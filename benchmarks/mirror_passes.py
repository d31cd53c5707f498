"""Accuracy per pass through the network: where the mirror image is worth its cost. FER-2013, one JSON.

    uv run python -m benchmarks.mirror_passes [--split val] [--models models] [--passes 8] [--labels ...]

A face's probabilities are an average over several crops, and each crop is one pass through the network. Three
ways to spend P passes on the 48x48 images of a split (cut again under each alignment, as `fertui eval` does):
- cycle: the app's schedule, the first P of pipeline.runtime.emotion.crop.jitter_schedule (every other crop mirrored);
- pair: P/2 alignments, each crop averaged with its mirror image (what a file with the mirror inside its graph,
  `fertui export --flip-tta`, does with P/2 crops);
- plain: P alignments, none mirrored.
For each it reports the accuracy and the negative log-likelihood after fitting a temperature for that schedule
(averaging flattens the distribution, which a temperature undoes). Meant for `val`, where the choice is made.
Needs a model without the mirror in its file (the card's flip_tta false): with it, a mirrored crop adds nothing.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from pipeline.core.paths import default_data
from pipeline.modelling.data import load_split
from pipeline.modelling.evaluate import predict_split
from pipeline.runtime.emotion.calibration import apply_temperature, fit_temperature, negative_log_likelihood
from pipeline.runtime.emotion.classifier import EmotionClassifier, read_model_card
from pipeline.runtime.emotion.crop import Jitter, jitter_schedule, reframe_crop


def schedules(passes: int) -> dict[str, list[Jitter]]:
    """The crops of each way to spend `passes` passes (pair only for an even count)."""
    framings = [jitter._replace(mirror=False) for jitter in jitter_schedule(0, passes)]
    ways = {"cycle": jitter_schedule(0, passes), "plain": framings}
    if passes % 2 == 0:
        halves = [jitter._replace(mirror=False) for jitter in jitter_schedule(0, passes // 2)]
        ways["pair"] = [framing._replace(mirror=mirror) for framing in halves for mirror in (False, True)]
    return ways


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="val", choices=("val", "test"))
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--passes", type=int, default=8, help="compare 1 to this many passes per face")
    parser.add_argument("--labels", choices=("fer2013", "ferplus"), default=None, help="default: the card's")
    args = parser.parse_args()
    card = read_model_card(args.models)
    if card.flip_tta:
        raise SystemExit(f"{args.models}: the mirror image is inside the model file; export one without it")
    labels_name = args.labels or card.calibration_labels
    split = load_split(args.data, args.split, labels_name)
    classifier = EmotionClassifier.load(args.models, calibrated=False)

    started = time.perf_counter()
    ways = {(way, passes): crops for passes in range(1, args.passes + 1) for way, crops in schedules(passes).items()}
    needed = sorted({jitter for crops in ways.values() for jitter in crops})
    # One pass of every image under each crop that some schedule uses.
    probs = {
        jitter: predict_split(classifier, np.stack([reframe_crop(image, jitter) for image in split.images]))
        for jitter in needed
    }

    results: dict[str, dict[str, dict[str, float]]] = {}
    for (way, passes), crops in ways.items():
        averaged = np.mean([probs[jitter] for jitter in crops], axis=0)
        temperature = fit_temperature(averaged, split.labels)
        results.setdefault(str(passes), {})[way] = {
            "accuracy": round(float((averaged.argmax(axis=1) == split.labels).mean()), 4),
            "nll_calibrated": round(negative_log_likelihood(apply_temperature(averaged, temperature), split.labels), 4),
        }
    print(
        json.dumps(
            {
                "split": args.split,
                "labels": labels_name,
                "images": len(split.labels),
                "model": classifier.files,
                "seconds": round(time.perf_counter() - started, 1),
                "passes": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
