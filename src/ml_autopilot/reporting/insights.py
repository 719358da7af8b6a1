"""Key insights and recommendations, written by rules from the session's numbers.

Each rule is a small function that returns a sentence (or None when it does not apply), so the
report says only what the run supports; every number goes through ``formatting.num``.
"""

from __future__ import annotations

from collections.abc import Callable

from ml_autopilot.reporting import summary
from ml_autopilot.reporting.formatting import inline, num, pct
from ml_autopilot.state import SessionState

Rule = Callable[[SessionState], str | None]
TREND_WORDS = {
    "improving": "still improving over the last experiments",
    "degrading": "getting worse over the last experiments",
    "plateau": "flat over the last experiments (a plateau)",
    "fluctuating": "fluctuating without a clear direction over the last experiments",
    "initial": "too short to show a trend",
}


# ---- insights --------------------------------------------------------------------------------


def _gain_insight(state: SessionState) -> str | None:
    baseline, best = summary.baseline_record(state), state.best()
    if baseline is None or best is None:
        return None
    if best.iteration == baseline.iteration:
        return (
            f"No experiment beat the baseline ({num(summary.score(baseline))} "
            f"{state.metric.name}); the linear model stayed the best."
        )
    gain = summary.gain_over(
        summary.score(best) or 0.0, summary.score(baseline) or 0.0, state.metric.direction
    )
    return (
        f"The best experiment, `{inline(best.spec.name)}`, improves on the baseline by "
        f"{pct(gain)} ({num(summary.score(baseline))} -> {num(summary.score(best))} "
        f"{state.metric.name})."
    )


def _family_insight(state: SessionState) -> str | None:
    groups = summary.best_per_model(state)
    if not groups:
        return None
    ranking = "; ".join(
        f"{summary.model_label(g.group)} {num(g.cv_score)} (`{inline(g.record.spec.name)}`)"
        for g in groups
    )
    return f"Best CV {state.metric.name} per model family, best first: {ranking}."


def _direction_insight(state: SessionState) -> str | None:
    groups = summary.best_per_direction(state)
    if not groups:
        return None
    ranking = "; ".join(f"{inline(g.group)} {num(g.cv_score)}" for g in groups)
    return f"Best CV {state.metric.name} per research direction, best first: {ranking}."


def _preprocessing_insights(state: SessionState) -> list[str]:
    return [
        f"`{inline(e.first.spec.name)}` and `{inline(e.second.spec.name)}` "
        f"({summary.model_label(e.first.spec.model)}) differ only in preprocessing "
        f"({inline(e.describe())}): {num(summary.score(e.first))} -> "
        f"{num(summary.score(e.second))}, a change of {pct(e.gain)} in the better direction."
        for e in summary.preprocessing_effects(state)
    ]


def _failure_insight(state: SessionState) -> str:
    counts = summary.counts(state)
    if counts.total == 0:
        return "No experiment has run yet."
    pruned = (
        f" {counts.pruned} stopped early after a fold that could not compete (pruned)."
        if counts.pruned
        else ""
    )
    if counts.unsuccessful == 0 and not counts.pruned:
        return f"All {counts.total} experiments ran successfully."
    if counts.unsuccessful == 0:
        finished = counts.total - counts.pruned
        return f"All {finished} experiments that ran every fold succeeded.{pruned}"
    return (
        f"{counts.unsuccessful} of {counts.total} experiments did not finish successfully "
        f"({counts.failed} failed, {counts.timeout} timed out); see the Appendix for their errors."
        f"{pruned}"
    )


def _trend_insight(state: SessionState) -> str | None:
    trend = summary.last_trend(state)
    if trend is None:
        return None
    return f"The CV score was {TREND_WORDS.get(trend, trend)} when the run stopped."


def insights(state: SessionState) -> list[str]:
    """Every insight the data supports, most important first."""
    found: list[str | None] = [
        _gain_insight(state),
        _family_insight(state),
        _direction_insight(state),
        *_preprocessing_insights(state),
        _failure_insight(state),
        _trend_insight(state),
    ]
    return [text for text in found if text]


# ---- recommendations -------------------------------------------------------------------------


def _plateau_rule(state: SessionState) -> str | None:
    if not summary.is_plateau(state):
        return None
    return (
        "The search reached a plateau: more budget for the same search is unlikely to help "
        "much. Try feature engineering (ratios, aggregates, domain features) or more data."
    )


def _still_improving_rule(state: SessionState) -> str | None:
    reason = (state.termination_reason or "").lower()
    stopped_early = reason.startswith(("max iterations", "time budget"))
    if stopped_early and summary.last_trend(state) == "improving":
        return (
            "The score was still improving when the run stopped on its limit; a larger "
            "`--max-iterations` or `--time-budget` is likely to find a better model."
        )
    return None


def _gap_rule(state: SessionState) -> str | None:
    gap = summary.holdout_gap(state)
    if gap is None or not gap.beyond_noise:
        return None
    if gap.holdout_better:
        return (
            "The holdout scored better than CV noise explains; the holdout may be small or "
            "easier than average. Treat the CV estimate as the more conservative figure."
        )
    return (
        "The holdout scored worse than CV noise explains: the model may overfit the search "
        "data or the holdout differs from it. More data, stronger regularisation or a simpler "
        "model should narrow the gap; check for a shift between the two parts."
    )


def _leakage_rules(state: SessionState) -> list[str]:
    if state.profile is None:
        return []
    return [
        f"Investigate column `{inline(w.column)}` for target leakage ({inline(w.message)}); "
        "a feature that is not available at prediction time inflates every score."
        for w in state.profile.warnings
        if w.kind == "leakage" and w.column
    ]


def _failure_rule(state: SessionState) -> str | None:
    counts = summary.counts(state)
    if not counts.many_failures:
        return None
    advice = (
        "raise `--experiment-timeout` or `--time-budget`"
        if counts.timeout >= counts.failed
        else "read the error tails in the Appendix (memory limit, missing library, bad data)"
    )
    return (
        f"{counts.unsuccessful} of {counts.total} experiments failed or timed out; {advice} "
        "before spending more budget."
    )


def _final_rule(state: SessionState) -> str | None:
    final = state.final
    if final is None:
        return "There is no final model; finish the run with `autopilot run --resume`."
    if final.status != "success":
        return f"The final refit failed ({inline(final.error or 'unknown error')}); fix it first."
    best = state.best()
    if best is not None and final.iteration != best.iteration:
        return (
            f"The final model is `{inline(final.name)}`, not the best CV experiment "
            f"`{inline(best.spec.name)}` (its refit failed); investigate that refit."
        )
    return None


def _small_data_rule(state: SessionState) -> str | None:
    if state.profile is None or not any(w.kind == "small_data" for w in state.profile.warnings):
        return None
    return (
        "The data set is small: scores are noisy. Prefer more folds and simpler, regularised "
        "models, and collect more rows if possible."
    )


def _imbalance_rule(state: SessionState) -> str | None:
    target = state.profile.target if state.profile else None
    if target is None or target.balance is None or target.balance >= 0.2:
        return None
    return (
        f"The classes are imbalanced (smallest/largest {num(target.balance)}); consider "
        "`roc_auc` or `log_loss` as the metric and class weights."
    )


def _baseline_best_rule(state: SessionState) -> str | None:
    baseline, best = summary.baseline_record(state), state.best()
    if baseline is None or best is None or best.iteration != baseline.iteration:
        return None
    return (
        "The linear baseline was never beaten: the signal may be mostly linear, or the data "
        "too small for complex models. Feature engineering is the next lever."
    )


RECOMMENDATION_RULES: tuple[Rule, ...] = (
    _final_rule,
    _plateau_rule,
    _still_improving_rule,
    _gap_rule,
    _failure_rule,
    _baseline_best_rule,
    _small_data_rule,
    _imbalance_rule,
)


def recommendations(state: SessionState) -> list[str]:
    """Every recommendation whose rule applies; a default one when none does."""
    found = [text for rule in RECOMMENDATION_RULES if (text := rule(state))]
    found[1:1] = _leakage_rules(state)
    if not found:
        found.append(
            "No rule flagged a problem. The model is ready for `autopilot predict`; monitor "
            "its score on new data against the holdout score."
        )
    return found
