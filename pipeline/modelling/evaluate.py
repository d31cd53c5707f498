"""Evaluation like the paper's Table 3: per-class precision, recall, F1 and support, accuracy, macro F1.

All figures come from one confusion matrix (rows: true class, columns: predicted), so they are consistent
with each other and with the matrix that `fertui eval --json` prints.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from pipeline.core.files import write_private_atomic
from pipeline.core.labels import EMOTIONS
from pipeline.modelling.data import Split
from pipeline.runtime.emotion.calibration import expected_calibration_error, risk_coverage, unclear_mask
from pipeline.runtime.emotion.classifier import EmotionClassifier
from pipeline.runtime.emotion.crop import jitter_schedule, reframe_crop


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, n_classes: int = len(EMOTIONS)) -> np.ndarray:
    """(n_classes, n_classes) int64 counts: row = true class, column = predicted class."""
    true, predicted = np.asarray(true, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
    return np.bincount(true * n_classes + predicted, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0 where den is 0 (a class never predicted has precision 0, as scikit-learn reports it)."""
    return np.divide(num, den, out=np.zeros(len(num), dtype=np.float64), where=den > 0)


def metrics_from_confusion(confusion: np.ndarray, classes: tuple[str, ...] = EMOTIONS) -> dict:
    """accuracy, macro_f1 and per_class {precision, recall, f1, support} from a confusion matrix."""
    confusion = np.asarray(confusion, dtype=np.int64)
    correct = np.diag(confusion).astype(np.float64)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    precision = _ratio(correct, predicted.astype(np.float64))
    recall = _ratio(correct, support.astype(np.float64))
    f1 = _ratio(2 * precision * recall, precision + recall)
    total = int(confusion.sum())
    return {
        "n": total,
        "accuracy": float(correct.sum() / total) if total else 0.0,
        "macro_f1": float(f1.mean()),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(classes)
        },
    }


def predict_split(
    classifier: EmotionClassifier,
    images: np.ndarray,
    jitter_crops: int = 1,
    batch_size: int = 256,
    *,
    stills: bool = False,
) -> np.ndarray:
    """(N, 7) probabilities for (N, 48, 48) uint8 images, calibrated as the classifier is (see
    EmotionClassifier.load), in batches.

    jitter_crops: each image is classified as the app classifies a face in one video frame: averaged over
    `jitter_crops` alignment jitters, image i over the slice of the alignment cycle that video frame i gets
    (`pipeline.runtime.emotion.crop.jitter_schedule(i, jitter_crops)`). The app moves to the next slice every frame, so
    over a split every slice is scored about equally often, as over a video; 1 is the image as it is.
    stills: each image is classified as the app classifies a face in a photo instead: every image over the same
    first `jitter_crops` alignments of the cycle.
    """

    def alignments(index: int) -> list:
        return jitter_schedule(0 if stills else index, jitter_crops)

    parts = [
        classifier.face_probabilities(
            np.stack(
                [
                    [reframe_crop(image, jitter) for jitter in alignments(i + offset)]
                    for offset, image in enumerate(images[i : i + batch_size])
                ]
            )
        )
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, len(EMOTIONS)), dtype=np.float32)


def unclear_figures(probs: np.ndarray, labels: np.ndarray, metric: str, threshold: float) -> dict:
    """How many faces the unclear rule sets aside, and the accuracy on the faces it keeps."""
    unclear = unclear_mask(probs, metric, threshold)
    kept = ~unclear
    correct = np.argmax(probs, axis=1) == labels
    return {
        "metric": metric,
        "threshold": float(threshold),
        "n_unclear": int(unclear.sum()),
        "unclear_fraction": float(unclear.mean()) if len(unclear) else 0.0,
        "accuracy_on_rest": float(correct[kept].mean()) if kept.any() else 0.0,
    }


def neutral_read_as(confusion: np.ndarray, emotion: str = "sad") -> float:
    """Share of the truly neutral faces that come out as `emotion` (the error users notice most: calm faces
    read as sad)."""
    neutral = EMOTIONS.index("neutral")
    total = confusion[neutral].sum()
    return float(confusion[neutral, EMOTIONS.index(emotion)] / total) if total else 0.0


def report_dict(probs: np.ndarray, split: Split, classifier: EmotionClassifier) -> dict:
    """The `fertui eval --json` object (the issue's layout) plus the unclear figures."""
    confusion = confusion_matrix(split.labels, np.argmax(probs, axis=1))
    metrics = metrics_from_confusion(confusion)
    return {
        "split": split.name,
        "labels": split.labels_name,
        "n": metrics["n"],
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
        "per_class": metrics["per_class"],
        "neutral_as_sad": neutral_read_as(confusion, "sad"),
        "confusion": confusion.tolist(),
        "model": {key: value for key, value in classifier.describe().items() if key in ("file", "sha256", "members")},
        "unclear": unclear_figures(probs, split.labels, classifier.unclear_metric, classifier.unclear_threshold),
        "temperature": classifier.temperature,
        "ece": expected_calibration_error(probs, split.labels),
        "risk_coverage": risk_coverage(probs, split.labels),
    }


def direct_report(probs: np.ndarray, split: Split, classifier: EmotionClassifier, jitter_crops: int) -> dict:
    """report_dict for the split's own 48x48 images, saying how many alignments each was averaged over."""
    report = report_dict(probs, split, classifier)
    report["jitter_crops"] = jitter_crops
    report["path"] = ", one crop each" if jitter_crops == 1 else f", {jitter_crops} alignment jitters averaged"
    return report


def evaluate(classifier: EmotionClassifier, split: Split, jitter_crops: int = 1) -> dict:
    """Classify every image of `split` (each averaged over `jitter_crops` alignments) and report like
    `fertui eval --json`."""
    return direct_report(predict_split(classifier, split.images, jitter_crops), split, classifier, jitter_crops)


def risk_coverage_table(report: dict):
    """The risk-coverage curve of a report as a rich Table: for each coverage (the share of faces given an
    emotion name), the threshold each confidence measure needs and the accuracy on the faces it keeps."""
    from rich.table import Table

    unclear = report["unclear"]
    table = Table(
        title="risk-coverage (calibrated probabilities)",
        caption=(
            f"the model card's rule: {unclear['metric']} < {unclear['threshold']:.3f} is unclear "
            f"({1 - unclear['unclear_fraction']:.1%} coverage here); ECE (15 bins) {report['ece']:.4f}"
        ),
    )
    table.add_column("coverage", justify="right")
    for metric in ("top probability", "margin"):
        table.add_column(f"{metric}: threshold", justify="right")
        table.add_column("accuracy", justify="right")
    by_coverage: dict[float, dict[str, dict]] = {}
    for row in report["risk_coverage"]:
        by_coverage.setdefault(row["coverage"], {})[row["metric"]] = row
    for coverage, rows in by_coverage.items():
        cells = [f"{coverage:.0%}"]
        for metric in ("top_probability", "margin"):
            cells += [f"{rows[metric]['threshold']:.3f}", f"{rows[metric]['accuracy_on_kept']:.4f}"]
        table.add_row(*cells)
    return table


def report_table(report: dict):
    """The paper's Table 3 layout as a rich Table."""
    from rich.table import Table

    unclear = report["unclear"]
    table = Table(
        title=f"FER-2013 {report['split']} ({report['labels']} labels, {report['n']} faces{report.get('path', '')})",
        caption=(
            f"model {report['model']['file']} sha256 {report['model']['sha256'][:12]}; "
            f"unclear ({unclear['metric']} < {unclear['threshold']:.3f}): {unclear['n_unclear']} faces "
            f"({unclear['unclear_fraction']:.1%}), accuracy on the rest {unclear['accuracy_on_rest']:.4f}; "
            f"neutral faces read as sad: {report['neutral_as_sad']:.1%}"
        ),
    )
    table.add_column("emotion")
    for column in ("precision", "recall", "F1", "support"):
        table.add_column(column, justify="right")
    for emotion in EMOTIONS:
        c = report["per_class"][emotion]
        table.add_row(emotion, f"{c['precision']:.2f}", f"{c['recall']:.2f}", f"{c['f1']:.2f}", str(c["support"]))
    table.add_section()
    table.add_row("accuracy", "", "", f"{report['accuracy']:.4f}", str(report["n"]))
    macro = [np.mean([c[key] for c in report["per_class"].values()]) for key in ("precision", "recall")]
    table.add_row("macro avg", f"{macro[0]:.2f}", f"{macro[1]:.2f}", f"{report['macro_f1']:.4f}", str(report["n"]))
    return table


def plot_confusion(report: dict, path: Path, title: str | None = None) -> Path:
    """The confusion matrix as a PNG: colour = share of the true class, text = count (a row without faces is
    left blank)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    confusion = np.asarray(report["confusion"])
    shares = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6.4, 5.6), dpi=100)
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(EMOTIONS)), EMOTIONS, rotation=45, ha="right")
    ax.set_yticks(range(len(EMOTIONS)), EMOTIONS)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(
        title
        or (
            f"FER-2013 {report['split']} ({report['labels']} labels): "
            f"accuracy {report['accuracy']:.3f}, macro F1 {report['macro_f1']:.3f}"
        )
    )
    for (i, j), count in np.ndenumerate(confusion):
        ax.text(j, i, str(count), ha="center", va="center", color="white" if shares[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, label="share of the true class")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    write_private_atomic(Path(path), buffer.getvalue())  # owner-only, like every file fertui writes
    return Path(path)
