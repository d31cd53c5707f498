"""Loading FER-2013 (packed as fer2013.npz) with its original labels, the FER+ majority vote, or the FER+ vote
distribution as soft training targets.

The npz layout and the FER+ csv are described in the dataset's README (shared/data/fer2013/README.md).
Every problem with the files raises DataError with a one-line message meant for the user.
"""

from __future__ import annotations

import csv
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.core.errors import FertuiError
from pipeline.core.labels import EMOTIONS

SPLITS = ("train", "val", "test")
LABEL_SETS = ("fer2013", "ferplus", "ferplus-votes")
"""fer2013: the original labels. ferplus: the FER+ majority vote (images whose majority is not one of the seven
are left out). ferplus-votes: for training, the FER+ votes for the seven emotions as a distribution (contempt,
unknown and not-a-face votes dropped, the rest renormalised; images with no such vote left out), with the
majority vote as the label."""

SCORED_BY = {"ferplus-votes": "ferplus"}
"""Training label set -> the label set a model trained on it is selected, calibrated and scored by (itself where
not listed): a model trained on the FER+ vote distribution answers to the FER+ majority."""


def scored_labels(training_labels: str) -> str:
    return SCORED_BY.get(training_labels, training_labels)


# FER+ vote columns in the csv, and where each lands in EMOTIONS (None: not one of the seven).
_FERPLUS_COLUMNS = {
    "anger": 0,
    "disgust": 1,
    "fear": 2,
    "happiness": 3,
    "sadness": 4,
    "surprise": 5,
    "neutral": 6,
    "contempt": None,
    "unknown": None,
    "NF": None,
}

GET_DATA_HINT = (
    "FER-2013 is the Kaggle 'Challenges in Representation Learning: Facial Expression Recognition' dataset; "
    "pack it as described in shared/data/fer2013/README.md and pass --data PATH or set FERTUI_DATA to its folder"
)


class DataError(FertuiError):
    """A data file is missing, unreadable or not shaped like FER-2013."""


@dataclass(frozen=True)
class Split:
    """One split: 48x48 uint8 images and integer labels in EMOTIONS order."""

    name: str
    images: np.ndarray  # (N, 48, 48) uint8
    labels: np.ndarray  # (N,) int64, 0..6
    labels_name: str  # one of LABEL_SETS
    targets: np.ndarray | None = None  # (N, 7) float32 training targets (ferplus-votes), None: one-hot labels

    def subset(self, indices: np.ndarray) -> Split:
        """The images at `indices`, with their labels and targets."""
        targets = None if self.targets is None else self.targets[indices]
        return Split(self.name, self.images[indices], self.labels[indices], self.labels_name, targets)

    def training_targets(self) -> np.ndarray:
        """(N, 7) float32 targets to train on: the soft targets where the split has them, else one-hot labels."""
        if self.targets is not None:
            return self.targets
        return np.eye(len(EMOTIONS), dtype=np.float32)[self.labels]

    def __len__(self) -> int:
        return len(self.labels)


def _read_npz(path: Path, splits: tuple[str, ...]) -> dict[str, np.ndarray]:
    if not path.exists():
        raise DataError(f"data file not found: {path} ({GET_DATA_HINT})")
    wanted = {f"{split}_{part}" for split in splits for part in ("x", "y")}
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files if key in wanted}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"cannot read {path} as a FER-2013 npz: {exc}") from None


def _check_split(arrays: dict[str, np.ndarray], split: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    x_key, y_key = f"{split}_x", f"{split}_y"
    if x_key not in arrays or y_key not in arrays:
        raise DataError(f"{path} has no '{x_key}'/'{y_key}' arrays: not a FER-2013 npz")
    x, y = arrays[x_key], arrays[y_key]
    if x.ndim != 3 or x.shape[1:] != (48, 48) or x.dtype != np.uint8:
        raise DataError(f"{path}: '{x_key}' has shape {x.shape} {x.dtype}, expected (N, 48, 48) uint8")
    if y.shape != (len(x),):
        raise DataError(f"{path}: '{y_key}' has shape {y.shape}, expected ({len(x)},)")
    if len(y) and (y.min() < 0 or y.max() >= len(EMOTIONS)):
        raise DataError(f"{path}: '{y_key}' has labels outside 0..{len(EMOTIONS) - 1}")
    return x, y.astype(np.int64)


def ferplus_votes(csv_path: Path, split: str, n: int) -> np.ndarray:
    """FER+ votes per image of `split`: (n, 10) int64 in the csv's column order (_FERPLUS_COLUMNS)."""
    if not csv_path.exists():
        raise DataError(f"FER+ label file not found: {csv_path}")
    votes = np.zeros((n, len(_FERPLUS_COLUMNS)), dtype=np.int64)
    try:
        with csv_path.open(newline="") as fh:
            for row in csv.DictReader(fh):
                if row["split"] == split:
                    votes[int(row["split_index"])] = [int(row[name]) for name in _FERPLUS_COLUMNS]
    except (KeyError, ValueError, IndexError) as exc:
        raise DataError(f"{csv_path} is not the FER+ label file of the dataset README: {exc}") from None
    return votes


def ferplus_majority(votes: np.ndarray) -> np.ndarray:
    """FER+ majority-vote label per image (-1 where the majority is not one of the 7 emotions).

    Ties go to the earlier column in EMOTIONS order; images whose top vote is contempt, unknown or
    not-a-face get -1 and are left out of FER+ training and evaluation.
    """
    columns = list(_FERPLUS_COLUMNS.values())
    labels = np.full(len(votes), -1, dtype=np.int64)
    for i, row in enumerate(votes):
        best = row.max()
        winners = [columns[j] for j in np.flatnonzero(row == best)]
        emotions = [w for w in winners if w is not None]
        if best > 0 and len(emotions) == len(winners):
            labels[i] = min(emotions)
    return labels


def ferplus_distribution(votes: np.ndarray) -> np.ndarray:
    """The votes for the seven emotions, renormalised, in EMOTIONS order: (n, 7) float32; all-zero rows where
    no annotator chose one of the seven."""
    seven = np.zeros((len(votes), len(EMOTIONS)), dtype=np.float32)
    for j, target in enumerate(_FERPLUS_COLUMNS.values()):
        if target is not None:
            seven[:, target] = votes[:, j]
    totals = seven.sum(axis=1, keepdims=True)
    return np.divide(seven, totals, out=np.zeros_like(seven), where=totals > 0)


def load_split(path: Path, split: str, labels: str = "fer2013") -> Split:
    """Load one split of fer2013.npz with the chosen label set."""
    if split not in SPLITS:
        raise DataError(f"unknown split '{split}' (choose from {', '.join(SPLITS)})")
    return load_splits(path, labels, (split,))[split]


def load_splits(
    path: Path,
    labels: str = "fer2013",
    splits: tuple[str, ...] = SPLITS,
    original_weight: float = 0.0,
    original_where_voted: bool = False,
) -> dict[str, Split]:
    """Load several splits, reading the npz once.

    original_weight (ferplus-votes only): targets = (1 - w) * the vote distribution + w * the original label;
    with original_where_voted, only in images where at least one FER+ annotator voted for the original label's
    class (where none did, the original label is more likely a mistake than a mild expression).
    """
    path = Path(path)
    if labels not in LABEL_SETS:
        raise DataError(f"unknown label set '{labels}' (choose from {', '.join(LABEL_SETS)})")
    arrays = _read_npz(path, splits)
    out = {}
    for split in splits:
        x, y = _check_split(arrays, split, path)
        if labels == "fer2013":
            out[split] = Split(name=split, images=x, labels=y, labels_name=labels)
            continue
        votes = ferplus_votes(path.with_name("ferplus_labels.csv"), split, len(x))
        majority = ferplus_majority(votes)
        if labels == "ferplus":
            keep = majority >= 0
            out[split] = Split(split, x[keep], majority[keep], labels)
        else:
            targets = ferplus_distribution(votes)
            keep = targets.sum(axis=1) > 0
            if original_weight:
                original = np.eye(len(EMOTIONS), dtype=np.float32)[y]
                weight = np.full((len(y), 1), original_weight, dtype=np.float32)
                if original_where_voted:
                    weight[targets[np.arange(len(y)), y] == 0] = 0.0
                targets = ((1.0 - weight) * targets + weight * original).astype(np.float32)
            # The label of an image whose majority is contempt, unknown or not-a-face: its top emotion vote.
            label = np.where(majority >= 0, majority, targets.argmax(axis=1))
            out[split] = Split(split, x[keep], label[keep], labels, targets[keep])
    return out
