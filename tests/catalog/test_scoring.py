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
    assert score_one(metric, "classification", n_classes, truth, labels, proba) == expected


@pytest.mark.parametrize("metric", ["rmse", "mae", "r2"])
def test_regression_metrics_agree(metric: str) -> None:
    truth, values = RNG.normal(size=100), RNG.normal(size=100)
    expected = score_all("regression", 0, truth, values, None)[metric]
    assert score_one(metric, "regression", 0, truth, values, None) == expected
