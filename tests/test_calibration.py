"""Temperature scaling, calibration error and the risk-coverage choice of the `unclear` rule."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.runtime.emotion.calibration import (
    apply_temperature,
    choose_unclear,
    confidence_scores,
    expected_calibration_error,
    fit_temperature,
    risk_coverage,
    unclear_mask,
)


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _overconfident(n: int, true_temperature: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities softmax(z) whose labels were drawn from softmax(z / true_temperature)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 2.0, size=(n, 7))
    truth = _softmax(logits / true_temperature)
    labels = np.array([rng.choice(7, p=row) for row in truth])
    return _softmax(logits).astype(np.float32), labels


def test_a_temperature_rescales_without_changing_the_top_class():
    probs, _ = _overconfident(200, 1.0)
    assert np.allclose(apply_temperature(probs, 1.0), probs, atol=1e-6)
    sharper, flatter = apply_temperature(probs, 0.5), apply_temperature(probs, 2.0)
    for scaled in (sharper, flatter):
        assert np.allclose(scaled.sum(axis=1), 1.0, atol=1e-5)
        assert np.array_equal(scaled.argmax(axis=1), probs.argmax(axis=1))
    assert (sharper.max(axis=1) >= probs.max(axis=1) - 1e-6).all()
    assert (flatter.max(axis=1) <= probs.max(axis=1) + 1e-6).all()
    assert apply_temperature(np.zeros((0, 7)), 0.5).shape == (0, 7)


@pytest.mark.parametrize("true_temperature", [0.6, 1.0, 1.8])
def test_the_fitted_temperature_is_the_one_the_labels_came_from(true_temperature):
    probs, labels = _overconfident(4000, true_temperature)
    assert fit_temperature(probs, labels) == pytest.approx(true_temperature, rel=0.1)


def test_calibration_error_is_small_for_calibrated_and_large_for_overconfident_probabilities():
    probs, labels = _overconfident(4000, 2.0, seed=1)
    before = expected_calibration_error(probs, labels)
    after = expected_calibration_error(apply_temperature(probs, fit_temperature(probs, labels)), labels)
    assert before > 0.1
    assert after < 0.03


def test_calibration_error_by_hand():
    # Two faces at confidence 0.9 (bin 14), one right and one wrong; one at 0.45 (bin 6), right.
    probs = np.array([[0.9, 0.1, 0, 0, 0, 0, 0], [0.9, 0.1, 0, 0, 0, 0, 0], [0.45, 0.3, 0.25, 0, 0, 0, 0]])
    labels = np.array([0, 1, 0])
    expected = (2 * abs(0.5 - 0.9) + 1 * abs(1.0 - 0.45)) / 3
    assert expected_calibration_error(probs, labels) == pytest.approx(expected)


def test_confidence_measures_and_the_unclear_mask():
    probs = np.array([[0.5, 0.45, 0.05, 0, 0, 0, 0], [0.35, 0.1, 0.1, 0.1, 0.1, 0.1, 0.15]], dtype=np.float32)
    assert confidence_scores(probs, "top_probability") == pytest.approx([0.5, 0.35])
    assert confidence_scores(probs, "margin") == pytest.approx([0.05, 0.2])
    assert unclear_mask(probs, "margin", 0.08).tolist() == [True, False]
    assert unclear_mask(probs, "top_probability", 0.4).tolist() == [False, True]
    assert unclear_mask(probs, "margin", 0.0).tolist() == [False, False]
    with pytest.raises(ValueError, match="unknown unclear metric"):
        confidence_scores(probs, "entropy")


def test_the_risk_coverage_curve_keeps_the_share_it_names_and_accuracy_rises_as_coverage_falls():
    probs, labels = _overconfident(3000, 1.0, seed=2)
    rows = risk_coverage(probs, labels, (1.0, 0.9, 0.7, 0.5))
    for metric in ("top_probability", "margin"):
        curve = [row for row in rows if row["metric"] == metric]
        assert [row["kept"] for row in curve] == pytest.approx([1.0, 0.9, 0.7, 0.5], abs=0.005)
        accuracies = [row["accuracy_on_kept"] for row in curve]
        assert accuracies == sorted(accuracies), metric  # confident faces are right more often
    rule = choose_unclear(probs, labels, coverage=0.9)
    at_90 = [row for row in rows if row["coverage"] == 0.9]
    assert rule["accuracy_on_kept"] == pytest.approx(max(row["accuracy_on_kept"] for row in at_90), abs=1e-4)
    assert "10% of the detected val faces are unclear" in rule["criterion"]


def test_nothing_to_calibrate_on_gives_the_identity_and_a_rule_that_never_fires():
    empty = np.zeros((0, 7), dtype=np.float32)
    labels = np.zeros(0, dtype=np.int64)
    assert fit_temperature(empty, labels) == 1.0
    assert expected_calibration_error(empty, labels) == 0.0
    assert choose_unclear(empty, labels)["threshold"] == 0.0
