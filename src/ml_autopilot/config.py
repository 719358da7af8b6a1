"""One validated run configuration, built before any work starts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

TaskType = Literal["classification", "regression"]


def default_workers_threads() -> int:
    """Threads one experiment may use: every core this process is allowed to run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


class RunConfig(BaseModel):
    """Everything a session needs to know about what the user asked for."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_path: str
    target: str
    output_dir: str
    task: TaskType | None = None
    metric: str | None = None
    constraints_path: str | None = None
    max_iterations: int = Field(20, ge=0, description="experiments after the baseline")
    time_budget: float = Field(3600.0, gt=0, description="seconds for the whole run")
    plateau: int | None = Field(
        3, ge=1, description="experiments without enough improvement; None: the rule is off"
    )
    min_improvement: float = Field(0.005, ge=0, description="relative gain that counts")
    target_score: float | None = None
    holdout: float = Field(0.2, gt=0, lt=0.9)
    refit_full: bool = Field(
        True,
        description="after the holdout is scored, save the same recipe refit on all rows "
        "(holdout included) when it fits in the budget",
    )
    folds: int | None = Field(
        None,
        ge=2,
        le=20,
        description="cross-validation folds; None: chosen from the search rows and the budget "
        "when the data is loaded (default_folds), then stored here",
    )
    seed: int = 42
    n_threads: int = Field(
        default_factory=default_workers_threads, ge=1, description="cores the session may use"
    )
    workers: int = Field(
        default_factory=default_workers_threads, ge=1, description="experiments at once"
    )
    executor: Literal["local", "warm", "dask"] = "warm"
    scheduler: str | None = Field(None, description="Dask scheduler address; None: LocalCluster")
    experiment_timeout: float | None = Field(None, gt=0, description="cap per experiment, s")
    memory_limit_mb: int | None = Field(None, gt=0)
    planner: Literal["auto", "optimizer", "llm"] = "auto"
    llm_model: str | None = None
    llm_base_url: str | None = None
    llm_budget: int | None = Field(None, gt=0, description="tokens the LLM may use in all")
    llm_temperature: float = Field(1.0, ge=0, le=2)
    llm_thinking: Literal["off", "low", "medium", "high"] = "high"
    tracking_uri: str | None = None

    @property
    def threads_per_experiment(self) -> int:
        """Threads one experiment gets, so that parallel experiments share the cores."""
        return max(1, self.n_threads // self.workers)

    @field_validator("plateau", mode="before")
    @classmethod
    def _plateau_zero_is_off(cls, value: object) -> object:
        return None if value == 0 else value

    @field_validator("data_path", "output_dir")
    @classmethod
    def _absolute(cls, value: str) -> str:
        return str(Path(value).expanduser().resolve())


FOLDS = 5
LARGE_TABLE_FOLDS = 3
# From this many search rows, 3 folds when the budget is short for them: each validation fold
# still holds 6,700+ rows, and 3 fits on 2/3 of the rows cost half of 5 fits on 4/5, so the
# budget buys twice the search (connect-4, 40,000 search rows, at 60 s: log loss 0.352 with 3
# folds, 0.40 with 5). With time to spare, 5 folds win: their models train on 4/5 of the rows,
# which ranks the candidates closer to the final refit on all of them (connect-4 at 300 s: 0.337
# with 5 folds, 0.347 with 3; adult and diamonds at 300 s no worse with 5).
LARGE_TABLE_ROWS = 20_000
# "Short": under this many seconds of budget per 1,000 search rows (connect-4: 162 s).
SECONDS_PER_1000_ROWS_FOR_5_FOLDS = 4.0


def default_folds(n_search_rows: int, time_budget: float) -> int:
    """Cross-validation folds when the user gave none: 3 on a large table whose budget is
    short for its size, else 5."""
    short = time_budget * 1000 < SECONDS_PER_1000_ROWS_FOR_5_FOLDS * n_search_rows
    return LARGE_TABLE_FOLDS if n_search_rows >= LARGE_TABLE_ROWS and short else FOLDS
