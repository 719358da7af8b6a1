"""A run's status as a plain dictionary: what `autopilot status --json` prints."""

from __future__ import annotations

from typing import Any

from ml_autopilot.state import SessionState


def status_dict(state: SessionState) -> dict[str, Any]:
    """Phase, experiments, best so far, holdout and why the run stopped."""
    best = state.best() if state.data else None
    final = state.final
    return {
        "run_id": state.run_id,
        "phase": state.phase,
        "task": state.data.task if state.data else state.config.task,
        "metric": state.metric.model_dump() if state.data else None,
        "time_used": round(state.elapsed_seconds, 2),
        "time_budget": state.config.time_budget,
        "experiments": [
            {
                "iteration": r.iteration,
                "name": r.spec.name,
                "model": r.spec.model,
                "status": r.result.status,
                "cv_score": r.result.cv_score,
                "cv_std": r.result.cv_std,
                "duration": round(r.result.duration, 2),
                "planner": r.spec.planner,
                "source": r.spec.source,
                "hypothesis": r.spec.hypothesis,
                "error": r.result.error,
            }
            for r in state.experiments
        ],
        "best": (
            {
                "iteration": best.iteration,
                "name": best.spec.name,
                "model": best.spec.model,
                "cv_score": best.result.cv_score,
            }
            if best
            else None
        ),
        "holdout": (
            {
                "score": final.holdout_score,
                "metrics": final.holdout_metrics,
                "iteration": final.iteration,
                "name": final.name,
            }
            if final and final.status == "success"
            else None
        ),
        "model_path": final.model_path if final else None,
        "model": (
            {
                "path": final.model_path,
                "trained_rows": final.trained_rows,
                "trained_on": state.saved_model_rows(),
                "holdout_model_path": final.holdout_model_path,
            }
            if final and final.status == "success"
            else None
        ),
        "termination_reason": state.termination_reason,
        "error": state.error,
    }
