"""When to stop iterating: small criteria, each answering "stop now?" with a reason or None.

In the style of Optuna's ``BaseTerminator``: every criterion looks at one read-only
``TerminationView`` of the run and returns a short human sentence when the run should end.
``check_termination`` asks each criterion in turn and returns the first reason.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

from ml_autopilot.catalog.metrics import relative_improvement
from ml_autopilot.log import get_logger
from ml_autopilot.state import ExperimentRecord, MetricInfo

log = get_logger("termination")


PLATEAU_REASON = "plateau:"  # how the plateau criterion's reason begins


@dataclass(frozen=True)
class TerminationView:
    """Everything the criteria may look at; ``records`` includes the baseline (iteration 0)."""

    records: list[ExperimentRecord]
    metric: MetricInfo
    max_iterations: int
    time_used: float
    time_budget: float
    plateau: int | None  # None: the plateau rule is off (--plateau 0)
    min_improvement: float
    target_score: float | None = None
    planner_stop_reason: str | None = None
    in_flight: int = 0  # experiments running now: they count toward max iterations

    @property
    def experiments_after_baseline(self) -> int:
        """Designed experiments; ensembles (blends of them, nothing trained) are not counted."""
        return sum(1 for r in self.records if r.iteration > 0 and r.spec.model != "ensemble")

    def scores(self) -> list[float]:
        """CV scores of the successful records, in iteration order."""
        return [s for r in self.records if (s := _score(r)) is not None]

    def best_score(self) -> float | None:
        scores = self.scores()
        if not scores:
            return None
        return max(scores) if self.metric.direction == "maximize" else min(scores)


class Criterion(ABC):
    """One reason to stop; ``should_stop`` returns a short sentence, or None to go on."""

    @abstractmethod
    def should_stop(self, view: TerminationView) -> str | None: ...


class MaxIterations(Criterion):
    """Stop once ``max_iterations`` experiments have run after the baseline."""

    def should_stop(self, view: TerminationView) -> str | None:
        if view.experiments_after_baseline + view.in_flight >= view.max_iterations:
            return f"max iterations ({view.max_iterations}) reached"
        return None


class TimeBudget(Criterion):
    """Stop once the run has used its whole time budget."""

    def should_stop(self, view: TerminationView) -> str | None:
        if view.time_used >= view.time_budget:
            return (
                f"time budget of {_num(view.time_budget)} s used ({view.time_used:.0f} s elapsed)"
            )
        return None


class Plateau(Criterion):
    """Stop after ``plateau`` experiments without a ``min_improvement`` relative gain.

    Experiments are counted after the last one that raised the best-so-far by at least
    ``min_improvement`` (the first success always does); failures count too. Smaller gains do
    not move the reference, so a slow creep of tiny improvements still ends in a plateau.
    The baseline is never counted, so it alone cannot trigger a stop. Pruned experiments are
    not counted either: they stopped after a fold or two so that their time would go to the
    search (see ml_autopilot.pruning), which counting them would end instead.
    """

    def should_stop(self, view: TerminationView) -> str | None:
        if view.plateau is None:
            return None
        reference, since = self._reference_and_count(view)
        if since < view.plateau:
            return None
        if reference is None:
            return f"{PLATEAU_REASON} {since} experiments without a successful result"
        return (
            f"{PLATEAU_REASON} {since} experiments without a {_pct(view.min_improvement)} "
            f"improvement over {_num(reference)}"
        )

    @staticmethod
    def _reference_and_count(view: TerminationView) -> tuple[float | None, int]:
        """The best-so-far at its last real improvement, and experiments since then."""
        reference: float | None = None
        since = 0
        for record in sorted(view.records, key=lambda r: r.iteration):
            score = _score(record)
            improved = score is not None and (
                reference is None or _improves(score, reference, view)
            )
            if improved:
                reference, since = score, 0
            elif record.iteration > 0 and record.result.status != "pruned":
                since += 1
        return reference, since


class TargetReached(Criterion):
    """Stop once the best CV score reaches the target (ties count)."""

    def should_stop(self, view: TerminationView) -> str | None:
        if view.target_score is None:
            return None
        best = view.best_score()
        if best is None:
            return None
        maximize = view.metric.direction == "maximize"
        reached = best >= view.target_score if maximize else best <= view.target_score
        if not reached:
            return None
        sign = ">=" if maximize else "<="
        return f"target {view.metric.name} {sign} {_num(view.target_score)} reached ({_num(best)})"


class PlannerRecommendsStop(Criterion):
    """Stop when the planner says there is nothing worth trying."""

    def should_stop(self, view: TerminationView) -> str | None:
        reason = (view.planner_stop_reason or "").strip()
        return f"planner recommends stopping: {reason}" if reason else None


def default_criteria() -> list[Criterion]:
    """Every criterion, the most informative reason first."""
    return [TargetReached(), MaxIterations(), TimeBudget(), Plateau(), PlannerRecommendsStop()]


def check_termination(view: TerminationView, criteria: list[Criterion] | None = None) -> str | None:
    """The first criterion's reason to stop, or None when the run should go on."""
    for criterion in default_criteria() if criteria is None else criteria:
        reason = criterion.should_stop(view)
        if reason is not None:
            log.debug("termination: %s", reason)
            return reason
    return None


def _improves(score: float, reference: float, view: TerminationView) -> bool:
    """A strict gain of at least ``min_improvement`` (relative; absolute when reference is 0)."""
    gain = relative_improvement(score, reference, view.metric.direction)
    return gain > 0 and gain >= view.min_improvement - 1e-12


def _score(record: ExperimentRecord) -> float | None:
    result = record.result
    if result.status != "success" or result.cv_score is None or not math.isfinite(result.cv_score):
        return None
    return result.cv_score


def _num(value: float) -> str:
    """Numbers for reasons: 0.8123, 45000, 44210.3."""
    if abs(value) >= 1000:
        return f"{value:.1f}".removesuffix(".0")
    return f"{value:.4g}"


def _pct(fraction: float) -> str:
    return f"{100 * fraction:.3g}%"
