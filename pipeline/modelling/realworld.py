"""The real-world development set: posed, observer-checked photos that no fertui model trains on.

Two parts, each scored through the path the app would run on it (see `shared/data/realworld-dev/README.md`):
- JAFFE, 213 photos of 10 Japanese women (256x256 grey, all seven classes): each photo through the photo path
  of `fertui analyze` on a folder (full detection, `face_crop`, the photo's alignment jitters, the card's
  temperature), its most confident face scored; a photo whose face is not found counts against coverage, not
  as a wrong label.
- CK+48, 927 48x48 crops of Western adults (six classes, no neutral), already framed like FER-2013: the crop
  path, each crop averaged over the same number of alignment jitters as a photo's face.

The figures are top-class accuracy, recall per class, macro recall, the confusion matrix, coverage (faces found)
and the share labelled `unclear`; "shown right" counts an `unclear` label as wrong. Macro recall "over both" is
taken over the two sets pooled: each class's recall over all its faces, averaged over the seven classes.

This set is for measuring and choosing only: nothing here may feed training.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pipeline.core.frames import Frame, FrameResult
from pipeline.core.labels import EMOTIONS
from pipeline.core.paths import checkout_root
from pipeline.modelling.data import DataError
from pipeline.modelling.evaluate import confusion_matrix, metrics_from_confusion, predict_split
from pipeline.runtime.emotion.classifier import EmotionClassifier

REALWORLD_ENV = "FERTUI_REALWORLD"
"""Environment variable naming the development set's folder (holding jaffe/ and ckplus48.npz)."""

PARTS = ("jaffe", "ckplus48")


def default_realworld_dir() -> Path:
    """The development set: from $FERTUI_REALWORLD; inside a checkout, ../shared/data/realworld-dev/."""
    configured = os.environ.get(REALWORLD_ENV)
    if configured:
        return Path(configured).expanduser()
    return checkout_root().parent / "shared" / "data" / "realworld-dev"


@dataclass(frozen=True)
class PartResult:
    """One part of the set through its path: which faces were found and what the app made of them."""

    name: str
    labels: np.ndarray  # (N,) true class of every image, EMOTIONS order
    found: np.ndarray  # (N,) bool: the path found a face
    probs: np.ndarray  # (N, 7) calibrated probabilities (rows of faces not found are zero)
    unclear: np.ndarray  # (N,) bool: the label shown is `unclear`
    raw: np.ndarray  # (N, 7) the same before the card's temperature (and class bias), to choose them on

    def subset(self, keep: np.ndarray) -> PartResult:
        """The images where `keep` is true."""
        return PartResult(
            self.name, self.labels[keep], self.found[keep], self.probs[keep], self.unclear[keep], self.raw[keep]
        )


def load_jaffe(root: Path) -> tuple[list[Path], np.ndarray]:
    """JAFFE's photo paths and labels from root/jaffe/labels.csv."""
    folder = root / "jaffe"
    table = folder / "labels.csv"
    if not table.is_file():
        raise DataError(f"the development set has no {table} (see shared/data/realworld-dev/README.md)")
    paths, labels = [], []
    with table.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["emotion"] not in EMOTIONS:
                raise DataError(f"{table}: unknown emotion {row['emotion']!r}")
            paths.append(folder / row["file"])
            labels.append(EMOTIONS.index(row["emotion"]))
    return paths, np.array(labels, dtype=np.int64)


def load_ckplus(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """CK+48's crops (N, 48, 48) uint8 and labels; the npz keeps them as its test split."""
    path = root / "ckplus48.npz"
    if not path.is_file():
        raise DataError(f"the development set has no {path} (see shared/data/realworld-dev/README.md)")
    with np.load(path, allow_pickle=False) as npz:
        return npz["test_x"], npz["test_y"].astype(np.int64)


def _part(
    name: str, labels: np.ndarray, found: np.ndarray, raw: np.ndarray, classifier: EmotionClassifier
) -> PartResult:
    """A part's result from its uncalibrated averages: calibrated and labelled as the app would show them."""
    probs = classifier.calibrate(raw) if len(raw) else raw
    probs = np.where(found[:, None], probs, 0.0).astype(np.float32)
    unclear = found & classifier.unclear(probs)
    return PartResult(name, labels, found, probs, unclear, raw)


def run_jaffe(root: Path, classifier: EmotionClassifier, jitter_crops: int) -> PartResult:
    """Every JAFFE photo through the photo path (detection on the whole photo, as `fertui analyze` reads it)."""
    from pipeline.engine import EngineConfig, build_processors

    paths, labels = load_jaffe(root)
    uncalibrated = classifier.uncalibrated()
    config = EngineConfig(stills=True, landmarks=False, still_jitter_crops=jitter_crops)
    processors = build_processors(config, classifier=uncalibrated)
    raw = np.zeros((len(paths), len(EMOTIONS)), dtype=np.float32)
    found = np.zeros(len(paths), dtype=bool)
    try:
        for index, path in enumerate(paths):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise DataError(f"cannot read {path} as an image")
            result = FrameResult(Frame(index, float(index), 0.0, image, path.name))
            for processor in processors:
                result = processor.process(result)
            faces = [face for face in result.faces if face.probs is not None]
            if faces:
                best = max(faces, key=lambda face: face.score)
                raw[index], found[index] = best.probs, True
    finally:
        for processor in processors:
            processor.close()
    return _part("jaffe", labels, found, raw, classifier)


def run_ckplus(root: Path, classifier: EmotionClassifier, jitter_crops: int) -> PartResult:
    """Every CK+48 crop through the crop path, averaged over the `jitter_crops` alignments a photo's face gets."""
    images, labels = load_ckplus(root)
    raw = predict_split(classifier.uncalibrated(), images, jitter_crops, stills=True)
    return _part("ckplus48", labels, np.ones(len(labels), dtype=bool), raw, classifier)


def part_report(part: PartResult) -> dict:
    """The figures of one part (or of parts pooled): accuracy and recall over the faces found."""
    found = part.subset(part.found)
    predicted = np.argmax(found.probs, axis=1)
    confusion = confusion_matrix(found.labels, predicted)
    metrics = metrics_from_confusion(confusion)
    present = [e for e in EMOTIONS if metrics["per_class"][e]["support"] > 0]
    recall = {e: metrics["per_class"][e]["recall"] for e in present}
    right = predicted == found.labels
    return {
        "name": part.name,
        "n": len(part.labels),
        "found": int(part.found.sum()),
        "coverage": float(part.found.mean()) if len(part.labels) else 0.0,
        "accuracy": metrics["accuracy"],
        "shown_right": float((right & ~found.unclear).mean()) if len(found.labels) else 0.0,
        "unclear_fraction": float(found.unclear.mean()) if len(found.labels) else 0.0,
        "labelled_fraction": float(1.0 - found.unclear.mean()) if len(found.labels) else 0.0,
        "macro_recall": float(np.mean(list(recall.values()))) if recall else 0.0,
        "min_recall": float(min(recall.values())) if recall else 0.0,
        "recall": recall,
        "confusion": confusion.tolist(),
    }


def pooled(parts: list[PartResult]) -> PartResult:
    """The parts as one set (for macro recall over both)."""
    return PartResult(
        "+".join(p.name for p in parts),
        np.concatenate([p.labels for p in parts]),
        np.concatenate([p.found for p in parts]),
        np.concatenate([p.probs for p in parts]),
        np.concatenate([p.unclear for p in parts]),
        np.concatenate([p.raw for p in parts]),
    )


def evaluate_realworld(
    root: Path, classifier: EmotionClassifier, jitter_crops: int, parts: tuple[str, ...] = PARTS
) -> tuple[dict, list[PartResult]]:
    """The development set's report (one entry per part and `pooled`) and the per-image results."""
    runners = {"jaffe": run_jaffe, "ckplus48": run_ckplus}
    results = [runners[name](root, classifier, jitter_crops) for name in parts]
    report = {
        "set": "realworld-dev",
        "jitter_crops": jitter_crops,
        "model": {key: value for key, value in classifier.describe().items() if key in ("file", "sha256", "members")},
        "parts": {part.name: part_report(part) for part in results},
    }
    if len(results) > 1:
        report["pooled"] = part_report(pooled(results))
    return report, results


def realworld_tables(report: dict) -> list:
    """The report as rich Tables: one line per part (and pooled) with its figures, then recall by class."""
    from rich.table import Table

    rows = {**report["parts"], **({"pooled": report["pooled"]} if "pooled" in report else {})}
    summary = Table(
        title=f"real-world development set ({report['jitter_crops']} alignments per face)",
        caption=f"model {report['model']['file']} sha256 {report['model']['sha256'][:12]}; "
        "shown right: the label the app shows is the true one (unclear counts as wrong)",
    )
    for column in ("part", "faces", "found", "top class right", "shown right", "unclear", "macro recall"):
        summary.add_column(column, justify="left" if column == "part" else "right")
    for name, part in rows.items():
        summary.add_row(
            name,
            str(part["n"]),
            f"{part['coverage']:.1%}",
            f"{part['accuracy']:.3f}",
            f"{part['shown_right']:.3f}",
            f"{part['unclear_fraction']:.1%}",
            f"{part['macro_recall']:.3f}",
        )
    recall = Table(title="recall by class (top class)")
    recall.add_column("part")
    for emotion in EMOTIONS:
        recall.add_column(emotion, justify="right")
    for name, part in rows.items():
        recall.add_row(name, *(f"{part['recall'][e]:.2f}" if e in part["recall"] else "" for e in EMOTIONS))
    return [summary, recall]
