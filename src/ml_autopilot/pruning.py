"""Pruning: stop an expensive experiment's cross-validation once a fold shows it cannot compete.

Every experiment's script splits the rows into the same folds (same splitter, same seed), so
fold k of a new experiment can be compared with fold k of the best single model so far. When a
fold scores worse than the best's by more than ``PRUNE_MARGIN`` (relative), the script stops
and reports the folds it scored with the status ``pruned``; the time the other folds would
have taken goes to the search. Only experiments expected to cost a noticeable share of the
budget are pruned (a cheap one costs little to finish and may still help a blend), and only on
tables whose validation folds hold enough rows for one fold's verdict: on a small table a
fold's score moves by more than the margin from one model to the next by chance.

The limits reach the generated script as a plain list of numbers (a safe literal).
"""

from __future__ import annotations

from dataclasses import dataclass

from ml_autopilot.planning.costs import estimate_duration
from ml_autopilot.state import ExperimentSpec, SessionState

# A fold this much worse (relative) than the same fold of the best single model ends the run.
PRUNE_MARGIN = 0.05
# Only experiments expected to take at least this share of the run's budget are pruned.
PRUNE_MIN_BUDGET_SHARE = 0.05
# ... and only when each validation fold holds at least this many rows.
PRUNE_MIN_FOLD_ROWS = 1_000


@dataclass(frozen=True)
class PruneLimits:
    """Per fold, the score beyond which the experiment stops; and the metric's direction."""

    limits: list[float]
    maximize: bool
    reference: str  # the best single model the limits come from

    def as_literal(self) -> dict[str, object]:
        """The plain values the generated script receives."""
        return {"limits": self.limits, "maximize": self.maximize, "reference": self.reference}


def prune_limits(state: SessionState, spec: ExperimentSpec) -> PruneLimits | None:
    """The limits for ``spec``'s folds, or None when it should run every fold: folds too small
    to judge by, no best single model with a score per fold yet, or an experiment not expected
    to cost enough to prune."""
    if state.data is None or state.data.n_train < PRUNE_MIN_FOLD_ROWS * state.folds:
        return None
    singles = state.ranked_singles()
    if not singles:
        return None
    best = singles[0]
    folds = best.result.fold_scores
    if len(folds) != state.folds:
        return None
    expected = estimate_duration(spec.model, spec.params, state.experiments)
    if expected is None or expected < PRUNE_MIN_BUDGET_SHARE * state.config.time_budget:
        return None
    maximize = state.metric.direction == "maximize"
    sign = -1.0 if maximize else 1.0
    limits = [score + sign * PRUNE_MARGIN * abs(score) for score in folds]
    return PruneLimits(limits=limits, maximize=maximize, reference=best.spec.name)


__all__ = [
    "PRUNE_MARGIN",
    "PRUNE_MIN_BUDGET_SHARE",
    "PRUNE_MIN_FOLD_ROWS",
    "PruneLimits",
    "prune_limits",
]
