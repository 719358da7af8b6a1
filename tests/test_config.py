"""The run configuration and the stopping limits in force."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ml_autopilot.config import LARGE_TABLE_ROWS, RunConfig, default_folds
from ml_autopilot.state import Constraints, SessionState


def config(**values: object) -> RunConfig:
    return RunConfig(data_path="d.csv", target="y", output_dir="run", **values)  # type: ignore[arg-type]


def test_the_defaults_stop_on_a_plateau_of_3_or_after_20_experiments() -> None:
    made = config(time_budget=300.0)
    assert (made.time_budget, made.plateau, made.max_iterations) == (300.0, 3, 20)


def test_plateau_zero_turns_the_rule_off_and_negatives_are_refused() -> None:
    assert config(plateau=0).plateau is None
    with pytest.raises(ValidationError):
        config(plateau=-1)


def test_the_constraints_file_limits_win_over_the_run_config() -> None:
    state = SessionState(run_id="r", config=config(plateau=0))
    assert (state.plateau, state.max_iterations) == (None, 20)
    state.constraints = Constraints(plateau=4, max_iterations=0)
    assert (state.plateau, state.max_iterations) == (4, 0)
    state = SessionState(run_id="r", config=config(plateau=5, max_iterations=9))
    assert (state.plateau, state.max_iterations) == (5, 9)


def test_folds_default_to_5_and_to_3_from_20000_search_rows_on_a_short_budget() -> None:
    assert default_folds(LARGE_TABLE_ROWS - 1, 60) == 5
    assert default_folds(LARGE_TABLE_ROWS, 60) == 3
    # 40,000 search rows: 3 folds under 160 s, 5 from there
    assert default_folds(40_000, 159) == 3
    assert default_folds(40_000, 160) == 5
    assert default_folds(40_000, 300) == 5
    assert config().folds is None  # chosen when the data loads


def test_the_folds_given_win_over_the_size_rule() -> None:
    assert SessionState(run_id="r", config=config(folds=5)).folds == 5
    assert SessionState(run_id="r", config=config()).folds == 5  # no data yet: the small rule
