"""Tests of the termination criteria and ``check_termination``."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from ml_autopilot.state import ExperimentRecord, ExperimentResult, ExperimentSpec, MetricInfo
from ml_autopilot.termination import (
    Criterion,
    MaxIterations,
    PlannerRecommendsStop,
    Plateau,
    TargetReached,
    TerminationView,
    TimeBudget,
    check_termination,
    default_criteria,
)

F1 = MetricInfo(name="f1", direction="maximize")
RMSE = MetricInfo(name="rmse", direction="minimize")


def record(iteration: int, score: float | None) -> ExperimentRecord:
    """A successful record with ``score``, or a failed one when ``score`` is None."""
    result = (
        ExperimentResult(status="failed", error="boom")
        if score is None
        else ExperimentResult(status="success", cv_score=score)
    )
    spec = ExperimentSpec(name=f"exp{iteration}", model="ridge", hypothesis="h", reasoning="r")
    return ExperimentRecord(
        iteration=iteration,
        spec=spec,
        result=result,
        started_at="2024-01-01T00:00:00+00:00",
        finished_at="2024-01-01T00:00:01+00:00",
    )


def view(*scores: float | None, **overrides: Any) -> TerminationView:
    """A view over records with these scores (the first is the baseline), generous limits."""
    fields: dict[str, Any] = {
        "records": [record(i, s) for i, s in enumerate(scores)],
        "metric": F1,
        "max_iterations": 100,
        "time_used": 10.0,
        "time_budget": 3600.0,
        "plateau": 3,
        "min_improvement": 0.005,
        "target_score": None,
        "planner_stop_reason": None,
    }
    fields.update(overrides)
    return TerminationView(**fields)


def test_view_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        view(0.5).time_used = 1.0  # type: ignore[misc]


# --- MaxIterations -------------------------------------------------------------------------------


def test_max_iterations_counts_experiments_after_the_baseline() -> None:
    criterion = MaxIterations()

    assert criterion.should_stop(view(0.5, 0.6, 0.7, max_iterations=3)) is None
    assert criterion.should_stop(view(0.5, 0.6, None, 0.7, max_iterations=3)) == (
        "max iterations (3) reached"
    )


def test_max_iterations_zero_stops_right_after_the_baseline() -> None:
    assert MaxIterations().should_stop(view(0.5, max_iterations=0)) == "max iterations (0) reached"


# --- TimeBudget ----------------------------------------------------------------------------------


def test_time_budget() -> None:
    criterion = TimeBudget()

    assert criterion.should_stop(view(0.5, time_used=299.9, time_budget=300.0)) is None
    reason = criterion.should_stop(view(0.5, time_used=300.0, time_budget=300.0))
    assert reason is not None
    assert reason.startswith("time budget of 300 s used")


# --- Plateau -------------------------------------------------------------------------------------


def test_plateau_fires_after_enough_experiments_without_gain() -> None:
    criterion = Plateau()

    assert criterion.should_stop(view(0.80, 0.801, 0.80, plateau=3)) is None
    reason = criterion.should_stop(view(0.80, 0.801, 0.80, 0.79, plateau=3))
    assert reason == "plateau: 3 experiments without a 0.5% improvement over 0.8"


def test_the_plateau_rule_off_never_stops_a_flat_run() -> None:
    flat = view(0.80, 0.81, *([0.80] * 30), None, None, plateau=None)
    assert Plateau().should_stop(flat) is None
    assert check_termination(flat) is None


def test_plateau_counts_failures() -> None:
    assert Plateau().should_stop(view(0.80, None, None, plateau=3)) is None
    assert Plateau().should_stop(view(0.80, None, None, None, plateau=3)) is not None


def test_plateau_does_not_count_pruned_experiments() -> None:
    """Pruning stops a weak experiment early so its time goes to the search; counting it
    toward the plateau would end the search instead."""
    pruned = ExperimentResult(status="pruned", fold_scores=[0.5], error="pruned after fold 1")
    flat = view(0.80, 0.81, 0.80, 0.80, plateau=3)
    flat.records[2:] = [r.model_copy(update={"result": pruned}) for r in flat.records[2:]]
    assert Plateau().should_stop(flat) is None
    flat.records.append(record(4, 0.80))
    flat.records.append(record(5, 0.80))
    assert Plateau().should_stop(flat) is None
    flat.records.append(record(6, None))  # a failure counts: 3 since 0.81
    assert Plateau().should_stop(flat) is not None


def test_plateau_resets_on_a_real_improvement() -> None:
    # 0.80 -> 0.85 is a 6% gain, so only the two experiments after it count.
    assert Plateau().should_stop(view(0.80, 0.79, 0.78, 0.85, 0.85, 0.84, plateau=3)) is None


def test_plateau_respects_min_improvement() -> None:
    scores = (0.800, 0.803, 0.802, 0.8035)  # all within 0.5% of 0.800; 0.803 is +0.375%

    assert Plateau().should_stop(view(*scores, plateau=3, min_improvement=0.005)) is not None
    assert Plateau().should_stop(view(*scores, plateau=3, min_improvement=0.001)) is None


def test_plateau_small_gains_accumulate_against_the_reference() -> None:
    # 0.800 -> 0.803 (+0.37%) does not move the reference, 0.806 is +0.75% over 0.800 and does.
    assert Plateau().should_stop(view(0.800, 0.803, 0.806, 0.806, 0.806, plateau=3)) is None


def test_plateau_minimize_direction() -> None:
    # rmse 100 -> 90 is a 10% improvement; then 89.9 is only 0.1% better.
    assert Plateau().should_stop(view(100.0, 90.0, 89.9, 95.0, metric=RMSE, plateau=3)) is None
    assert Plateau().should_stop(view(100.0, 90.0, 89.9, 95.0, metric=RMSE, plateau=2)) == (
        "plateau: 2 experiments without a 0.5% improvement over 90"
    )
    assert Plateau().should_stop(view(100.0, 110.0, 80.0, metric=RMSE, plateau=2)) is None


def test_plateau_baseline_alone_never_triggers() -> None:
    assert Plateau().should_stop(view(0.5, plateau=1)) is None
    assert Plateau().should_stop(view(None, plateau=1)) is None


def test_plateau_first_success_counts_as_improvement() -> None:
    assert Plateau().should_stop(view(None, None, 0.6, plateau=2)) is None
    assert Plateau().should_stop(view(None, None, 0.6, 0.6, 0.6, plateau=2)) is not None


def test_plateau_without_any_success() -> None:
    reason = Plateau().should_stop(view(None, None, None, plateau=2))

    assert reason == "plateau: 2 experiments without a successful result"


def test_plateau_tie_is_not_an_improvement_even_with_zero_threshold() -> None:
    assert Plateau().should_stop(view(0.5, 0.5, 0.5, plateau=2, min_improvement=0.0)) is not None
    assert Plateau().should_stop(view(0.5, 0.5, 0.51, plateau=2, min_improvement=0.0)) is None


def test_plateau_with_zero_reference_uses_absolute_gain() -> None:
    # r2 of 0.0 then 0.001: relative change is undefined, the absolute gain 0.001 < 0.005.
    metric = MetricInfo(name="r2", direction="maximize")
    assert Plateau().should_stop(view(0.0, 0.001, metric=metric, plateau=1)) is not None
    assert Plateau().should_stop(view(0.0, 0.1, metric=metric, plateau=1)) is None


# --- TargetReached -------------------------------------------------------------------------------


def test_target_reached_maximize_with_ties() -> None:
    criterion = TargetReached()

    assert criterion.should_stop(view(0.90, 0.92, target_score=0.93)) is None
    assert criterion.should_stop(view(0.90, 0.93, 0.91, target_score=0.93)) == (
        "target f1 >= 0.93 reached (0.93)"
    )


def test_target_reached_minimize() -> None:
    criterion = TargetReached()

    assert criterion.should_stop(view(50000.0, 46000.0, metric=RMSE, target_score=45000.0)) is None
    reason = criterion.should_stop(view(50000.0, 44210.3, metric=RMSE, target_score=45000.0))
    assert reason == "target rmse <= 45000 reached (44210.3)"


def test_target_ignores_failures_and_unset_target() -> None:
    assert TargetReached().should_stop(view(None, None, target_score=0.5)) is None
    assert TargetReached().should_stop(view(0.99)) is None


# --- PlannerRecommendsStop -----------------------------------------------------------------------


def test_planner_recommends_stop() -> None:
    criterion = PlannerRecommendsStop()

    assert criterion.should_stop(view(0.5)) is None
    assert criterion.should_stop(view(0.5, planner_stop_reason="  ")) is None
    reason = criterion.should_stop(view(0.5, planner_stop_reason="every model family tried"))
    assert reason == "planner recommends stopping: every model family tried"


# --- check_termination ---------------------------------------------------------------------------


def test_default_criteria_cover_every_kind() -> None:
    kinds = {type(c) for c in default_criteria()}

    assert kinds == {MaxIterations, TimeBudget, Plateau, TargetReached, PlannerRecommendsStop}


def test_check_termination_returns_none_when_nothing_fires() -> None:
    assert check_termination(view(0.5, 0.6, 0.7)) is None


def test_check_termination_returns_the_first_reason() -> None:
    both = view(0.5, 0.95, target_score=0.9, max_iterations=1)

    assert check_termination(both, [MaxIterations(), TargetReached()]) == (
        "max iterations (1) reached"
    )
    assert check_termination(both, [TargetReached(), MaxIterations()]) == (
        "target f1 >= 0.9 reached (0.95)"
    )
    assert check_termination(both) == "target f1 >= 0.9 reached (0.95)"


def test_check_termination_accepts_custom_criteria() -> None:
    class Always(Criterion):
        def should_stop(self, view: TerminationView) -> str | None:
            return "always"

    assert check_termination(view(0.5), [Always()]) == "always"
    assert check_termination(view(0.5), []) is None
