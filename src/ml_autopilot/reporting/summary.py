"""Facts derived from a session state, shared by the report, the plots and the dashboard.

Everything here is pure: a ``SessionState`` in, plain numbers and records out. Nothing reads
files, so the three outputs cannot disagree about what happened.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

from ml_autopilot.catalog.metrics import is_better, relative_improvement
from ml_autopilot.catalog.models import CATALOG
from ml_autopilot.state import Direction, ExperimentRecord, Preprocessing, SessionState

ENSEMBLE = "ensemble"
GAP_EPSILON = 1e-9
ZOOM_BELOW_SPREAD = 0.25
MANY_FAILURES_SHARE = 0.25
NO_DIRECTION = "(no direction)"


def score(record: ExperimentRecord) -> float | None:
    """The CV score of a successful record, None otherwise (failed, timed out, not finite)."""
    value = record.result.cv_score
    if record.result.status != "success" or value is None or not math.isfinite(value):
        return None
    return value


def model_label(model: str) -> str:
    """The catalog's display name of a model key, e.g. ``LightGBM``; the key if unknown."""
    entry = CATALOG.get(model)
    return entry.label if entry else model.replace("_", " ").capitalize()


def baseline_record(state: SessionState) -> ExperimentRecord | None:
    """The baseline experiment when it succeeded."""
    record = next((r for r in state.experiments if r.iteration == 0), None)
    return record if record is not None and score(record) is not None else None


def final_record(state: SessionState) -> ExperimentRecord | None:
    """The experiment the final model was refit from (the best, or the baseline fallback)."""
    if state.final is None:
        return state.best()
    return next((r for r in state.experiments if r.iteration == state.final.iteration), None)


def gain_over(value: float, reference: float, direction: Direction) -> float:
    """Relative improvement of ``value`` over ``reference``; positive is better."""
    return relative_improvement(value, reference, direction)


def best_so_far(state: SessionState) -> list[tuple[int, float | None]]:
    """(iteration, best CV score up to and including it) for every experiment, in order."""
    if not state.experiments:
        return []
    direction = state.metric.direction
    best: float | None = None
    series: list[tuple[int, float | None]] = []
    for record in sorted(state.experiments, key=lambda r: r.iteration):
        value = score(record)
        if value is not None and (best is None or is_better(value, best, direction)):
            best = value
        series.append((record.iteration, best))
    return series


@dataclass(frozen=True)
class GroupBest:
    """The best experiment of a group (a model family or a research direction)."""

    group: str
    record: ExperimentRecord
    n_experiments: int
    n_successful: int

    @property
    def cv_score(self) -> float:
        value = score(self.record)
        assert value is not None
        return value

    @property
    def cv_std(self) -> float:
        return self.record.result.cv_std or 0.0


def _best_per(state: SessionState, groups: dict[str, list[ExperimentRecord]]) -> list[GroupBest]:
    if not groups:
        return []
    direction = state.metric.direction
    sign = 1.0 if direction == "maximize" else -1.0
    out: list[GroupBest] = []
    for group, records in groups.items():
        scored = [r for r in records if score(r) is not None]
        if not scored:
            continue
        best = max(scored, key=lambda r: (sign * (score(r) or 0.0), -r.iteration))
        out.append(GroupBest(group, best, len(records), len(scored)))
    return sorted(out, key=lambda g: sign * g.cv_score, reverse=True)


def best_per_model(state: SessionState) -> list[GroupBest]:
    """Best experiment per model family (catalog key), best family first."""
    groups: dict[str, list[ExperimentRecord]] = {}
    for record in state.experiments:
        groups.setdefault(record.spec.model, []).append(record)
    return _best_per(state, groups)


def by_direction(state: SessionState) -> dict[str, list[ExperimentRecord]]:
    """Experiments grouped by research direction, in first-seen order; empty when none has one."""
    if not any(r.spec.direction for r in state.experiments):
        return {}
    groups: dict[str, list[ExperimentRecord]] = {}
    for record in state.experiments:
        groups.setdefault(record.spec.direction or NO_DIRECTION, []).append(record)
    return groups


def best_per_direction(state: SessionState) -> list[GroupBest]:
    """Best experiment per research direction, best first; empty when there are none."""
    return _best_per(state, by_direction(state))


@dataclass(frozen=True)
class PreprocessingEffect:
    """Two successful experiments that differ only in preprocessing."""

    first: ExperimentRecord
    second: ExperimentRecord
    differences: dict[str, tuple[str, str]]
    gain: float  # relative gain of the second over the first; positive is better

    def describe(self) -> str:
        return ", ".join(f"{key} {a} -> {b}" for key, (a, b) in self.differences.items())


def preprocessing_effects(state: SessionState) -> list[PreprocessingEffect]:
    """Pairs of experiments with the same model and parameters but other preprocessing."""
    scored = [r for r in state.experiments if score(r) is not None]
    if len(scored) < 2:
        return []
    direction = state.metric.direction
    effects: list[PreprocessingEffect] = []
    for first, second in combinations(sorted(scored, key=lambda r: r.iteration), 2):
        if first.spec.model != second.spec.model or first.spec.params != second.spec.params:
            continue
        differences = _differences(first.spec.preprocessing, second.spec.preprocessing)
        if differences:
            gain = gain_over(score(second) or 0.0, score(first) or 0.0, direction)
            effects.append(PreprocessingEffect(first, second, differences, gain))
    return effects


def _differences(a: Preprocessing, b: Preprocessing) -> dict[str, tuple[str, str]]:
    left, right = a.model_dump(), b.model_dump()
    return {k: (str(left[k]), str(right[k])) for k in left if left[k] != right[k]}


@dataclass(frozen=True)
class Gap:
    """Holdout score of the final model against its CV estimate."""

    cv_score: float
    cv_std: float
    holdout: float
    difference: float
    beyond_noise: bool
    holdout_better: bool

    def verdict(self) -> str:
        if not self.beyond_noise:
            return (
                "consistent: the holdout score is within two CV standard deviations of the CV "
                "estimate"
            )
        side = "better" if self.holdout_better else "worse"
        return (
            f"larger than CV noise explains (more than two CV standard deviations): the holdout "
            f"is {side} than cross-validation suggested"
        )


def holdout_gap(state: SessionState) -> Gap | None:
    """The CV-vs-holdout gap of the final model; None without a holdout score."""
    final = state.final
    record = final_record(state)
    if final is None or final.holdout_score is None or record is None:
        return None
    cv = score(record)
    if cv is None:
        return None
    std = record.result.cv_std or 0.0
    difference = final.holdout_score - cv
    return Gap(
        cv_score=cv,
        cv_std=std,
        holdout=final.holdout_score,
        difference=difference,
        beyond_noise=abs(difference) > 2 * std + GAP_EPSILON,
        holdout_better=is_better(final.holdout_score, cv, state.metric.direction),
    )


@dataclass(frozen=True)
class Counts:
    """How many experiments ended each way."""

    total: int
    success: int
    failed: int
    timeout: int
    pruned: int = 0  # stopped after a fold that could not compete: a verdict, not a failure

    @property
    def unsuccessful(self) -> int:
        return self.failed + self.timeout

    @property
    def many_failures(self) -> bool:
        return self.total > 0 and self.unsuccessful / self.total >= MANY_FAILURES_SHARE


def counts(state: SessionState) -> Counts:
    statuses = [r.result.status for r in state.experiments]
    return Counts(
        total=len(statuses),
        success=statuses.count("success"),
        failed=statuses.count("failed"),
        timeout=statuses.count("timeout"),
        pruned=statuses.count("pruned"),
    )


def last_trend(state: SessionState) -> str | None:
    """The trend the analysis saw after the last experiment."""
    for record in sorted(state.experiments, key=lambda r: r.iteration, reverse=True):
        if record.analysis is not None:
            return record.analysis.trend
    return None


def is_plateau(state: SessionState) -> bool:
    reason = (state.termination_reason or "").lower()
    return reason.startswith("plateau") or last_trend(state) == "plateau"


def improvement_per_experiment(state: SessionState) -> list[tuple[ExperimentRecord, float]]:
    """(record, relative gain over the baseline) for every scored experiment after it."""
    baseline = baseline_record(state)
    if baseline is None:
        return []
    reference = score(baseline)
    assert reference is not None
    direction = state.metric.direction
    return [
        (r, gain_over(score(r) or 0.0, reference, direction))
        for r in sorted(state.experiments, key=lambda r: r.iteration)
        if r.iteration != 0 and score(r) is not None
    ]


def zoomed_range(values: list[float], errors: list[float]) -> tuple[float, float] | None:
    """An axis range around positive scores too close to tell apart on an axis from 0.

    None when the axis should start at 0 (the spread is large enough, or values are not all
    positive).
    """
    if not values:
        return None
    low = min(v - e for v, e in zip(values, errors, strict=True))
    high = max(v + e for v, e in zip(values, errors, strict=True))
    if low <= 0 or (high - low) / high >= ZOOM_BELOW_SPREAD:
        return None
    span = high - low or abs(high) * 0.01
    return max(0.0, low - 0.15 * span), high + 0.3 * span


def ensemble_members(
    state: SessionState, record: ExperimentRecord
) -> list[tuple[ExperimentRecord, float]]:
    """(member experiment, weight) of an ensemble experiment; empty for a single model."""
    params = record.spec.params
    members, weights = params.get("members"), params.get("weights")
    if record.spec.model != ENSEMBLE or not isinstance(members, list):
        return []
    if not isinstance(weights, list) or len(weights) != len(members):
        weights = [1.0 / len(members)] * len(members)
    by_iteration = {r.iteration: r for r in state.experiments}
    return [
        (by_iteration[int(i)], float(w))
        for i, w in zip(members, weights, strict=True)
        if int(i) in by_iteration
    ]
