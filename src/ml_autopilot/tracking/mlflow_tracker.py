"""MLflow tracking of a session: one experiment, a parent run, one child run per experiment.

What lands in MLflow::

    experiment  autopilot-<data file stem>-<run_id>
      parent run   session-<run_id>   settings as params, profile.json, holdout metrics,
                                      best_cv_score, the final model (pyfunc, name "model")
        child run  NNN_<name>         one per experiment, baseline and failures included:
                                      model, param.*, prep.* params; cv_* and fold_* metrics
                                      (fold index as step); spec and outcome as tags; the
                                      script, stdout.txt, stderr.txt, profile.json, error.txt

The store is the run folder's own (``sqlite:///<run_dir>/mlflow.db``, artifacts in
``<run_dir>/mlartifacts``) unless a tracking URI is given or ``MLFLOW_TRACKING_URI`` is set.
Runs are addressed by id through ``MlflowClient`` only; the fluent API is touched just around
``log_model`` (see ``pyfunc_model.fluent_run``).

Every write is idempotent: child runs are found by their ``run_id`` and ``iteration`` tags
before one is created (a crash may land between MLflow and ``state.json``), a half-logged child
(still RUNNING) is deleted and logged again, and the final model is looked up among the parent's
logged models before it is logged. Each call also catches up on experiments an earlier call
could not log. MLflow errors never reach the session: they are logged as warnings, and after a
few failures in a row tracking pauses for the sitting (a resumed session catches up).
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, Run, RunTag, ViewType
from mlflow.entities.logged_model_status import LoggedModelStatus
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NOTE
from mlflow.utils.validation import (
    MAX_METRICS_PER_BATCH,
    MAX_PARAM_VAL_LENGTH,
    MAX_PARAMS_TAGS_PER_BATCH,
    MAX_TAG_VAL_LENGTH,
)

from ml_autopilot.log import get_logger
from ml_autopilot.state import (
    ExperimentRecord,
    SessionState,
    TrackingInfo,
    experiment_folder_name,
)
from ml_autopilot.tracking import store_template
from ml_autopilot.tracking.base import Tracker
from ml_autopilot.tracking.pyfunc_model import (
    MODEL_NAME,
    log_pyfunc_model,
    prepare_model_logging,
)
from ml_autopilot.tracking.store_template import SQLITE_PREFIX
from ml_autopilot.tracking.ui import artifact_root, store_uri

logger = get_logger("tracking")

PROFILE_FILE = "profile.json"
ERROR_FILE = "error.txt"
OUTPUT_FILES = ("stdout.txt", "stderr.txt")
KIND_SESSION = "session"
KIND_EXPERIMENT = "experiment"
PROFILE_TAG = "profile_logged"
MAX_FAILURES_IN_A_ROW = 3
_ENDED = ("done", "failed")
# an experiment run's MLflow status: a pruned one was stopped on purpose, not broken
RUN_STATUS = {"success": "FINISHED", "pruned": "KILLED"}
_BAD_KEY_CHARS = re.compile(r"[^\w\-. /]")


def _new_client(uri: str) -> MlflowClient:
    """A client of ``uri``. A new SQLite store starts as a copy of the cached empty store
    (``store_template``); the first one MLflow creates from scratch fills that cache."""
    db = store_template.sqlite_file(uri)
    if db is None:
        return MlflowClient(tracking_uri=uri)
    created = not db.exists()
    seeded = created and store_template.seed(db)
    client = MlflowClient(tracking_uri=uri)  # opens the store: migrations if it is new
    if created and not seeded:
        store_template.save(db)
    return client


def experiment_name(state: SessionState) -> str:
    """The MLflow experiment of a session: data file stem and run id."""
    return f"autopilot-{Path(state.config.data_path).stem}-{state.run_id}"


class MlflowTracker(Tracker):
    """Logs a session to MLflow: the run folder's SQLite store unless a URI is given."""

    def __init__(self, tracking_uri: str | None = None) -> None:
        self._explicit_uri = tracking_uri
        self._clients: dict[str, MlflowClient] = {}
        self._lock = threading.RLock()
        self._failures = 0
        self._profile_on_parent = False

    # ---- the Tracker interface -------------------------------------------------------------
    def warm_up(self, run_dir: Path) -> None:
        """Create the default store now (SQLite tables take seconds), before it is needed."""
        uri = self._explicit_uri or os.environ.get("MLFLOW_TRACKING_URI") or store_uri(run_dir)
        self._attempt(
            "preparing the store", lambda: self._client(uri).search_experiments(max_results=1)
        )

    def start(self, state: SessionState) -> None:
        """Open (or reopen) the session's experiment and parent run, then catch up."""
        with self._lock:
            if not self._attempt("open the session's MLflow run", self._open, state):
                return
            self._catch_up(state)
            if state.phase == "done" and not self._tracking(state).final_logged:
                self._attempt("log the final model", self._log_final, state)
            if state.phase in _ENDED:  # a finished session resumed only to catch up
                self._attempt("end the session's MLflow run", self._end_parent, state)

    def log_experiment(self, state: SessionState, record: ExperimentRecord) -> None:
        """Log one finished experiment as a child run (and any an earlier call missed)."""
        with self._lock:
            if state.tracking is None:  # the first start failed: try again, it catches up
                self.start(state)
                return
            self._catch_up(state, extra=record)

    def log_final(self, state: SessionState) -> None:
        """Log holdout metrics and the final model on the parent run, once."""
        with self._lock:
            if state.tracking is None and not self._attempt("open", self._open, state):
                return
            if not self._tracking(state).final_logged:
                self._attempt("log the final model", self._log_final, state)

    def log_model(self, state: SessionState, model_path: Path) -> None:
        """Log the model file the final refit has just saved, while the session scores the
        holdout; ``log_final`` then finds it on the parent run instead of logging it again."""
        with self._lock:
            if state.tracking is None and not self._attempt("open", self._open, state):
                return
            tracking = self._tracking(state)
            if not tracking.final_logged and not tracking.model_uri:
                self._attempt("log the final model", self._log_model, state, model_path)

    def prepare_final(self) -> None:
        """Ready the model logging ahead of ``log_final`` (a failure only costs that time)."""
        try:
            prepare_model_logging()
        except Exception as exc:
            logger.debug("MLflow: preparing the model logging failed: %s", exc)

    def close(self, state: SessionState) -> None:
        """End the parent run: FAILED when the session failed, else FINISHED."""
        with self._lock:
            if state.tracking is not None:
                self._attempt("end the session's MLflow run", self._end_parent, state)

    # ---- guard -----------------------------------------------------------------------------
    def _attempt(self, what: str, action: Callable[..., object], *args: Any) -> bool:
        """Run one tracking step; an error becomes a warning, never an exception."""
        if self._failures >= MAX_FAILURES_IN_A_ROW:
            logger.debug("MLflow tracking paused; skipped: %s", what)
            return False
        try:
            action(*args)
        except Exception as exc:  # tracking must never stop the loop
            self._failures += 1
            logger.warning("MLflow: could not %s: %s", what, exc)
            if self._failures >= MAX_FAILURES_IN_A_ROW:
                logger.warning(
                    "MLflow tracking paused after %d failures in a row; "
                    "`autopilot run --resume` logs what was missed",
                    self._failures,
                )
            return False
        self._failures = 0
        return True

    # ---- session: experiment and parent run ------------------------------------------------
    def _resolve_uri(self, state: SessionState) -> str:
        if self._explicit_uri:
            return self._explicit_uri
        if state.tracking is not None:
            return state.tracking.tracking_uri
        return os.environ.get("MLFLOW_TRACKING_URI") or store_uri(self._run_dir(state))

    def _client(self, uri: str) -> MlflowClient:
        if uri not in self._clients:
            self._clients[uri] = _new_client(uri)
        return self._clients[uri]

    @staticmethod
    def _run_dir(state: SessionState) -> Path:
        return Path(state.config.output_dir)

    @staticmethod
    def _tracking(state: SessionState) -> TrackingInfo:
        assert state.tracking is not None, "start() sets state.tracking"
        return state.tracking

    def _open(self, state: SessionState) -> None:
        uri = self._resolve_uri(state)
        client = self._client(uri)
        known = state.tracking
        parent = None
        if known is not None and known.tracking_uri == uri:
            parent = self._existing_run(client, known.parent_run_id)
        elif known is not None:
            logger.warning("MLflow: logging to %s now (was %s)", uri, known.tracking_uri)
        if parent is None:
            experiment_id = self._ensure_experiment(client, state, uri)
            parent = self._find_parent(client, experiment_id, state) or self._create_parent(
                client, experiment_id, state
            )
            state.tracking = TrackingInfo(
                tracking_uri=uri,
                experiment_id=experiment_id,
                parent_run_id=parent.info.run_id,
            )
        self._profile_on_parent = parent.data.tags.get(PROFILE_TAG) == "true"
        if state.phase not in _ENDED and parent.info.status != "RUNNING":
            client.update_run(parent.info.run_id, status="RUNNING")

    @staticmethod
    def _existing_run(client: MlflowClient, run_id: str) -> Run | None:
        try:
            run = client.get_run(run_id)
        except MlflowException:
            return None
        if run.info.lifecycle_stage == "deleted":
            client.restore_run(run_id)
        return run

    def _ensure_experiment(self, client: MlflowClient, state: SessionState, uri: str) -> str:
        name = experiment_name(state)
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            if experiment.lifecycle_stage == "deleted":
                client.restore_experiment(experiment.experiment_id)
            return experiment.experiment_id
        location = artifact_location(uri)
        tags = {"run_id": state.run_id, "data_path": state.config.data_path}
        return client.create_experiment(name, artifact_location=location, tags=tags)

    @staticmethod
    def _find_parent(client: MlflowClient, experiment_id: str, state: SessionState) -> Run | None:
        runs = client.search_runs(
            [experiment_id],
            filter_string=f"tags.run_id = '{state.run_id}' AND tags.kind = '{KIND_SESSION}'",
            run_view_type=ViewType.ACTIVE_ONLY,
            max_results=1,
        )
        return runs[0] if runs else None

    @staticmethod
    def _create_parent(client: MlflowClient, experiment_id: str, state: SessionState) -> Run:
        run = client.create_run(
            experiment_id, tags=parent_tags(state), run_name=f"session-{state.run_id}"
        )
        log_batch(client, run.info.run_id, params=to_params(parent_params(state)))
        return client.get_run(run.info.run_id)

    def _ensure_profile_on_parent(self, client: MlflowClient, state: SessionState) -> None:
        if self._profile_on_parent or state.profile is None:
            return
        parent_id = self._tracking(state).parent_run_id
        client.log_dict(parent_id, state.profile.model_dump(mode="json"), PROFILE_FILE)
        client.set_tag(parent_id, PROFILE_TAG, "true")
        self._profile_on_parent = True

    def _end_parent(self, state: SessionState) -> None:
        tracking = self._tracking(state)
        status = "FAILED" if state.phase == "failed" else "FINISHED"
        self._client(tracking.tracking_uri).set_terminated(tracking.parent_run_id, status)

    # ---- experiments: child runs -----------------------------------------------------------
    def _catch_up(self, state: SessionState, extra: ExperimentRecord | None = None) -> None:
        """Log every finished experiment that has no child run yet, in iteration order."""
        logged = self._tracking(state).child_run_ids
        records = {r.iteration: r for r in state.experiments}
        if extra is not None:
            records.setdefault(extra.iteration, extra)
        for iteration in sorted(set(records) - set(logged)):
            self._attempt(
                f"log experiment {iteration}", self._log_record, state, records[iteration]
            )

    def _log_record(self, state: SessionState, record: ExperimentRecord) -> None:
        tracking = self._tracking(state)
        client = self._client(tracking.tracking_uri)
        self._ensure_profile_on_parent(client, state)
        run_id = self._find_child(client, state, record.iteration)
        if run_id is None:
            run_id = self._create_child(client, state, record)
        tracking.child_run_ids = dict(
            sorted({**tracking.child_run_ids, record.iteration: run_id}.items())
        )

    def _find_child(self, client: MlflowClient, state: SessionState, iteration: int) -> str | None:
        """A complete child run already logged for this iteration; half-logged ones go."""
        tracking = self._tracking(state)
        runs = client.search_runs(
            [tracking.experiment_id],
            filter_string=(
                f"tags.run_id = '{state.run_id}' AND tags.kind = '{KIND_EXPERIMENT}' "
                f"AND tags.iteration = '{iteration}'"
            ),
            run_view_type=ViewType.ACTIVE_ONLY,
        )
        found = None
        for run in runs:
            if run.info.status == "RUNNING" or found is not None:
                client.delete_run(run.info.run_id)
            else:
                found = run.info.run_id
        return found

    def _create_child(
        self, client: MlflowClient, state: SessionState, record: ExperimentRecord
    ) -> str:
        tracking = self._tracking(state)
        run = client.create_run(
            tracking.experiment_id,
            start_time=millis(record.started_at),
            tags=child_tags(state, record, tracking.parent_run_id),
            run_name=experiment_folder_name(record.iteration, record.spec.name),
        )
        run_id = run.info.run_id
        log_batch(
            client, run_id, metrics=child_metrics(record), params=to_params(child_params(record))
        )
        log_child_artifacts(client, run_id, state, record)
        status = RUN_STATUS.get(record.result.status, "FAILED")
        client.set_terminated(run_id, status, end_time=millis(record.finished_at))
        return run_id

    # ---- final model -----------------------------------------------------------------------
    def _log_final(self, state: SessionState) -> None:
        tracking = self._tracking(state)
        client = self._client(tracking.tracking_uri)
        parent = client.get_run(tracking.parent_run_id)
        if "best_cv_score" not in parent.data.metrics:
            metrics, tags = final_summary(state)
            log_batch(client, parent.info.run_id, metrics=to_metrics(metrics), tags=to_tags(tags))
        final = state.final
        if final and final.status == "success" and final.model_path:
            tracking.model_uri = self._final_model_uri(client, state, parent)
        tracking.final_logged = True

    def _log_model(self, state: SessionState, model_path: Path) -> None:
        tracking = self._tracking(state)
        client = self._client(tracking.tracking_uri)
        parent = client.get_run(tracking.parent_run_id)
        tracking.model_uri = self._final_model_uri(client, state, parent, model_path)

    def _final_model_uri(
        self, client: MlflowClient, state: SessionState, parent: Run, path: Path | None = None
    ) -> str:
        """The logged final model (``path``, or the state's final model file): the one on the
        parent run when there is one."""
        tracking = self._tracking(state)
        existing = self._existing_model(client, tracking)
        if existing is not None:
            return existing
        if path is None:
            assert state.final is not None and state.final.model_path
            path = Path(state.final.model_path)
        assert state.data is not None
        try:
            return log_pyfunc_model(
                path,
                Path(state.data.train_path),
                tracking.tracking_uri,
                tracking.parent_run_id,
            )
        finally:  # leaving the fluent run ended the parent: put its status back
            client.update_run(tracking.parent_run_id, status=parent.info.status)

    @staticmethod
    def _existing_model(client: MlflowClient, tracking: TrackingInfo) -> str | None:
        """A ready model already logged on the parent run; unfinished uploads are removed."""
        models = client.search_logged_models(
            experiment_ids=[tracking.experiment_id],
            filter_string=(f"source_run_id = '{tracking.parent_run_id}' AND name = '{MODEL_NAME}'"),
        )
        for model in models:
            if model.status == LoggedModelStatus.READY:
                return f"models:/{model.model_id}"
            client.delete_logged_model(model.model_id)
        return None


# ---- what gets logged -----------------------------------------------------------------------
def parent_params(state: SessionState) -> dict[str, Any]:
    config = state.config
    assert state.data is not None, "the parent run opens once data is loaded"
    return {
        "data_path": config.data_path,
        "target": config.target,
        "task": state.data.task,
        "metric": state.metric.name,
        "direction": state.metric.direction,
        "folds": state.folds,
        "holdout": config.holdout,
        "time_budget": config.time_budget,
        "max_iterations": state.max_iterations,
        "plateau": "none" if state.plateau is None else state.plateau,
        "seed": config.seed,
        "planner": state.planner_name,
        "n_train": state.data.n_train,
        "n_holdout": state.data.n_holdout,
    }


def parent_tags(state: SessionState) -> dict[str, str]:
    return {
        "run_id": state.run_id,
        "kind": KIND_SESSION,
        "planner": state.planner_name,
        "output_dir": state.config.output_dir,
        MLFLOW_RUN_NOTE: truncate(
            f"ML Autopilot session {state.run_id} on {state.config.data_path} "
            f"(target {state.config.target!r})",
            MAX_TAG_VAL_LENGTH,
        ),
    }


def child_params(record: ExperimentRecord) -> dict[str, Any]:
    spec = record.spec
    params: dict[str, Any] = {"model": spec.model}
    params.update({f"param.{key}": value for key, value in spec.params.items()})
    params.update({f"prep.{key}": value for key, value in spec.preprocessing.model_dump().items()})
    return params


def child_tags(state: SessionState, record: ExperimentRecord, parent_id: str) -> dict[str, str]:
    spec, result = record.spec, record.result
    tags: dict[str, Any] = {
        MLFLOW_PARENT_RUN_ID: parent_id,
        "run_id": state.run_id,
        "kind": KIND_EXPERIMENT,
        "iteration": record.iteration,
        "name": spec.name,
        "model": spec.model,
        "hypothesis": spec.hypothesis,
        "reasoning": spec.reasoning,
        "planner": spec.planner,
        "source": spec.source,
        "status": result.status,
        MLFLOW_RUN_NOTE: f"{spec.hypothesis}\n\n{spec.reasoning}",
    }
    optional = {
        "direction": spec.direction,
        "fallback_reason": spec.fallback_reason,
        "error": result.error,
        "is_new_best": record.analysis.is_new_best if record.analysis else None,
    }
    tags.update({key: value for key, value in optional.items() if value is not None})
    return {key: truncate(str(value), MAX_TAG_VAL_LENGTH) for key, value in tags.items()}


def child_metrics(record: ExperimentRecord) -> list[Metric]:
    """CV mean and std per metric, per-fold scores (step = fold index), timings."""
    result = record.result
    stamp = millis(record.finished_at)
    values: list[tuple[str, float | None, int]] = []
    for name, summary in result.metrics.items():
        values += [(f"cv_{name}_mean", summary.mean, 0), (f"cv_{name}_std", summary.std, 0)]
        values += [(f"fold_{name}", score, step) for step, score in enumerate(summary.folds)]
    if result.status == "pruned":  # no summary: the primary metric on the folds it scored
        values += [("fold_score", score, step) for step, score in enumerate(result.fold_scores)]
    values += [
        ("cv_score", result.cv_score, 0),
        ("fit_time", result.fit_time, 0),
        ("predict_time", result.predict_time, 0),
        ("duration", result.duration, 0),
    ]
    return [
        Metric(clean_key(key), float(value), stamp, step)
        for key, value, step in values
        if value is not None and math.isfinite(value)
    ]


def log_child_artifacts(
    client: MlflowClient, run_id: str, state: SessionState, record: ExperimentRecord
) -> None:
    """The script and its output, the data profile, and the error of a failed experiment."""
    result = record.result
    if result.script_path and Path(result.script_path).is_file():
        script = Path(result.script_path)
        for path in (script, *(script.parent / name for name in OUTPUT_FILES)):
            if path.is_file():
                client.log_artifact(run_id, str(path))
    if state.profile is not None:
        client.log_dict(run_id, state.profile.model_dump(mode="json"), PROFILE_FILE)
    if result.status != "success":
        text = f"{result.status}: {result.error or 'no error message'}\n\n{result.output_tail}"
        client.log_text(run_id, text, ERROR_FILE)


def final_summary(state: SessionState) -> tuple[dict[str, float | None], dict[str, Any]]:
    """Metrics and tags of the final refit for the parent run."""
    final = state.final
    best = state.best()
    if final is None:
        score = best.result.cv_score if best else None
        return {"best_cv_score": score}, {"final_status": "none"}
    metrics: dict[str, float | None] = {
        f"holdout_{name}": value for name, value in final.holdout_metrics.items()
    }
    metrics.update(
        {
            "best_cv_score": final.cv_score,
            "refit_time": final.refit_time,
            "all_rows_refit_time": final.all_rows_refit_time,
            "model_trained_rows": final.trained_rows,
        }
    )
    tags = {
        "best_iteration": final.iteration,
        "best_name": final.name,
        "final_status": final.status,
        "final_error": final.error,
        "model_trained_on": state.saved_model_rows(),
    }
    return metrics, tags


def artifact_location(uri: str) -> str | None:
    """Artifacts of a SQLite store sit beside its database (the run folder's: ``mlartifacts``);
    a tracking server decides for itself (None)."""
    if not uri.startswith(SQLITE_PREFIX):
        return None
    database = Path(uri.removeprefix(SQLITE_PREFIX))
    return artifact_root(database.parent).as_uri()


# ---- MLflow plumbing ------------------------------------------------------------------------
def millis(timestamp: str) -> int:
    """An ISO-8601 time as MLflow's milliseconds since the epoch."""
    return int(datetime.fromisoformat(timestamp).timestamp() * 1000)


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def clean_key(key: str) -> str:
    """A key MLflow accepts (letters, digits, _ - . space /)."""
    return _BAD_KEY_CHARS.sub("_", key)[:250]


def to_params(values: dict[str, Any]) -> list[Param]:
    return [
        Param(clean_key(key), truncate(json_text(value), MAX_PARAM_VAL_LENGTH))
        for key, value in values.items()
    ]


def to_tags(values: dict[str, Any]) -> list[RunTag]:
    return [
        RunTag(clean_key(key), truncate(str(value), MAX_TAG_VAL_LENGTH))
        for key, value in values.items()
        if value is not None
    ]


def to_metrics(values: dict[str, float | None]) -> list[Metric]:
    stamp = int(datetime.now().timestamp() * 1000)
    return [
        Metric(clean_key(key), float(value), stamp, 0)
        for key, value in values.items()
        if value is not None and math.isfinite(value)
    ]


def json_text(value: Any) -> str:
    """Strings as they are; anything else as JSON (None -> null, True -> true)."""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def log_batch(
    client: MlflowClient,
    run_id: str,
    metrics: Sequence[Metric] = (),
    params: Sequence[Param] = (),
    tags: Sequence[RunTag] = (),
) -> None:
    """``log_batch`` within MLflow's per-request limits."""
    for chunk in chunks(params, MAX_PARAMS_TAGS_PER_BATCH):
        client.log_batch(run_id, params=chunk)
    for chunk in chunks(tags, MAX_PARAMS_TAGS_PER_BATCH):
        client.log_batch(run_id, tags=chunk)
    for chunk in chunks(metrics, MAX_METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=chunk)


def chunks(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
