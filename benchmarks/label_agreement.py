"""The FER+ annotators' majority scored against the original FER-2013 labels; one JSON object.

    uv run python -m benchmarks.label_agreement [--data PATH] [--splits val,test]

A model trained to answer as the ten FER+ annotators do can at best answer with their majority. Taken as a
prediction of the original label, that majority is the ceiling such a model meets on the original labels: its
accuracy and per-class F1 (next to the paper's Table 3) say which original-label figures a consensus model cannot
reach. Images with no majority among the seven emotions (contempt, unknown, not a face, ties) are left out, as
`--labels ferplus` leaves them out.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipeline.core.paths import default_data
from pipeline.modelling.conversion import PAPER_F1
from pipeline.modelling.data import ferplus_majority, ferplus_votes, load_split
from pipeline.modelling.evaluate import confusion_matrix, metrics_from_confusion


def majority_against_original(data: Path, split: str) -> dict:
    """Accuracy, macro F1 and per-class F1 of the FER+ majority as a prediction of the original label."""
    original = load_split(data, split, "fer2013")
    majority = ferplus_majority(ferplus_votes(data.with_name("ferplus_labels.csv"), split, len(original)))
    has_majority = majority >= 0
    metrics = metrics_from_confusion(confusion_matrix(original.labels[has_majority], majority[has_majority]))
    return {
        "images": len(original),
        "with_a_majority": int(has_majority.sum()),
        "accuracy": round(metrics["accuracy"], 4),
        "macro_f1": round(metrics["macro_f1"], 4),
        "f1": {emotion: round(c["f1"], 3) for emotion, c in metrics["per_class"].items()},
        "below_the_papers_f1": [emotion for emotion, c in metrics["per_class"].items() if c["f1"] <= PAPER_F1[emotion]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data(), help="fer2013.npz, ferplus_labels.csv beside it")
    parser.add_argument("--splits", default="val,test", help="comma-separated splits (default: %(default)s)")
    args = parser.parse_args()
    result = {split: majority_against_original(args.data, split) for split in args.splits.split(",")}
    print(json.dumps({"paper_f1": PAPER_F1, **result}, indent=2))


if __name__ == "__main__":
    main()
