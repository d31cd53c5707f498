"""Short training runs that differ from the shipped recipe in one regulariser each, compared on val; one JSON.

    uv run python -m benchmarks.regularisers [--epochs 8] [--variants baseline,mixup,...]
                                             [--teacher MODELS] [--out runs/regularisers] [--limit N]

Every variant is the shipped model's recipe (`fertui train --labels ferplus-votes --label-smoothing 0`, seed 1234,
its cosine schedule squeezed into the same few epochs) with one change:
  baseline    none
  mixup       pairs of images and their targets blended (--mixup 0.2)
  webcam      a webcam's blur, exposure and sensor noise added to the augmentation (--webcam-augment)
  equalize    every image histogram-equalised, in training and in evaluation alike
  unweighted  every class's loss weighed alike (--class-weight-power 0; the recipe: inverse frequency**0.5)
  wide        half as many channels again in every stage (--widths 48,96,192,384: about 2.2 times the multiply-adds)
  distill     half of each target from a teacher's probabilities (--teacher MODELS: an exported model folder,
              for example an ensemble; `fertui train --teacher MODELS --teacher-weight 0.5`)
Each trains into OUT/VARIANT; a folder that already holds its run is resumed, so an interrupted comparison
continues where it stopped. Then every run's best epoch on val is scored by both label sets
(benchmarks.label_targets), with its per-epoch val accuracy. A few epochs rank recipes, they do not predict the
full run's figure: judge differences against the spread of seeds (run the baseline with another --seed and
--out; at 8 epochs, seeds 1234 and 4321 were 0.2 points apart by the FER+ majority). Needs the
`train` extra; about 2.5 minutes per epoch per variant on a 2-core CPU. Do not time anything while it runs.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from benchmarks.label_targets import compare_runs
from pipeline.core.paths import default_data
from pipeline.modelling.train import TrainConfig, train

VARIANTS: dict[str, dict] = {
    "baseline": {},
    "mixup": {"mixup_alpha": 0.2},
    "webcam": {"webcam_augment": True},
    "equalize": {"equalize": True},
    "unweighted": {"class_weight_power": 0.0},
    "wide": {"widths": (48, 96, 192, 384)},
    "distill": {"teacher_weight": 0.5},  # and the teacher of --teacher
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, from: " + ", ".join(VARIANTS))
    parser.add_argument("--out", type=Path, default=Path("runs/regularisers"))
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images only (smoke runs)")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--teacher", type=Path, default=None, help="the model folder the distill variant learns from")
    args = parser.parse_args()
    names = args.variants.split(",")
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    if "distill" in names and args.teacher is None:
        parser.error("the distill variant needs --teacher MODELS")

    recipe = TrainConfig(
        data=str(args.data),
        labels="ferplus-votes",
        label_smoothing=0.0,
        epochs=args.epochs,
        seed=args.seed,
        limit=args.limit,
    )
    runs = []
    for name in names:
        run = args.out / name
        variant = replace(recipe, **VARIANTS[name])
        if name == "distill":
            variant = replace(variant, teacher=str(args.teacher))
        train(variant, run, resume=(run / "checkpoint.keras").exists())
        runs.append(run)
    results = compare_runs(runs, args.data, "val", "best")
    for name, run, result in zip(names, runs, results, strict=True):
        state = json.loads((run / "state.json").read_text())
        result["variant"] = name
        result["val_accuracy_per_epoch"] = [round(record["val_accuracy"], 4) for record in state["history"]]
        result["seconds"] = round(state["seconds"])
    print(json.dumps({"split": "val", "epochs": args.epochs, "seed": args.seed, "runs": results}, indent=2))


if __name__ == "__main__":
    main()
