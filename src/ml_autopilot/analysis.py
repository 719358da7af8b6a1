"""Analyse one finished experiment against the ones before it.

``analyse`` compares the current result with the baseline, the best and the previous successful
experiments, classifies the recent trend of CV scores, and writes a few plain-English
observations a data scientist can read at a glance. It is pure: numbers in, an ``Analysis`` out.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

from ml_autopilot.catalog.metrics import is_better, relative_improvement
from ml_autopilot.state import (
    Analysis,
    Comparison,
    Direction,
    ExperimentRecord,
    ExperimentResult,
    MetricInfo,
    Trend,
)

TREND_WINDOW = 3
PLATEAU_SPREAD = 0.005  # relative spread of the window below which scores are "flat"
SLOW_FACTOR = 3.0  # an experiment this many times the median duration is called out
MAX_OBSERVATIONS = 5
_ZERO = 1e-12

Reference = Literal["baseline", "best", "previous"]


def analyse(
    history: list[ExperimentRecord],
    current: ExperimentResult,
    iteration: int,
    metric: MetricInfo,
    *,
    model: str | None = None,
) -> Analysis:
    """Analyse ``current`` (experiment number ``iteration``) given every earlier record."""
    earlier = [r for r in history if r.iteration != iteration and score_of(r.result) is not None]
    earlier.sort(key=lambda r: r.iteration)
    score = score_of(current)
    comparisons = _comparisons(earlier, score, metric.direction) if score is not None else []
    best = best_record(earlier, metric.direction)
    is_new_best = score is not None and (
        best is None or is_better(score, _score(best), metric.direction)
    )
    window = [_score(r) for r in earlier] + ([score] if score is not None else [])
    trend = classify_trend(window[-TREND_WINDOW:], metric.direction)
    facts = _Facts(
        history=history,
        current=current,
        iteration=iteration,
        metric=metric,
        name=model or ("the baseline" if iteration == 0 else f"experiment {iteration}"),
        named=bool(model),
        by_kind={c.reference: c for c in comparisons},
        best=best,
        is_new_best=is_new_best,
    )
    return Analysis(
        is_new_best=is_new_best,
        comparisons=comparisons,
        trend=trend,
        observations=_observations(facts, trend, window[-TREND_WINDOW:]),
    )


# --- numbers -----------------------------------------------------------------------------------


def score_of(result: ExperimentResult) -> float | None:
    """The CV score of a successful result, or None when there is no usable score."""
    if result.status != "success" or result.cv_score is None:
        return None
    return result.cv_score if math.isfinite(result.cv_score) else None


def _score(record: ExperimentRecord) -> float:
    value = score_of(record.result)
    assert value is not None, "only records with a score are compared"
    return value


def best_record(records: list[ExperimentRecord], direction: Direction) -> ExperimentRecord | None:
    """The scored record with the best CV score; the earliest wins ties."""
    best: ExperimentRecord | None = None
    for record in records:
        if score_of(record.result) is None:
            continue
        if best is None or is_better(_score(record), _score(best), direction):
            best = record
    return best


def compare(
    score: float, reference: ExperimentRecord, kind: Reference, direction: Direction
) -> Comparison:
    """How ``score`` differs from a reference record's CV score."""
    ref = _score(reference)
    change = score - ref
    return Comparison(
        reference=kind,
        reference_iteration=reference.iteration,
        reference_score=ref,
        change=change,
        pct_change=100.0 * change / abs(ref) if abs(ref) >= _ZERO else None,
        better=is_better(score, ref, direction),
    )


def _comparisons(
    earlier: list[ExperimentRecord], score: float, direction: Direction
) -> list[Comparison]:
    references: list[tuple[Reference, ExperimentRecord | None]] = [
        ("baseline", next((r for r in earlier if r.iteration == 0), None)),
        ("best", best_record(earlier, direction)),
        ("previous", earlier[-1] if earlier else None),
    ]
    return [compare(score, ref, kind, direction) for kind, ref in references if ref is not None]


def classify_trend(scores: list[float], direction: Direction) -> Trend:
    """Trend of the last scores (oldest first): strictly monotone, flat, or neither."""
    if len(scores) < TREND_WINDOW:
        return "initial"
    pairs = list(pairwise(scores))
    if all(is_better(new, old, direction) for old, new in pairs):
        return "improving"
    if all(is_better(old, new, direction) for old, new in pairs):
        return "degrading"
    scale = max(abs(s) for s in scores)
    spread = max(scores) - min(scores)
    if scale < _ZERO or spread / scale < PLATEAU_SPREAD:
        return "plateau"
    return "fluctuating"


# --- sentences ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Facts:
    """What the sentence builders need, gathered once."""

    history: list[ExperimentRecord]
    current: ExperimentResult
    iteration: int
    metric: MetricInfo
    name: str
    named: bool
    by_kind: dict[str, Comparison]
    best: ExperimentRecord | None
    is_new_best: bool

    @property
    def subject(self) -> str:
        """The name at the start of a sentence: model names keep their case."""
        return self.name if self.named else self.name[:1].upper() + self.name[1:]


def fmt(value: float) -> str:
    """A score or duration with sensible precision: 0.8123, 44210.3, 0.000123."""
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.1f}"
    if 0 < magnitude < 0.01:
        return f"{value:.3g}"
    return f"{value:.4f}"


def _label(record: ExperimentRecord) -> str:
    return f"iteration {record.iteration} ({record.spec.model})"


def _observations(facts: _Facts, trend: Trend, window: list[float]) -> list[str]:
    score = score_of(facts.current)
    if score is None:
        sentences = [_failure_sentence(facts), _standing_sentence(facts)]
    else:
        sentences = [
            _score_sentence(facts, score),
            _best_sentence(facts, score),
            _noise_sentence(facts),
        ]
    sentences += [_duration_sentence(facts), _trend_sentence(trend, window)]
    return [s for s in sentences if s][:MAX_OBSERVATIONS]


def _failure_sentence(facts: _Facts) -> str:
    result = facts.current
    if result.status == "success":
        return f"{facts.subject} finished without a usable CV score."
    detail = _error_line(result.error)
    if result.status == "pruned":
        return f"Stopped early ({facts.name}): {detail}."
    if result.status == "timeout":
        head = f"Timed out after {result.duration:.1f} s ({facts.name})"
        return f"{head}: {detail}" if result.error else f"{head}."
    return f"Failed ({facts.name}): {detail}"


def _error_line(error: str | None) -> str:
    """The first line of an error; for a Python traceback, its last line (the exception)."""
    lines = [line.strip() for line in (error or "").splitlines() if line.strip()]
    if not lines:
        return "no error message"
    line = lines[-1] if lines[0].startswith("Traceback (most recent call last)") else lines[0]
    return line[:200]


def _standing_sentence(facts: _Facts) -> str:
    if facts.best is None:
        return "No experiment has produced a score yet."
    best = facts.best
    return f"Best is still {_label(best)} at {fmt(_score(best))} {facts.metric.name}."


def _score_sentence(facts: _Facts, score: float) -> str:
    head = f"{facts.subject} scored {fmt(score)} {facts.metric.name}"
    std = facts.current.cv_std
    baseline = facts.by_kind.get("baseline")
    if baseline is not None and facts.iteration != 0:
        verdict = "better" if baseline.better else "same" if baseline.change == 0 else "worse"
        return f"{head} ({_pct(baseline)} vs baseline, {verdict})."
    if std is not None:
        return f"{head} (CV std {fmt(std)})."
    return f"{head}."


def _best_sentence(facts: _Facts, score: float) -> str:
    best = facts.by_kind.get("best")
    if best is None or facts.best is None:
        if facts.iteration == 0:
            return "This is the baseline every later experiment is compared with."
        return "First successful experiment; it sets the best score so far."
    gain = abs(relative_improvement(score, best.reference_score, facts.metric.direction))
    amount = f"{100 * gain:.1f}%" if abs(best.reference_score) >= _ZERO else fmt(abs(best.change))
    if facts.is_new_best:
        return f"New best, beating {_label(facts.best)} by {amount}."
    if best.change == 0:
        return f"Ties the best, {_label(facts.best)}."
    return f"{amount} short of the best, {_label(facts.best)} at {fmt(best.reference_score)}."


def _noise_sentence(facts: _Facts) -> str | None:
    best = facts.by_kind.get("best")
    std = facts.current.cv_std
    if best is None or std is None or best.change == 0 or std <= abs(best.change):
        return None
    gap = "gain over" if best.better else "gap to"
    return (
        f"CV std {fmt(std)} is large relative to the {gap} the best; the difference may be noise."
    )


def _duration_sentence(facts: _Facts) -> str | None:
    durations = [r.result.duration for r in facts.history if r.result.duration > 0]
    took = facts.current.duration
    if not durations or took <= 0:
        return None
    median = statistics.median(durations)
    if median <= 0 or took < SLOW_FACTOR * median:
        return None
    return f"Took {took:.1f} s, {took / median:.0f}x the median experiment."


def _trend_sentence(trend: Trend, window: list[float]) -> str | None:
    if trend == "initial":
        return None
    wording = {"plateau": "flat", "improving": "improving", "degrading": "getting worse"}
    scores = ", ".join(fmt(s) for s in window)
    return f"Last {len(window)} scores ({scores}) are {wording.get(trend, 'fluctuating')}."


def _pct(comparison: Comparison) -> str:
    if comparison.pct_change is None:
        return f"{comparison.change:+.4g}"
    return f"{comparison.pct_change:+.1f}%"
