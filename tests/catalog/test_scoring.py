"""``score_one`` gives exactly what ``score_all`` gives for that metric."""

from __future__ import annotations

import numpy as np
import pytest

from ml_autopilot.catalog.scoring import labels_from, score_all, score_one

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("metric", ["accuracy", "f1", "log_loss", "roc_auc"])
def test_classification_metrics_agree(metric: str, n_classes: int) -> None:
    truth = RNG.integers(0, n_classes, 200)
    proba = RNG.dirichlet(np.ones(n_classes), 200)
    labels, proba = labels_from("classification", proba)
    expected = score_all("classification", n_classes, truth, labels, proba)[metric]
    assert score_one(metric, "classification", n_classes, truth, labels, proba) == pytest.approx(
        expected, rel=1e-12
    )


@pytest.mark.parametrize("n_classes", [2, 4])
def test_f1_and_auc_agree_with_ties_and_missing_classes(n_classes: int) -> None:
    """Coarse probabilities (many ties) and a class never predicted nor present."""
    truth = RNG.integers(0, n_classes - 1 if n_classes > 2 else 2, 500)
    proba = np.round(RNG.dirichlet(np.ones(n_classes), 500), 1)
    proba[:, -1] = 0.0 if n_classes > 2 else proba[:, -1]
    proba = proba / np.maximum(proba.sum(axis=1, keepdims=True), 1e-12)
    labels, proba = labels_from("classification", proba)
    expected = score_all("classification", n_classes, truth, labels, proba)
    for metric in ("f1", "roc_auc"):
        got = score_one(metric, "classification", n_classes, truth, labels, proba)
        if np.isnan(expected[metric]):
            assert np.isnan(got)
        else:
            assert got == pytest.approx(expected[metric], rel=1e-12)


@pytest.mark.parametrize("decimals", [None, 2, 0])  # distinct scores, ties, all but two tied
@pytest.mark.parametrize("n_rows", [2, 3, 50, 2001])
def test_binary_auc_agrees_with_sklearn_on_distinct_and_tied_scores(
    n_rows: int, decimals: int | None
) -> None:
    truth = np.resize([0, 1], n_rows)
    RNG.shuffle(truth)
    positive = RNG.random(n_rows) if decimals is None else np.round(RNG.random(n_rows), decimals)
    proba = np.column_stack([1 - positive, positive])
    labels, proba = labels_from("classification", proba)
    expected = score_all("classification", 2, truth, labels, proba)["roc_auc"]
    got = score_one("roc_auc", "classification", 2, truth, labels, proba)
    assert got == pytest.approx(expected, rel=1e-12)


def test_binary_auc_with_one_class_is_nan_as_in_score_all() -> None:
    truth = np.zeros(20, dtype=int)
    proba = RNG.dirichlet(np.ones(2), 20)
    labels, proba = labels_from("classification", proba)
    assert np.isnan(score_all("classification", 2, truth, labels, proba)["roc_auc"])
    assert np.isnan(score_one("roc_auc", "classification", 2, truth, labels, proba))


@pytest.mark.parametrize("metric", ["rmse", "mae", "r2"])
def test_regression_metrics_agree(metric: str) -> None:
    truth, values = RNG.normal(size=100), RNG.normal(size=100)
    expected = score_all("regression", 0, truth, values, None)[metric]
    assert score_one(metric, "regression", 0, truth, values, None) == expected


def test_log_loss_agrees_with_extreme_and_unnormalised_probabilities() -> None:
    """Zeros, ones and rows that do not sum to one (a blend of clipped members) are clipped
    exactly as scikit-learn clips them."""
    truth = RNG.integers(0, 3, 300)
    proba = RNG.dirichlet(np.ones(3), 300)
    proba[:50] = np.eye(3)[(truth[:50] + 1) % 3]  # certain and wrong: p(true) = 0
    proba[50:100] = np.eye(3)[truth[50:100]]  # certain and right: p(true) = 1
    proba[100:150] *= 1.1  # rows summing to 1.1
    labels, proba = labels_from("classification", proba)
    expected = score_all("classification", 3, truth, labels, proba)["log_loss"]
    assert score_one("log_loss", "classification", 3, truth, labels, proba) == pytest.approx(
        expected, rel=1e-12
    )
