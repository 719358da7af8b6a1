"""The last phase: refit the best configuration on all non-holdout data, score the holdout once.

The refit runs the same template as the experiments, in ``final`` mode, in the same isolated
executor; it alone reads the holdout file. If the best configuration cannot be refit (a crash, no
time), the baseline is refit instead, so a finished session always leaves a usable model.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

from ml_autopilot.codegen.render import RenderRequest, write_script
from ml_autopilot.execution.base import ExecutionRequest, Executor
from ml_autopilot.log import get_logger
from ml_autopilot.state import ExperimentRecord, FinalResult, SessionState

logger = get_logger("finalize")
FINAL_DIR = "final"
MODEL_FILE = "model.joblib"
CARD_FILE = "model_card.json"
MIN_FINAL_TIMEOUT = 60.0


def final_candidates(state: SessionState) -> list[ExperimentRecord]:
    """The best experiment, then the baseline as a fallback."""
    best = state.best()
    candidates = [best] if best else []
    baseline = next((r for r in state.experiments if r.iteration == 0), None)
    if baseline and baseline.result.status == "success" and baseline is not best:
        candidates.append(baseline)
    return candidates


def finalize(state: SessionState, executor: Executor, time_left: float) -> FinalResult | None:
    """Refit and score the holdout once; None when no experiment ever succeeded."""
    candidates = final_candidates(state)
    if not candidates:
        return None
    errors: list[str] = []
    for record in candidates:
        result = _refit(state, record, executor, time_left)
        if result.status == "success":
            if errors:
                result.error = "; ".join(errors)
            return result
        errors.append(f"{record.spec.name}: {result.error}")
        logger.warning("final refit of %s failed: %s", record.spec.name, result.error)
    best = candidates[0]
    return FinalResult(
        status="failed",
        iteration=best.iteration,
        name=best.spec.name,
        cv_score=best.result.cv_score,
        error="; ".join(errors),
    )


def _refit(
    state: SessionState, record: ExperimentRecord, executor: Executor, time_left: float
) -> FinalResult:
    assert state.data is not None and state.profile is not None
    run_dir = Path(state.config.output_dir)
    workdir = run_dir / FINAL_DIR
    shutil.rmtree(workdir, ignore_errors=True)
    script = write_script(
        RenderRequest(
            iteration=record.iteration,
            spec=record.spec,
            data=state.data,
            profile=state.profile,
            folds=state.config.folds,
            seed=state.config.seed,
            n_threads=state.config.n_threads,
            output_dir=workdir,
            mode="final",
            params_override=record.result.refit_params,
        )
    )
    estimate = (record.result.fit_time or 10.0) / max(state.config.folds - 1, 1) * 2 + 30
    timeout = max(time_left, min(estimate, MIN_FINAL_TIMEOUT * 5), MIN_FINAL_TIMEOUT)
    outcome = executor.run(
        ExecutionRequest(
            script=script,
            workdir=workdir,
            timeout=timeout,
            n_threads=state.config.n_threads,
            memory_limit_mb=state.config.memory_limit_mb,
        )
    )
    common = {
        "iteration": record.iteration,
        "name": record.spec.name,
        "cv_score": record.result.cv_score,
    }
    if outcome.status != "success":
        return FinalResult(status="failed", error=outcome.error, **common)
    payload = outcome.payload
    metrics = {
        k: float(v)
        for k, v in payload.get("holdout_metrics", {}).items()
        if isinstance(v, int | float) and math.isfinite(v)
    }
    result = FinalResult(
        status="success",
        holdout_score=metrics.get(state.metric.name),
        holdout_metrics=metrics,
        model_path=str(workdir / MODEL_FILE),
        refit_time=payload.get("refit_time"),
        **common,
    )
    _write_card(workdir, state, record, result)
    return result


def _write_card(
    workdir: Path, state: SessionState, record: ExperimentRecord, result: FinalResult
) -> None:
    assert state.data is not None
    card = {
        "experiment": record.spec.name,
        "iteration": record.iteration,
        "model": record.spec.model,
        "params": record.spec.params,
        "preprocessing": record.spec.preprocessing.model_dump(),
        "task": state.data.task,
        "target": state.data.target,
        "classes": state.data.classes,
        "metric": state.metric.model_dump(),
        "cv_score": record.result.cv_score,
        "cv_std": record.result.cv_std,
        "holdout_metrics": result.holdout_metrics,
        "feature_columns": state.data.feature_columns,
    }
    (workdir / CARD_FILE).write_text(json.dumps(card, indent=2), encoding="utf-8")
