"""The last phase: refit the best configuration on all non-holdout data, score the holdout once.

The refit runs the same template as the experiments, in ``final`` mode, in the same isolated
executor; it alone reads the holdout file. If the best configuration cannot be refit (a crash, no
time), the baseline is refit instead, so a finished session always leaves a usable model.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import joblib
import pandas as pd

from ml_autopilot.catalog.scoring import labels_from, score_all
from ml_autopilot.codegen.render import Mode, RenderRequest, write_script
from ml_autopilot.ensemble import WeightedEnsemble, encoded_target
from ml_autopilot.execution.base import ExecutionOutcome, ExecutionRequest, Executor
from ml_autopilot.log import get_logger
from ml_autopilot.predict import prepare_features, use_threads
from ml_autopilot.state import ExperimentRecord, FinalResult, SessionState
from ml_autopilot.timing import Span, checked_spans

logger = get_logger("finalize")
FINAL_DIR = "final"
MODEL_FILE = "model.joblib"
CARD_FILE = "model_card.json"
MIN_FINAL_TIMEOUT = 60.0


def final_candidates(state: SessionState) -> list[ExperimentRecord]:
    """The models to refit, in order, until one succeeds.

    The best experiment; the best single model if an ensemble won; the best single model of
    another family (a refit can fail where the folds did not, as CatBoost 1.2.10's parameters
    once failed sklearn's clone in the target transform); then the baseline.
    """
    best = state.best()
    if best is None:
        return []
    singles = state.ranked_singles()
    candidates = [best]
    if best.spec.model == "ensemble" and singles:
        candidates.append(singles[0])
    families = {r.spec.model for r in candidates}
    other = next((r for r in singles if r.spec.model not in families and r.iteration > 0), None)
    if other is not None:
        candidates.append(other)
    baseline = next((r for r in state.experiments if r.iteration == 0), None)
    if baseline and baseline.result.status == "success" and baseline not in candidates:
        candidates.append(baseline)
    return candidates


def finalize(state: SessionState, executor: Executor, time_left: float) -> FinalResult | None:
    """Refit and score the holdout once; None when no experiment ever succeeded."""
    candidates = final_candidates(state)
    if not candidates:
        return None
    errors: list[str] = []
    for record in candidates:
        refit = _refit_ensemble if record.spec.model == "ensemble" else _refit
        result = refit(state, record, executor, time_left)
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


def _run_script(
    state: SessionState,
    record: ExperimentRecord,
    executor: Executor,
    workdir: Path,
    timeout: float,
    mode: Mode,
) -> ExecutionOutcome:
    assert state.data is not None and state.profile is not None
    shutil.rmtree(workdir, ignore_errors=True)
    # a lone refit gets every core; ensemble members share them
    threads = state.config.n_threads if mode == "final" else state.config.threads_per_experiment
    script = write_script(
        RenderRequest(
            iteration=record.iteration,
            spec=record.spec,
            data=state.data,
            profile=state.profile,
            folds=state.config.folds,
            seed=state.config.seed,
            n_threads=threads,
            output_dir=workdir,
            mode=mode,
            params_override=record.result.refit_params,
        )
    )
    return executor.run(
        ExecutionRequest(
            script=script,
            workdir=workdir,
            timeout=timeout,
            n_threads=threads,
            memory_limit_mb=state.config.memory_limit_mb,
        )
    )


def _timeout(state: SessionState, record: ExperimentRecord, time_left: float) -> float:
    estimate = (record.result.fit_time or 10.0) / max(state.config.folds - 1, 1) * 2 + 30
    return max(time_left, min(estimate, MIN_FINAL_TIMEOUT * 5), MIN_FINAL_TIMEOUT)


def _refit(
    state: SessionState, record: ExperimentRecord, executor: Executor, time_left: float
) -> FinalResult:
    workdir = Path(state.config.output_dir) / FINAL_DIR
    outcome = _run_script(
        state, record, executor, workdir, _timeout(state, record, time_left), "final"
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
        model_spans=checked_spans(payload.get("model_spans")),
        **common,
    )
    _write_card(workdir, state, record, result)
    return result


def _refit_ensemble(
    state: SessionState, record: ExperimentRecord, executor: Executor, time_left: float
) -> FinalResult:
    """Refit every member on all non-holdout rows, blend them, score the holdout once."""
    assert state.data is not None
    workdir = Path(state.config.output_dir) / FINAL_DIR
    shutil.rmtree(workdir, ignore_errors=True)
    members, bundles, refit_time = record.spec.params["members"], [], 0.0
    spans: list[Span] = []
    common = {
        "iteration": record.iteration,
        "name": record.spec.name,
        "cv_score": record.result.cv_score,
    }

    def refit_member(iteration: int) -> tuple[int, ExecutionOutcome, Path]:
        member = state.experiments[iteration]
        folder = workdir / "members" / f"{iteration:03d}_{member.spec.name}"
        timeout = _timeout(state, member, time_left)
        return iteration, _run_script(state, member, executor, folder, timeout, "refit"), folder

    with ThreadPoolExecutor(max_workers=state.config.workers) as pool:  # members in parallel
        outcomes = list(pool.map(refit_member, members))
    for iteration, outcome, folder in outcomes:
        if outcome.status != "success":
            return FinalResult(
                status="failed", error=f"member {iteration}: {outcome.error}", **common
            )
        refit_time += float(outcome.payload.get("refit_time") or 0.0)
        spans += checked_spans(outcome.payload.get("model_spans"))
        bundles.append(joblib.load(folder / MODEL_FILE))  # written by our own refit script
    ensemble = WeightedEnsemble(
        [b["pipeline"] for b in bundles],
        list(record.spec.params["weights"]),
        state.data.task,
        len(state.data.classes),
    )
    bundle = {**bundles[0], "pipeline": ensemble, "experiment": record.spec.name}
    scoring_started = time.time()
    metrics = _score_holdout(state, bundle)
    spans.append((scoring_started, time.time()))
    joblib.dump(bundle, workdir / MODEL_FILE)
    result = FinalResult(
        status="success",
        holdout_score=metrics.get(state.metric.name),
        holdout_metrics=metrics,
        model_path=str(workdir / MODEL_FILE),
        refit_time=refit_time,
        model_spans=spans,
        **common,
    )
    _write_card(workdir, state, record, result)
    return result


def _score_holdout(state: SessionState, bundle: dict) -> dict[str, float]:
    """The one time the holdout is read for an ensemble."""
    assert state.data is not None
    holdout = pd.read_parquet(state.data.holdout_path)
    features = prepare_features(holdout, bundle["numeric_columns"], bundle["categorical_columns"])
    model = bundle["pipeline"]
    use_threads(model, state.config.n_threads)  # the members were refit beside each other
    raw = (
        model.predict_proba(features)
        if state.data.task == "classification"
        else (model.predict(features))
    )
    labels, proba = labels_from(state.data.task, raw)
    truth = encoded_target(state.data, holdout)
    scores = score_all(state.data.task, len(state.data.classes), truth, labels, proba)
    return {k: v for k, v in scores.items() if math.isfinite(v)}


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
