"""Candidate emotion models on both measures: the real-world development set and FER-2013 `val`.

    uv run python -m benchmarks.realworld_candidates --models models --run runs/A [--run runs/B ...]
        [--neutral-bias 0,-0.5,-1] [--prior-correction 0.3,0.5] [--checkpoint] [--save DIR]
    uv run python -m benchmarks.realworld_candidates --saved DIR --mix models --mix models:0.8,A:0.2
        [--neutral-bias ...] [--prior-correction ...]

For every candidate (an exported model folder, or a training run whose best.keras is converted to the shipped
form, dynamic-range int8, on the fly) and every correction asked for, one JSON line:
- the development set (`pipeline.modelling.realworld`: JAFFE through the photo path, CK+48 through the crop path,
  25 alignments each): top-class accuracy per part, macro recall over both pooled, the lowest JAFFE recall, and
  recall by class;
- `val` (PublicTest, never `test`), each image averaged over one video frame's alignments: accuracy by the FER+
  majority and by the original labels.
A correction is a shift of the log prior: of `neutral` alone (`--neutral-bias`), or of every class by S x -log(its
share of `train` by the FER+ majority) (`--prior-correction S`, what `fertui calibrate --prior-correction S` writes
into a card for a model trained on the FER+ votes).
`--save DIR` keeps each candidate's probabilities (NAME.npz); `--saved DIR --mix NAME[:W],...` scores a candidate
from them without running a model: one saved candidate, or several, their log probabilities weighted and summed
(an ensemble as the app would average it, each at a video frame's alignments).
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
from pipeline.modelling.realworld import (
    PartResult,
    default_realworld_dir,
    evaluate_realworld,
    part_report,
    pooled,
)
from pipeline.runtime.emotion.calibration import apply_class_bias, prior_correction
from pipeline.runtime.emotion.classifier import EmotionClassifier

PART_NAMES = ("jaffe", "ckplus48")


@dataclasses.dataclass(frozen=True)
class Correction:
    """One shift of the log prior to score a candidate under, and how a line names it."""

    neutral_bias: float
    prior_correction: float
    bias: np.ndarray


@dataclasses.dataclass(frozen=True)
class Val:
    """FER-2013 `val` as every candidate is scored on it: read once per run."""

    images: np.ndarray  # (N, 48, 48) in the original order
    original: np.ndarray  # (N,) the original labels
    majority: np.ndarray  # (M,) the FER+ majority of the images that have one
    majority_rows: np.ndarray  # (M,) where those images are among the N

    @classmethod
    def load(cls, data: Path) -> Val:
        original = load_split(data, "val", "fer2013")
        majority = load_split(data, "val", "ferplus")
        return cls(original.images, original.labels, majority.labels, _ferplus_rows(data))


def corrections(neutral_biases: list[float], strengths: list[float], data: Path) -> list[Correction]:
    """The neutral-only shifts, then the whole-prior corrections (by the FER+ majority's shares of `train`)."""
    out = []
    for neutral in neutral_biases:
        bias = np.zeros(len(EMOTIONS))
        bias[EMOTIONS.index("neutral")] = neutral
        out.append(Correction(neutral, 0.0, bias))
    if strengths:
        train_labels = load_split(data, "train", "ferplus").labels
        out += [Correction(0.0, s, prior_correction(train_labels, s)) for s in strengths]
    return out


def candidate_probs(
    name: str, classifier: EmotionClassifier, val: Val, save: Path | None = None
) -> tuple[list[PartResult], np.ndarray]:
    """One loaded (uncalibrated) candidate's development-set parts and `val` probabilities; `save`: a folder to
    keep them in (NAME.npz), to compare ensembles and corrections without running the model again."""
    _, parts = evaluate_realworld(default_realworld_dir(), classifier, STILL_JITTER_CROPS)
    crops = video_jitter_crops(EngineConfig(), classifier)
    val_probs = predict_split(classifier, val.images, crops)
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        arrays = {f"{part.name}_{key}": getattr(part, key) for part in parts for key in ("raw", "labels", "found")}
        np.savez(save / f"{Path(name).name}.npz", val_raw=val_probs, **arrays)
    return parts, val_probs


def saved_probs(folder: Path, mix: str) -> tuple[list[PartResult], np.ndarray]:
    """A candidate from saved probabilities: `mix` is NAME or NAME:W,NAME:W,... (log probabilities weighted and
    summed: the members' geometric mean; its top class is the app's arithmetic average's for 99.6-100% of the
    faces, checked on the shipped network with E at weights 0.2 and 0.5 over `val`, JAFFE and CK+48)."""
    members = []
    for item in mix.split(","):
        name, _, weight = item.partition(":")
        members.append((dict(np.load(folder / f"{name}.npz")), float(weight or 1.0)))

    def combined(key: str) -> np.ndarray:
        logp = sum(w * np.log(np.clip(arrays[key], 1e-8, 1.0)) for arrays, w in members)
        probs = np.exp(logp - logp.max(axis=1, keepdims=True))
        return probs / probs.sum(axis=1, keepdims=True)

    first = members[0][0]
    parts = []
    for part in PART_NAMES:
        labels, found, raw = first[f"{part}_labels"], first[f"{part}_found"], combined(f"{part}_raw")
        parts.append(PartResult(part, labels, found, raw, np.zeros(len(labels), dtype=bool), raw))
    return parts, combined("val_raw")


def score_lines(
    name: str, parts: list[PartResult], val_probs: np.ndarray, shifts: list[Correction], val: Val
) -> list[dict]:
    """One figure line per correction for one candidate's probabilities."""
    lines = []
    for shift in shifts:
        shifted = [dataclasses.replace(part, probs=apply_class_bias(part.raw, shift.bias)) for part in parts]
        reports = {part.name: part_report(part) for part in shifted}
        both = part_report(pooled(shifted))
        predicted = apply_class_bias(val_probs, shift.bias).argmax(axis=1)
        lines.append(
            {
                "candidate": name,
                "neutral_bias": shift.neutral_bias,
                "prior_correction": shift.prior_correction,
                "jaffe": round(reports["jaffe"]["accuracy"], 4),
                "jaffe_min_recall": round(reports["jaffe"]["min_recall"], 3),
                "ckplus48": round(reports["ckplus48"]["accuracy"], 4),
                "macro_recall_both": round(both["macro_recall"], 4),
                "jaffe_found": reports["jaffe"]["coverage"],
                "val_ferplus": round(float((predicted[val.majority_rows] == val.majority).mean()), 4),
                "val_fer2013": round(float((predicted == val.original).mean()), 4),
                "recall_both": {k: round(v, 3) for k, v in both["recall"].items()},
                "recall_jaffe": {k: round(v, 3) for k, v in reports["jaffe"]["recall"].items()},
                "recall_ckplus48": {k: round(v, 3) for k, v in reports["ckplus48"]["recall"].items()},
            }
        )
    return lines


def _ferplus_rows(data: Path) -> np.ndarray:
    """Indices into val (original order) of the images the FER+ majority keeps, in order (the FER+ split drops
    images whose majority is not one of the seven)."""
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
    parser.add_argument(
        "--prior-correction", default="", help="comma-separated strengths S of the whole-prior correction"
    )
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--save", type=Path, default=None, help="keep each candidate's probabilities here")
    parser.add_argument("--saved", type=Path, default=None, help="a --save folder to score --mix candidates from")
    parser.add_argument("--mix", action="append", default=[], help="with --saved: NAME or NAME:W,NAME:W,...")
    args = parser.parse_args()
    if args.mix and args.saved is None:
        parser.error("--mix needs --saved DIR")
    shifts = corrections(
        [float(b) for b in args.neutral_bias.split(",") if b],
        [float(s) for s in args.prior_correction.split(",") if s],
        args.data,
    )

    val = Val.load(args.data)

    def report(name: str, probs: tuple[list[PartResult], np.ndarray]) -> None:
        for line in score_lines(name, *probs, shifts, val):
            print(json.dumps(line), flush=True)

    for folder in args.models:
        report(
            str(folder),
            candidate_probs(str(folder), EmotionClassifier.load(folder, calibrated=False), val, args.save),
        )
    for run_dir in args.run:
        with tempfile.TemporaryDirectory() as scratch:
            classifier = run_classifier(run_dir, Path(scratch), args.checkpoint)
            report(str(run_dir), candidate_probs(str(run_dir), classifier, val, args.save))
    for mix in args.mix:
        report(mix, saved_probs(args.saved, mix))


if __name__ == "__main__":
    main()
