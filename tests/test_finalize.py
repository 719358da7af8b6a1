"""Which models the final refit tries, in order, until one succeeds."""

from __future__ import annotations

from ml_autopilot.config import RunConfig
from ml_autopilot.finalize import final_candidates
from ml_autopilot.state import ExperimentRecord, ExperimentResult, ExperimentSpec, SessionState
from tests.test_ensemble import info


def record(iteration: int, model: str, score: float | None) -> ExperimentRecord:
    result = (
        ExperimentResult(status="failed", error="boom")
        if score is None
        else ExperimentResult(status="success", cv_score=score)
    )
    spec = ExperimentSpec(name=f"{model}_{iteration}", model=model, hypothesis="h", reasoning="r")
    return ExperimentRecord(
        iteration=iteration, spec=spec, result=result, started_at="t", finished_at="t"
    )


def state_with(*records: ExperimentRecord) -> SessionState:
    config = RunConfig(data_path="d.csv", target="y", output_dir="run")
    return SessionState(run_id="r", config=config, data=info(), experiments=list(records))


def names(state: SessionState) -> list[str]:
    return [r.spec.name for r in final_candidates(state)]


def test_an_ensemble_falls_back_to_the_best_single_then_another_family_then_the_baseline():
    state = state_with(
        record(0, "linear_regression", 3.5),
        record(1, "catboost", 2.9),
        record(2, "catboost", 2.95),
        record(3, "extra_trees", 3.0),
        record(4, "lightgbm", None),
        record(5, "ensemble", 2.8),
    )  # RMSE: lower is better
    assert names(state) == ["ensemble_5", "catboost_1", "extra_trees_3", "linear_regression_0"]


def test_a_single_best_falls_back_to_another_family():
    state = state_with(
        record(0, "linear_regression", 3.5),
        record(1, "catboost", 2.9),
        record(2, "catboost", 3.0),
        record(3, "xgboost", 3.1),
    )
    assert names(state) == ["catboost_1", "xgboost_3", "linear_regression_0"]


def test_only_the_baseline_or_nothing():
    assert names(state_with(record(0, "ridge", 3.5), record(1, "svr", None))) == ["ridge_0"]
    assert names(state_with(record(0, "ridge", None))) == []
