"""How long an experiment will take, estimated from the ones that ran before it."""

from __future__ import annotations

from typing import Any

from ml_autopilot.state import ExperimentRecord

SIZE_PARAMS = ("n_estimators", "iterations", "max_iter")
# Wall time of a family's portfolio configuration relative to LightGBM's on the same data, one
# thread each (measured on this project's benchmark runs: CatBoost's 2,000 symmetric-tree rounds
# ran 3.3x to over 13x LightGBM's time and were often killed at their timeout).
RELATIVE_COST = {
    "lightgbm": 1.0,
    "xgboost": 1.5,
    "catboost": 5.0,
    "hist_gradient_boosting": 1.0,
    "extra_trees": 1.0,
    "random_forest": 1.5,
}
UNKNOWN_COST = 2.0


def estimate_duration(
    model: str, params: dict[str, Any], history: list[ExperimentRecord]
) -> float | None:
    """Seconds an experiment will take, from earlier ones (None: nothing to go by).

    The same model's last run, scaled by its size parameter, if there is one; otherwise the
    slowest tree-model run so far, scaled by the families' relative costs."""
    same = [r for r in history if r.spec.model == model and r.result.status == "success"]
    if same:
        ref = same[-1]
        scale = 1.0
        for key in SIZE_PARAMS:
            if key in params and key in ref.spec.params and ref.spec.params[key]:
                scale = float(params[key]) / float(ref.spec.params[key])
        return ref.result.duration * max(scale, 0.1)
    known = [
        r.result.duration / RELATIVE_COST[r.spec.model]
        for r in history
        if r.result.status == "success" and r.spec.model in RELATIVE_COST
    ]
    if known:
        return max(known) * RELATIVE_COST.get(model, UNKNOWN_COST)
    return None


__all__ = ["RELATIVE_COST", "estimate_duration"]
