"""Which models the final refit tries, in order, until one succeeds."""

from __future__ import annotations

import pytest

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


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        pytest.param(
            [("linear_regression", 3.5), ("catboost", 2.9), ("catboost", 2.95),
             ("extra_trees", 3.0), ("lightgbm", None), ("ensemble", 2.8)],
            ["ensemble_5", "catboost_1", "extra_trees_3", "linear_regression_0"],
            id="ensemble, best single, another family, baseline",
        ),
        pytest.param(
            [("linear_regression", 3.5), ("catboost", 2.9), ("catboost", 3.0), ("xgboost", 3.1)],
            ["catboost_1", "xgboost_3", "linear_regression_0"],
            id="single best, another family, baseline",
        ),
    ],
)  # fmt: skip
def test_a_failed_refit_falls_back_to_another_family_then_the_baseline(scores, expected):
    state = state_with(*(record(i, model, score) for i, (model, score) in enumerate(scores)))
    assert names(state) == expected  # RMSE: lower is better


def test_only_the_baseline_or_nothing():
    assert names(state_with(record(0, "ridge", 3.5), record(1, "svr", None))) == ["ridge_0"]
    assert names(state_with(record(0, "ridge", None))) == []
