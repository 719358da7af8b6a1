"""Pruning limits: only for experiments expected to cost a noticeable share of the budget,
measured against the same folds of the best single model."""

from __future__ import annotations

import pytest

from ml_autopilot.config import RunConfig
from ml_autopilot.pruning import PRUNE_MARGIN, PRUNE_MIN_FOLD_ROWS, prune_limits
from ml_autopilot.state import (
    DataInfo,
    ExperimentRecord,
    ExperimentResult,
    ExperimentSpec,
    MetricInfo,
    SessionState,
)


def state(
    tmp_path, direction: str = "minimize", budget: float = 300.0, rows: int = 40_000
) -> SessionState:
    name = "log_loss" if direction == "minimize" else "roc_auc"
    config = RunConfig(
        data_path=str(tmp_path / "d.csv"),
        target="y",
        output_dir=str(tmp_path),
        folds=3,
        time_budget=budget,
    )
    data = DataInfo(
        source_path="d",
        source_sha256="0",
        task="classification",
        target="y",
        metric=MetricInfo(name=name, direction=direction),
        n_rows=rows + rows // 4,
        n_train=rows,
        n_holdout=rows // 4,
        feature_columns=["a"],
        train_path="t",
        holdout_path="h",
        classes=["a", "b"],
    )
    return SessionState(run_id="r", config=config, data=data)


def add(s: SessionState, name: str, model: str, folds: list[float], seconds: float) -> None:
    s.experiments.append(
        ExperimentRecord(
            iteration=len(s.experiments),
            spec=ExperimentSpec(name=name, model=model, hypothesis="h", reasoning="r"),
            result=ExperimentResult(
                status="success",
                cv_score=sum(folds) / len(folds),
                fold_scores=folds,
                duration=seconds,
            ),
            started_at="t",
            finished_at="t",
        )
    )


def spec(model: str) -> ExperimentSpec:
    return ExperimentSpec(name="next", model=model, hypothesis="h", reasoning="r")


def test_no_limits_before_a_model_has_scored_every_fold(tmp_path):
    s = state(tmp_path)
    assert prune_limits(s, spec("xgboost")) is None
    add(s, "partial", "lightgbm", [0.40, 0.41], 60.0)  # two folds of three
    assert prune_limits(s, spec("xgboost")) is None


def test_an_expensive_experiment_is_measured_against_the_best_singles_folds(tmp_path):
    s = state(tmp_path)
    add(s, "slow_worse", "lightgbm", [0.50, 0.50, 0.50], 60.0)
    add(s, "best", "lightgbm", [0.40, 0.30, 0.20], 20.0)
    limits = prune_limits(s, spec("lightgbm"))  # 20 s expected: 6.7% of 300 s
    assert limits is not None and limits.reference == "best" and not limits.maximize
    assert limits.limits == pytest.approx([x * (1 + PRUNE_MARGIN) for x in (0.40, 0.30, 0.20)])
    assert limits.as_literal()["limits"] == limits.limits


def test_a_cheap_experiment_runs_every_fold(tmp_path):
    s = state(tmp_path)
    add(s, "best", "lightgbm", [0.40, 0.30, 0.20], 10.0)  # 3.3% of 300 s
    assert prune_limits(s, spec("lightgbm")) is None
    # CatBoost is expected to cost 5x LightGBM's slowest run: 50 s
    assert prune_limits(s, spec("catboost")) is not None


def test_limits_for_a_score_to_maximize_sit_below_the_best(tmp_path):
    s = state(tmp_path, direction="maximize", budget=100.0)
    add(s, "best", "lightgbm", [0.90, 0.80, 0.70], 10.0)
    limits = prune_limits(s, spec("lightgbm"))
    assert limits is not None and limits.maximize
    assert limits.limits == pytest.approx([x * (1 - PRUNE_MARGIN) for x in (0.90, 0.80, 0.70)])


def test_folds_too_small_to_judge_by_run_every_fold(tmp_path):
    """On a small table one fold's score moves by more than the margin by chance."""
    small = state(tmp_path, rows=3 * PRUNE_MIN_FOLD_ROWS - 1)
    add(small, "best", "lightgbm", [0.40, 0.30, 0.20], 100.0)
    assert prune_limits(small, spec("lightgbm")) is None
    enough = state(tmp_path, rows=3 * PRUNE_MIN_FOLD_ROWS)
    add(enough, "best", "lightgbm", [0.40, 0.30, 0.20], 100.0)
    assert prune_limits(enough, spec("lightgbm")) is not None
