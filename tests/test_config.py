"""The run configuration: an explicit time budget governs, and the limits in force."""

from __future__ import annotations

from ml_autopilot.config import RunConfig, budget_led
from ml_autopilot.state import Constraints, SessionState


def config(**values: object) -> RunConfig:
    return RunConfig(data_path="d.csv", target="y", output_dir="run", **values)  # type: ignore[arg-type]


def test_without_a_time_budget_the_defaults_stand() -> None:
    made = config(**budget_led({}))
    assert (made.time_budget, made.plateau, made.max_iterations) == (3600.0, 3, 20)


def test_a_time_budget_alone_lifts_the_plateau_and_the_iteration_cap() -> None:
    made = config(**budget_led({"time_budget": 300.0}))
    assert (made.time_budget, made.plateau, made.max_iterations) == (300.0, None, None)


def test_a_plateau_or_cap_given_with_the_budget_still_applies() -> None:
    made = config(**budget_led({"time_budget": 300.0, "plateau": 2}))
    assert (made.plateau, made.max_iterations) == (2, None)
    made = config(**budget_led({"time_budget": 300.0, "max_iterations": 8}))
    assert (made.plateau, made.max_iterations) == (None, 8)


def test_the_constraints_file_limits_win_over_the_run_config() -> None:
    state = SessionState(run_id="r", config=config(**budget_led({"time_budget": 60.0})))
    assert (state.plateau, state.max_iterations) == (None, None)
    state.constraints = Constraints(plateau=4, max_iterations=0)
    assert (state.plateau, state.max_iterations) == (4, 0)
    state = SessionState(run_id="r", config=config(plateau=5, max_iterations=9))
    assert (state.plateau, state.max_iterations) == (5, 9)
