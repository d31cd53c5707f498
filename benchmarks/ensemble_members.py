"""Each member of an emotion ensemble alone and their average, on val and test, by both label sets; one JSON.

    uv run python -m benchmarks.ensemble_members [--models models] [--splits val,test] [--limit N]

For the model folder's card (after `fertui export --run RUN --out DIR --add-member`, say): every member file
alone, then all members averaged as the app averages them. Each image is one crop (the direct path of
`fertui eval`, flip test-time augmentation in the graph), uncalibrated (a temperature does not move the argmax).
Labels: `ferplus` (FER+ majority, 7 classes) and `fer2013` (the original ones). Whether a member stays is chosen
on `val` by the FER+ labels; `test` is reported, not chosen on.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from pipeline.core.labels import EMOTIONS
from pipeline.core.paths import default_data
from pipeline.modelling.data import load_splits
from pipeline.modelling.evaluate import confusion_matrix, metrics_from_confusion, neutral_read_as, predict_split
from pipeline.runtime.emotion.classifier import EmotionClassifier, read_model_card

LABEL_SETS = ("ferplus", "fer2013")


def scores(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """The issue's headline figures for one label set."""
    confusion = confusion_matrix(labels, probs.argmax(axis=1))
    metrics = metrics_from_confusion(confusion)
    return {
        "accuracy": round(metrics["accuracy"], 4),
        "macro_f1": round(metrics["macro_f1"], 4),
        "neutral_recall": round(metrics["per_class"]["neutral"]["recall"], 4),
        "neutral_as_sad": round(neutral_read_as(confusion, "sad"), 4),
        "f1": {name: round(metrics["per_class"][name]["f1"], 3) for name in EMOTIONS},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--splits", default="val,test", help="comma-separated: val, test")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images of each split")
    args = parser.parse_args()
    splits = tuple(args.splits.split(","))

    card = read_model_card(args.models)
    members = {
        name: EmotionClassifier([(args.models / name, str(card.files[name]["sha256"]))]) for name in card.member_files
    }
    result: dict[str, object] = {"models": str(args.models), "members": list(members)}
    for labels_name in LABEL_SETS:
        for split in load_splits(args.data, labels_name, splits).values():
            images, labels = split.images[: args.limit], split.labels[: args.limit]
            per_member = {name: predict_split(classifier, images) for name, classifier in members.items()}
            row = {name: scores(probs, labels) for name, probs in per_member.items()}
            if len(per_member) > 1:
                row["averaged"] = scores(np.stack(list(per_member.values())).mean(axis=0), labels)
            result[f"{split.name}/{labels_name} ({len(labels)} images)"] = row
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
