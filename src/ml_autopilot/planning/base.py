"""The planner interface (ask/tell style) and the baseline every session starts from.

A planner proposes the next experiment, observes each finished one, ranks hypotheses about what
to try next, and may recommend stopping. The offline optimizer and the LLM planner both
implement it; the session never knows which one it talks to.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from ml_autopilot.config import TaskType
from ml_autopilot.state import (
    Constraints,
    DataProfile,
    ExperimentRecord,
    ExperimentSpec,
    Hypothesis,
    HypothesisSet,
    LlmUsage,
    MetricInfo,
    Preprocessing,
    ResearchDirection,
    SessionState,
)


@dataclass
class PlanningContext:
    """What a planner may see. The holdout is not in it, by construction."""

    task: TaskType
    metric: MetricInfo
    profile: DataProfile
    constraints: Constraints
    history: list[ExperimentRecord] = field(default_factory=list)
    hypothesis: Hypothesis | None = None
    time_left: float = float("inf")
    iteration: int = 1
    pending: list[ExperimentSpec] = field(default_factory=list)
    directions: list[ResearchDirection] = field(default_factory=list)


class Planner(ABC):
    """Designs experiments. ``propose`` may be called again before ``observe`` (ask/tell)."""

    name: str = "planner"
    #: Whether ``propose`` can design the first experiment before the baseline's result is in
    #: (the session then runs it beside the baseline when a worker is free).
    designs_before_baseline: bool = False

    @abstractmethod
    def propose(self, context: PlanningContext) -> ExperimentSpec | None:
        """The next experiment, or None when there is nothing left worth trying."""

    @abstractmethod
    def observe(self, record: ExperimentRecord) -> None:
        """Learn from a finished experiment (successful or not)."""

    @abstractmethod
    def hypothesise(self, context: PlanningContext) -> HypothesisSet:
        """Two or three ranked hypotheses; the top one feeds the next design."""

    def stop_reason(self, context: PlanningContext) -> str | None:
        """A reason to stop now, or None to go on."""
        return None

    def update_constraints(self, constraints: Constraints) -> None:
        """Take a person's steering into account from the next proposal on."""
        return None

    def describe_direction(self, name: str) -> str:
        """Why a research direction this planner uses is worth pursuing."""
        return ""

    def observations(self, record: ExperimentRecord, context: PlanningContext) -> list[str]:
        """Extra observations on a finished experiment (the LLM's reading of it)."""
        return []

    def export_memory(self) -> dict[str, Any]:
        """What must survive a resume (e.g. an LLM conversation); saved with the state."""
        return {}

    def usage(self) -> LlmUsage | None:
        """Token use so far, for planners that call a language model."""
        return None

    def narrative(self, state: SessionState) -> dict[str, str]:
        """Report sections written by the planner (executive summary, insights, ...)."""
        return {}


# Onehot columns x classes up to which the baseline's logistic regression uses a Newton solver:
# its Hessian is that number squared (1,500 -> 18 MB), and it converges in a few steps where
# L-BFGS takes hundreds (connect-4, 126 columns x 3 classes: 0.9 s instead of 2.9 s per fit).
NEWTON_MAX_PARAMS = 1500
ONEHOT_MAX_CATEGORIES = 32  # as the template's OneHotEncoder(max_categories=32)


def baseline_spec(
    task: TaskType, profile: DataProfile | None = None, n_classes: int = 2
) -> ExperimentSpec:
    """The plain linear model every session measures itself against."""
    model = "linear_regression" if task == "regression" else "logistic_regression"
    params: dict[str, Any] = {}
    if model == "logistic_regression" and profile is not None:
        outputs = n_classes if n_classes > 2 else 1
        if onehot_width(profile) * outputs <= NEWTON_MAX_PARAMS:
            params["solver"] = "newton-cholesky"
    return ExperimentSpec(
        name="baseline",
        model=model,
        params=params,
        preprocessing=Preprocessing(imputation="median", scaling="standard", encoding="onehot"),
        hypothesis="A linear model with default settings sets the bar every later model must beat.",
        reasoning="Baseline: standard imputation, scaling and one-hot encoding; no tuning.",
        planner="baseline",
        source="baseline",
        direction="baseline",
    )


def onehot_width(profile: DataProfile) -> int:
    """Columns a model sees after one-hot encoding (an upper bound: the target may be counted)."""
    excluded = set(profile.excluded_columns)
    numeric = [c for c in profile.numeric_columns if c not in excluded]
    categorical = [c for c in profile.categorical_columns if c not in excluded]
    # each categorical: its levels up to the encoder's cap, plus the missing/infrequent column
    return len(numeric) + sum(
        min(profile.column(c).n_unique, ONEHOT_MAX_CATEGORIES) + 1 for c in categorical
    )
