"""A local explore/exploit hint for the model, computed from the run's own numbers.

The hint says "explore" early (few model families tried), on a plateau (the last experiments did
not raise the best by the minimum relative gain) and late in the budget (most iterations or most
of the time used), and "exploit" (refine the best) otherwise. The model is told the hint and the
reason; it labels each hypothesis explore or exploit itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ml_autopilot.catalog.metrics import relative_improvement
from ml_autopilot.config import RunConfig
from ml_autopilot.planning.base import PlanningContext
from ml_autopilot.state import ExperimentRecord, MetricInfo, SessionState

Mode = Literal["explore", "exploit"]
LATE_FRACTION = 0.75
# the hint's plateau when the plateau rule is off (--plateau 0): the run's default
DEFAULT_PLATEAU: int = RunConfig.model_fields["plateau"].default
EARLY_SUCCESSES = 2


@dataclass(frozen=True)
class RunLimits:
    """The budget the run works within, from the configuration and constraints."""

    max_iterations: int = 20
    time_budget: float = 3600.0
    plateau: int = 3
    min_improvement: float = 0.005

    @classmethod
    def from_state(cls, state: SessionState) -> RunLimits:
        config = state.config
        return cls(
            max_iterations=state.max_iterations,
            time_budget=config.time_budget,
            plateau=state.plateau or DEFAULT_PLATEAU,
            min_improvement=config.min_improvement,
        )


@dataclass(frozen=True)
class StrategyHint:
    mode: Mode
    reason: str


def strategy_hint(context: PlanningContext, limits: RunLimits) -> StrategyHint:
    """Explore or exploit next, with the reason in one sentence."""
    history = context.history
    tried = [r for r in history if r.iteration > 0 and _score(r) is not None]
    if len(tried) < EARLY_SUCCESSES:
        return StrategyHint("explore", "early in the run: survey different model families first")
    stale = experiments_without_gain(history, context.metric, limits.min_improvement)
    if stale >= max(1, limits.plateau - 1):
        return StrategyHint(
            "explore",
            f"plateau: the last {stale} experiment(s) did not beat the best by "
            f"{100 * limits.min_improvement:.1g}%; try a different direction",
        )
    iterations_left = limits.max_iterations - context.iteration + 1
    time_used = 1.0 - context.time_left / limits.time_budget if limits.time_budget else 0.0
    if iterations_left <= (1 - LATE_FRACTION) * limits.max_iterations or (
        math.isfinite(time_used) and time_used >= LATE_FRACTION
    ):
        return StrategyHint(
            "explore",
            f"late in the budget ({iterations_left} iteration(s) left, "
            f"{100 * max(time_used, 0.0):.0f}% of the time used): test ideas not yet tried",
        )
    return StrategyHint("exploit", "the search is still improving: refine the best so far")


def experiments_without_gain(
    history: list[ExperimentRecord], metric: MetricInfo, min_improvement: float
) -> int:
    """Experiments since the last one that raised the best by ``min_improvement`` or more."""
    best: float | None = None
    stale = 0
    for record in sorted(history, key=lambda r: r.iteration):
        score = _score(record)
        if score is None:
            stale += 1
            continue
        gain = math.inf if best is None else relative_improvement(score, best, metric.direction)
        if gain > 0:
            best = score
        stale = 0 if gain >= min_improvement else stale + 1
    return stale


def _score(record: ExperimentRecord) -> float | None:
    value = record.result.cv_score if record.result.status == "success" else None
    return value if value is not None and math.isfinite(value) else None
