"""How far to trust a probability: temperature scaling, calibration error, and the `unclear` rule.

The classifier's softmax is not a calibrated probability: training on vote distributions (or with label
smoothing) leaves it under-confident about the majority, and the app averages several alignments of every face
(plain and mirrored), which flattens the distribution further. One temperature T, fitted on `val` through the path
the app runs, rescales the averaged distribution (p -> softmax(log p / T)) so that "0.7" means right about 70% of
the time.

The `unclear` label is then chosen from a risk-coverage curve: at a declared coverage (the share of faces that
get an emotion name), the confidence measure (top probability or its margin over the second) whose kept faces
are right most often, and its threshold.
"""

from __future__ import annotations

import numpy as np

from pipeline.core.labels import EMOTIONS

UNCLEAR_METRICS = ("top_probability", "margin")
"""How confidence is measured for the `unclear` label: the top probability, or its margin over the second."""

ECE_BINS = 15
COVERAGE = 0.90
"""The share of detected faces the `unclear` rule is chosen to label (the other 10% are `unclear`)."""

RISK_COVERAGE_POINTS = (1.0, 0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5)
"""The coverages `fertui eval` and the model card tabulate."""

_FLOOR = 1e-12  # log(0) guard: the int8 model can output an exact zero


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log(probs) / temperature), row by row; temperature 1 returns the rows renormalised."""
    probs = np.asarray(probs, dtype=np.float64)
    if len(probs) == 0:
        return probs.astype(np.float32)
    logits = np.log(np.clip(probs, _FLOOR, None)) / float(temperature)
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return (scaled / scaled.sum(axis=1, keepdims=True)).astype(np.float32)


def apply_class_bias(probs: np.ndarray, bias: np.ndarray | list[float] | None) -> np.ndarray:
    """Each class's probability times exp(bias), rows renormalised: a shift of the log prior that moves the
    decision (for example away from `neutral`, which FER+ calls a mild expression and a posed study does not).
    A bias of None or all zeros returns the rows unchanged."""
    probs = np.asarray(probs, dtype=np.float32)
    if bias is None or not np.any(bias) or len(probs) == 0:
        return probs
    shifted = probs.astype(np.float64) * np.exp(np.asarray(bias, dtype=np.float64))
    return (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)


def class_shares(train_labels: np.ndarray) -> np.ndarray:
    """Each class's share of the training labels, EMOTIONS order; a class absent from them counts as one face, so
    its share (and a prior correction's log of it) stays finite."""
    counts = np.bincount(np.asarray(train_labels, dtype=np.int64), minlength=len(EMOTIONS)).astype(np.float64)
    return np.maximum(counts, 1.0) / max(float(counts.sum()), 1.0)


def prior_correction(train_labels: np.ndarray, strength: float) -> np.ndarray:
    """A class bias for apply_class_bias: -strength x log(each class's share of the training labels), EMOTIONS order.

    A classifier learns its training set's priors; FER+ calls about a third of its faces neutral and a posed
    study does not. strength 0 leaves the priors as trained, 1 divides them out entirely (every class equally
    likely a priori); in between, a partial move (logit adjustment, Menon et al., 2021)."""
    return -float(strength) * np.log(class_shares(train_labels))


def negative_log_likelihood(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean -log p(true class)."""
    picked = np.asarray(probs, dtype=np.float64)[np.arange(len(labels)), labels]
    return float(-np.log(np.clip(picked, _FLOOR, None)).mean())


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of `labels` (searched in log space)."""
    from scipy.optimize import minimize_scalar

    if len(labels) == 0:
        return 1.0
    fit = minimize_scalar(
        lambda log_t: negative_log_likelihood(apply_temperature(probs, float(np.exp(log_t))), labels),
        bounds=(np.log(0.05), np.log(20.0)),
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(np.exp(fit.x))


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE: the gap between confidence (top probability) and accuracy, averaged over equal-width confidence
    bins weighted by how many faces fall in each (Guo et al., 2017)."""
    probs = np.asarray(probs, dtype=np.float64)
    if len(probs) == 0:
        return 0.0
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    # Bin i holds confidences in (i/bins, (i+1)/bins]; a confidence of exactly 0 cannot occur for a softmax.
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    gap = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            gap += members.sum() * abs(correct[members].mean() - confidence[members].mean())
    return float(gap / len(probs))


def confidence_scores(probs: np.ndarray, metric: str) -> np.ndarray:
    """Per row: the top probability, or the margin of the top probability over the second."""
    if metric not in UNCLEAR_METRICS:
        raise ValueError(f"unknown unclear metric {metric!r} (choose from {', '.join(UNCLEAR_METRICS)})")
    probs = np.asarray(probs, dtype=np.float32)
    if len(probs) == 0:
        return np.zeros(0, dtype=np.float32)
    top2 = np.sort(probs, axis=1)[:, -2:]
    return top2[:, 1] if metric == "top_probability" else top2[:, 1] - top2[:, 0]


def unclear_mask(probs: np.ndarray, metric: str, threshold: float) -> np.ndarray:
    """True where a probability row is not confident enough to name an emotion."""
    scores = confidence_scores(probs, metric)
    if threshold <= 0.0:
        return np.zeros(len(scores), dtype=bool)
    return scores < threshold


def threshold_for_coverage(probs: np.ndarray, metric: str, coverage: float) -> float:
    """The threshold below which (1 - coverage) of the rows fall: 0 (never unclear) at full coverage."""
    if coverage >= 1.0 or len(probs) == 0:
        return 0.0
    return float(np.quantile(confidence_scores(probs, metric), 1.0 - coverage))


def risk_coverage(
    probs: np.ndarray, labels: np.ndarray, coverages: tuple[float, ...] = RISK_COVERAGE_POINTS
) -> list[dict]:
    """For each coverage and each metric: the threshold that keeps that share, and the accuracy on the kept faces."""
    correct = np.argmax(probs, axis=1) == labels
    rows = []
    for coverage in coverages:
        for metric in UNCLEAR_METRICS:
            threshold = threshold_for_coverage(probs, metric, coverage)
            kept = ~unclear_mask(probs, metric, threshold)
            rows.append(
                {
                    "coverage": coverage,
                    "metric": metric,
                    "threshold": round(threshold, 4),
                    "kept": float(kept.mean()) if len(kept) else 0.0,
                    "accuracy_on_kept": float(correct[kept].mean()) if kept.any() else 0.0,
                }
            )
    return rows


def choose_unclear(probs: np.ndarray, labels: np.ndarray, coverage: float = COVERAGE) -> dict:
    """The unclear rule at `coverage`: of top probability and margin, the one whose kept faces are right most often."""
    best = max(risk_coverage(probs, labels, (coverage,)), key=lambda row: row["accuracy_on_kept"])
    overall = float((np.argmax(probs, axis=1) == labels).mean()) if len(labels) else 0.0
    return {
        "metric": best["metric"],
        "threshold": best["threshold"],
        "coverage": coverage,
        "accuracy_on_kept": round(best["accuracy_on_kept"], 4),
        "accuracy": round(overall, 4),
        "criterion": (
            f"{1 - coverage:.0%} of the detected val faces are unclear; of top probability and margin, the measure "
            f"that leaves the more accurate rest ({best['metric']}: {best['accuracy_on_kept']:.4f} on the rest "
            f"vs {overall:.4f} on all)"
        ),
    }
