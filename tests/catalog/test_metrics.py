"""Metric names, directions and the safe relative-improvement helper."""

import pytest

from ml_autopilot.catalog.metrics import is_better, relative_improvement, resolve_metric
from ml_autopilot.errors import UserError


def test_defaults_and_directions():
    assert resolve_metric(None, "regression").model_dump() == {
        "name": "rmse",
        "direction": "minimize",
    }
    assert resolve_metric(None, "classification").name == "f1"
    assert resolve_metric("LOG_LOSS", "classification").direction == "minimize"
    assert resolve_metric("roc_auc", "classification").direction == "maximize"


def test_metric_must_fit_task():
    with pytest.raises(UserError, match="is for regression"):
        resolve_metric("rmse", "classification")
    with pytest.raises(UserError, match="Unknown metric"):
        resolve_metric("auc-pr", "classification")


def test_improvement_is_signed_by_direction_and_safe_at_zero():
    assert relative_improvement(0.9, 0.8, "maximize") == pytest.approx(0.125)
    assert relative_improvement(90.0, 100.0, "minimize") == pytest.approx(0.1)
    assert relative_improvement(0.1, 0.0, "maximize") == pytest.approx(0.1)
    assert is_better(1.0, 2.0, "minimize") and not is_better(1.0, 2.0, "maximize")
