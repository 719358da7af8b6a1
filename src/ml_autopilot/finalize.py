"""The last phase: refit the best configuration on all non-holdout data, score the holdout once,
and save the same recipe refit on every row.

The refits run the same template as the experiments (``final``/``refit`` mode for the model whose
holdout score is reported, ``refit_all`` for the same recipe on search + holdout rows) in the same
isolated executor, side by side. The model saved for ``autopilot predict`` is the all-rows refit
when it finished inside the budget (``RunConfig.refit_full``), else the scored one; which it is,
and on how many rows it trained, is recorded. Nothing is decided from the all-rows refit or the
holdout score. If the best configuration cannot be refit (a crash, no time), the next candidate
is (finally the baseline), so a finished session always leaves a usable model.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ml_autopilot.catalog.scoring import labels_from, score_all
from ml_autopilot.codegen.render import Mode, RenderRequest, write_script
from ml_autopilot.ensemble import WeightedEnsemble, encoded_target
from ml_autopilot.execution.base import ExecutionOutcome, ExecutionRequest, Executor
from ml_autopilot.log import get_logger
from ml_autopilot.model_file import MODEL_FILE, bundle_from_bytes, save_bundle
from ml_autopilot.predict import prepare_features, use_threads
from ml_autopilot.state import (
    ExperimentRecord,
    FinalResult,
    SessionState,
    experiment_folder_name,
)
from ml_autopilot.timing import SPANS_FILE, Span, checked_spans

logger = get_logger("finalize")
FINAL_DIR = "final"
ALL_ROWS_DIR = "all_rows"  # inside FINAL_DIR: the same recipe refit on search + holdout rows
CARD_FILE = "model_card.json"
MIN_FINAL_TIMEOUT = 60.0
FITTING_POLL_SECONDS = 0.01
ALL_ROWS_MIN_SECONDS = 1.0  # an all-rows refit is not started with less time than this left
ModelSaved = Callable[[Path], None]  # told the file of the model to be saved, once it is there


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


@dataclass(frozen=True, eq=False)  # jobs are told apart by identity
class RefitJob:
    """One script of the end phase: a model (or an ensemble member) refit in one scope."""

    record: ExperimentRecord
    mode: Mode  # "final" (single model, scores the holdout), "refit" (member), "refit_all"
    folder: Path

    @property
    def all_rows(self) -> bool:
        return self.mode == "refit_all"


def refit_estimate(state: SessionState, record: ExperimentRecord) -> float:
    """Seconds one refit of ``record`` on the non-holdout rows takes, from its CV fit time."""
    return (record.result.fit_time or 0.0) / max(state.folds - 1, 1)


def all_rows_factor(state: SessionState) -> float:
    """How many times the rows of the scored refit an all-rows refit trains on (1.25 with the
    default 20% holdout); its time is estimated as the scored refit's times this."""
    return 1.0 / (1.0 - state.config.holdout)


def finalize(
    state: SessionState,
    executor: Executor,
    time_left: float,
    end_seconds: float = 0.0,
    on_saved: ModelSaved | None = None,
) -> FinalResult | None:
    """Refit, score the holdout once, refit on all rows; None when no experiment ever succeeded.

    ``time_left`` is what is left of the budget, of which the session needs ``end_seconds``
    after the refits (importance, report, exit). The scored refit may outlive it (a finished
    session must leave a model); the all-rows refits may not (they improve the model, they are
    not needed): they run only when every refit is estimated to end ``end_seconds`` before the
    budget does, and are stopped there.

    ``on_saved`` hears of a blend's all-rows file as soon as it is saved, before the holdout is
    scored with the scored blend (which unpickles every member here): the saved model is then
    that file unless this call raises.
    """
    candidates = final_candidates(state)
    if not candidates:
        return None
    deadline = time.monotonic() + time_left - end_seconds
    errors: list[str] = []
    for record in candidates:
        result = _refit_candidate(state, record, executor, time_left, deadline, on_saved)
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


def _refit_candidate(
    state: SessionState,
    record: ExperimentRecord,
    executor: Executor,
    time_left: float,
    deadline: float,
    on_saved: ModelSaved | None = None,
) -> FinalResult:
    """Refit one candidate (a single model or every member of a blend) in both scopes at once;
    score the holdout with the non-holdout refit; save the all-rows refit if it finished (a
    blend's first, then told to ``on_saved``)."""
    assert state.data is not None
    workdir = Path(state.config.output_dir) / FINAL_DIR
    shutil.rmtree(workdir, ignore_errors=True)
    jobs = _jobs(state, record, workdir)
    skipped = all_rows_skipped(state, jobs, deadline - time.monotonic())
    if skipped:
        jobs = [job for job in jobs if not job.all_rows]
    outcomes = _run_jobs(state, jobs, executor, time_left, deadline)
    scored = [(job, outcomes[job]) for job in jobs if not job.all_rows]
    common = {
        "iteration": record.iteration,
        "name": record.spec.name,
        "cv_score": record.result.cv_score,
    }
    failure = _first_failure(record, scored)
    if failure is not None:
        return FinalResult(status="failed", error=failure, **common)
    spans: list[Span] = []
    for outcome in outcomes.values():
        if outcome.status == "success":
            spans += checked_spans(outcome.payload.get("model_spans"))
    all_rows = [(job, outcomes[job]) for job in jobs if job.all_rows]
    if record.spec.model == "ensemble" and all_rows and _first_failure(record, all_rows) is None:
        path = workdir / ALL_ROWS_DIR / MODEL_FILE
        _save_blend(state, record, [job.folder for job, _ in all_rows], path)
        if on_saved is not None:
            on_saved(path)
    if record.spec.model == "ensemble":
        bundle = _blend(state, record, [job.folder for job, _ in scored])
        scoring_started = time.time()
        metrics = _score_holdout(state, bundle)
        spans.append((scoring_started, time.time()))
        save_bundle(bundle, workdir / MODEL_FILE)
    else:
        metrics = _finite(scored[0][1].payload.get("holdout_metrics", {}))
    result = FinalResult(
        status="success",
        holdout_score=metrics.get(state.metric.name),
        holdout_metrics=metrics,
        holdout_model_path=str(workdir / MODEL_FILE),
        model_path=str(workdir / MODEL_FILE),
        trained_rows=state.data.n_train,
        refit_time=_summed_refit_time(o for _, o in scored),
        model_spans=spans,
        **common,
    )
    _write_card(workdir, state, record, result, all_rows=False)
    if skipped:
        result.all_rows_error = skipped
        logger.info("the saved model is the scored refit; all-rows refit %s", skipped)
    _adopt_all_rows(state, record, result, all_rows)
    return result


def all_rows_skipped(state: SessionState, jobs: list[RefitJob], seconds: float) -> str | None:
    """Why the all-rows refits are left out (not all of them are estimated to end within
    ``seconds``, the scored refits running beside them); None when they run. All or none:
    a blend needs every member."""
    if not any(job.all_rows for job in jobs):
        return None
    costs = [job_estimate(state, job) for job in jobs]
    needed = makespan(costs, max(1, min(state.config.workers, len(jobs))))
    if needed <= seconds:
        return None
    return f"not started: about {needed:.1f} s needed with the scored refit, {seconds:.1f} s left"


def _jobs(state: SessionState, record: ExperimentRecord, workdir: Path) -> list[RefitJob]:
    """The scored refits (of the model, or of each blend member in the blend's order), then,
    with ``refit_full``, the all-rows refits of the same models."""
    if record.spec.model == "ensemble":
        members = [state.experiments[i] for i in record.spec.params["members"]]
        jobs = [RefitJob(m, "refit", _member_folder(workdir, m)) for m in members]
    else:
        members = [record]
        jobs = [RefitJob(record, "final", workdir)]
    if state.config.refit_full:
        all_rows = workdir / ALL_ROWS_DIR
        ensemble = record.spec.model == "ensemble"
        jobs += [
            RefitJob(m, "refit_all", _member_folder(all_rows, m) if ensemble else all_rows)
            for m in members
        ]
    return jobs


def _member_folder(workdir: Path, member: ExperimentRecord) -> Path:
    return workdir / "members" / experiment_folder_name(member.iteration, member.spec.name)


def _run_jobs(
    state: SessionState,
    jobs: list[RefitJob],
    executor: Executor,
    time_left: float,
    deadline: float,
) -> dict[RefitJob, ExecutionOutcome]:
    """Run the refits side by side, longest first, as many at once as the session runs
    experiments; a lone refit gets every core. An all-rows refit is stopped at the deadline
    (and not started with less than ``ALL_ROWS_MIN_SECONDS`` left)."""
    config = state.config
    threads = config.n_threads if len(jobs) == 1 else config.threads_per_experiment

    def run(job: RefitJob) -> ExecutionOutcome:
        if job.all_rows:  # started only when all are estimated to fit; stopped at the deadline
            left = deadline - time.monotonic()
            if left < ALL_ROWS_MIN_SECONDS:
                return ExecutionOutcome(
                    status="failed", error=f"not started: {max(left, 0.0):.1f} s left"
                )
            timeout = left
        else:
            timeout = _timeout(state, job.record, time_left)
        return _run_script(state, job, executor, timeout, threads)

    with ThreadPoolExecutor(max_workers=max(1, min(config.workers, len(jobs)))) as pool:
        ordered = refit_order(state, jobs)
        return dict(zip(ordered, pool.map(run, ordered), strict=True))


def wait_until_fitting(run_dir: Path, limit: float) -> bool:
    """Wait until a final refit script has begun fitting (its spans file exists under
    ``FINAL_DIR``), at most ``limit`` seconds; whether one has. Files left by an earlier
    attempt (a resumed run) count too: the wait only orders start-up work, it proves nothing."""
    final = Path(run_dir) / FINAL_DIR
    deadline = time.monotonic() + limit
    while not any(final.rglob(SPANS_FILE)):
        if time.monotonic() >= deadline:
            return False
        time.sleep(FITTING_POLL_SECONDS)
    return True


def job_estimate(state: SessionState, job: RefitJob) -> float:
    """Estimated seconds of one refit script (an all-rows refit trains on more rows)."""
    scale = all_rows_factor(state) if job.all_rows else 1.0
    return refit_estimate(state, job.record) * scale


def makespan(costs: list[float], workers: int) -> float:
    """Estimated seconds until the last of refits taking ``costs`` seconds ends, with
    ``workers`` of them running side by side."""
    return max(sum(costs) / workers, max(costs, default=0.0))


def refit_order(state: SessionState, jobs: list[RefitJob]) -> list[RefitJob]:
    """Longest first, so that no worker idles at the end while another runs the longest refit
    (all of the jobs are needed: the all-rows refits run only when all are expected to fit)."""
    return sorted(jobs, key=lambda job: job_estimate(state, job), reverse=True)


def _run_script(
    state: SessionState, job: RefitJob, executor: Executor, timeout: float, threads: int
) -> ExecutionOutcome:
    assert state.data is not None and state.profile is not None
    record = job.record
    script = write_script(
        RenderRequest(
            iteration=record.iteration,
            spec=record.spec,
            data=state.data,
            profile=state.profile,
            folds=state.folds,
            seed=state.config.seed,
            n_threads=threads,
            output_dir=job.folder,
            mode=job.mode,
            params_override=record.result.refit_params,
        )
    )
    return executor.run(
        ExecutionRequest(
            script=script,
            workdir=job.folder,
            timeout=timeout,
            n_threads=threads,
            memory_limit_mb=state.config.memory_limit_mb,
        )
    )


def _timeout(state: SessionState, record: ExperimentRecord, time_left: float) -> float:
    estimate = (record.result.fit_time or 10.0) / max(state.folds - 1, 1) * 2 + 30
    return max(time_left, min(estimate, MIN_FINAL_TIMEOUT * 5), MIN_FINAL_TIMEOUT)


def _blend(state: SessionState, record: ExperimentRecord, folders: list[Path]) -> dict:
    """The ensemble's members, refit into ``folders``, blended with the ensemble's weights
    (their holdout predictions need them: each is unpickled once; saving copies their bytes)."""
    assert state.data is not None
    saved = _saved_members(folders)
    bundles = [bundle_from_bytes(bundle) for bundle in saved]
    ensemble = WeightedEnsemble(
        [b["pipeline"] for b in bundles],
        list(record.spec.params["weights"]),
        state.data.task,
        len(state.data.classes),
        saved,
    )
    return {**bundles[0], "pipeline": ensemble, "experiment": record.spec.name}


def _save_blend(
    state: SessionState, record: ExperimentRecord, folders: list[Path], path: Path
) -> None:
    """Save the blend of the members refit into ``folders`` to ``path``, no member unpickled
    here but the smallest, for the bundle's facts (columns, classes: the same in every member's
    bundle): nothing here predicts with them."""
    assert state.data is not None
    saved = _saved_members(folders)
    facts = bundle_from_bytes(min(saved, key=len))
    members = WeightedEnsemble.from_saved(
        saved, list(record.spec.params["weights"]), state.data.task, len(state.data.classes)
    )
    save_bundle({**facts, "pipeline": members, "experiment": record.spec.name}, path)


def _saved_members(folders: list[Path]) -> list[bytes]:
    """The model files the members' refit scripts wrote into ``folders``, as bytes."""
    return [(folder / MODEL_FILE).read_bytes() for folder in folders]


def _adopt_all_rows(
    state: SessionState,
    record: ExperimentRecord,
    result: FinalResult,
    outcomes: list[tuple[RefitJob, ExecutionOutcome]],
) -> None:
    """Make the all-rows refit the saved model when every one of its scripts succeeded (a
    blend's file is saved already)."""
    assert state.data is not None
    if not outcomes:
        return
    failure = _first_failure(record, outcomes)
    if failure is not None:
        result.all_rows_error = failure
        logger.info(
            "the saved model is the scored refit; all-rows refit: %s", result.all_rows_error
        )
        return
    folder = Path(state.config.output_dir) / FINAL_DIR / ALL_ROWS_DIR
    result.model_path = str(folder / MODEL_FILE)
    result.trained_rows = state.data.n_train + state.data.n_holdout
    result.all_rows_refit_time = _summed_refit_time(o for _, o in outcomes)
    _write_card(folder, state, record, result, all_rows=True)


def _first_failure(
    record: ExperimentRecord, outcomes: list[tuple[RefitJob, ExecutionOutcome]]
) -> str | None:
    """The first failed script's error (naming the blend member), or None when all succeeded."""
    for job, outcome in outcomes:
        if outcome.status != "success":
            where = f"member {job.record.iteration}: " if record.spec.model == "ensemble" else ""
            return f"{where}{outcome.error}"
    return None


def _summed_refit_time(outcomes: Iterable[ExecutionOutcome]) -> float:
    return sum(float(o.payload.get("refit_time") or 0.0) for o in outcomes)


def _finite(values: object) -> dict[str, float]:
    if not isinstance(values, dict):
        return {}
    return {
        str(k): float(v)
        for k, v in values.items()
        if isinstance(v, int | float) and math.isfinite(v)
    }


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
    workdir: Path,
    state: SessionState,
    record: ExperimentRecord,
    result: FinalResult,
    all_rows: bool,
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
        "trained_rows": result.trained_rows,
        "trained_on": (
            "all rows: search and holdout (the holdout metrics are of the same recipe trained "
            "without the holdout)"
            if all_rows
            else "the search rows; the holdout was kept out and scored once"
        ),
        "feature_columns": state.data.feature_columns,
    }
    (workdir / CARD_FILE).write_text(json.dumps(card, indent=2), encoding="utf-8")
