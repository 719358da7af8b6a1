"""The autopilot loop as a small state machine over phases; it owns the time budget.

load -> profile -> baseline -> iterate (propose, validate, render, execute, analyse,
hypothesise, check termination) -> finalize. The state is saved after every phase and every
experiment, so a session stopped at any point (Ctrl+C, kill -9) resumes where it was.
"""

from __future__ import annotations

import importlib
import math
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np
import pandas as pd

from ml_autopilot import control, directions, steering
from ml_autopilot.analysis import analyse
from ml_autopilot.catalog.metrics import relative_improvement
from ml_autopilot.catalog.validation import validate_spec
from ml_autopilot.codegen.render import (
    REFIT_SIZE_PARAMS,
    RenderRequest,
    renumbered_script,
    write_script,
)
from ml_autopilot.config import RunConfig
from ml_autopilot.constraints import load_constraints
from ml_autopilot.data.loading import load_split, prepare_data
from ml_autopilot.data.profiling import profile_data
from ml_autopilot.ensemble import encoded_target, ensemble_experiment
from ml_autopilot.errors import AutopilotError, SpecValidationError, UserError
from ml_autopilot.execution.base import ExecutionOutcome, ExecutionRequest, Executor
from ml_autopilot.execution.local import LocalExecutor
from ml_autopilot.execution.warm import DEFAULT_PRELOAD
from ml_autopilot.finalize import (
    all_rows_factor,
    finalize,
    makespan,
    refit_estimate,
    wait_until_fitting,
)
from ml_autopilot.log import get_logger
from ml_autopilot.planning.base import Planner, PlanningContext, baseline_spec
from ml_autopilot.planning.factory import make_planner, resolve_planner_name
from ml_autopilot.pruning import PRUNE_MARGIN, prune_limits
from ml_autopilot.state import (
    ExperimentRecord,
    ExperimentResult,
    ExperimentSpec,
    MetricSummary,
    ResearchDirection,
    SessionState,
    SteeringNote,
    experiment_folder_name,
    load_state,
    save_state,
    utc_now,
)
from ml_autopilot.termination import PLATEAU_REASON, TerminationView, check_termination
from ml_autopilot.timing import checked_spans, spans_until_stopped
from ml_autopilot.tracking.base import NullTracker, Tracker

if TYPE_CHECKING:
    from ml_autopilot.reporting.importance import ImportanceResult
    from ml_autopilot.reporting.plots import PlotOutcome

logger = get_logger("session")
T = TypeVar("T")
REPORTING_MODULE = "ml_autopilot.reporting.build"  # imported only for the end phase
EXPERIMENTS_DIR = "experiments"
MIN_EXPERIMENT_SECONDS = 5.0
MAX_INVALID_IN_A_ROW = 5
PROCESS_OVERHEAD_SECONDS = 4.0
END_WAIT_MARGIN_SECONDS = 600.0  # children of the end phase wait this long beyond the budget
# The end phase's companions (the importance and report children, MLflow's model-logging
# setup) start once a final refit has begun fitting, or this long after it started: begun at the
# same moment, their imports and plots took the cores the refit scripts needed to read and
# prepare the data (connect-4: 0.44-0.7 s from a refit's start to its first fit, 0.2 s alone).
FITTING_WAIT_SECONDS = 2.0
POST_RUN_SECONDS = 5.0  # MLflow, importance, plots, report: 2-3 s measured after a 60 s run
ENSEMBLE_RESERVE_MEMBERS = 3


class SessionListener(Protocol):
    """What the CLI (or a test) hears about; every method is optional to act on."""

    def phase(self, state: SessionState, message: str) -> None: ...

    def experiment_started(
        self, state: SessionState, iteration: int, spec: ExperimentSpec
    ) -> None: ...

    def experiment_finished(self, state: SessionState, record: ExperimentRecord) -> None: ...


class QuietListener:
    """A listener that ignores everything."""

    def phase(self, state: SessionState, message: str) -> None:
        return None

    def experiment_started(self, state: SessionState, iteration: int, spec: ExperimentSpec) -> None:
        return None

    def experiment_finished(self, state: SessionState, record: ExperimentRecord) -> None:
        return None


@dataclass(frozen=True)
class Launch:
    """An experiment handed to the executor and not yet recorded."""

    spec: ExperimentSpec
    request: ExecutionRequest
    started_at: str
    number: int  # its launch number, which names its folder until it is recorded


@dataclass
class Clock:
    """Time used by this session, earlier sittings included."""

    earlier: float
    started: float

    def used(self) -> float:
        return self.earlier + (time.monotonic() - self.started)


class Session:
    """One autopilot run in one run folder."""

    def __init__(
        self,
        state: SessionState,
        executor: Executor | None = None,
        listener: SessionListener | None = None,
        planner: Planner | None = None,
        tracker: Tracker | None = None,
        started: float | None = None,
    ) -> None:
        self.state = state
        self.tracker = tracker or NullTracker()
        self.run_dir = Path(state.config.output_dir)
        self.executor = executor or LocalExecutor()
        self.listener = listener or QuietListener()
        self.clock = Clock(
            state.elapsed_seconds, started if started is not None else (time.monotonic())
        )
        self._planner = planner
        self._pool: ThreadPoolExecutor | None = None
        self._carried: dict[Future[ExecutionOutcome], Launch] = {}
        # the last blend tried before a plateau stop: tried once per set of successes, and
        # reused by the end of the run when it was not recorded and no success came in since
        self._interim_blend: Blend | None = None
        self._target: np.ndarray | None = None
        self.interact: Callable[[ResearchDirection | None], str | None] | None = None
        # set by the CLI's Ctrl+C handler; checked at each turn of the loop, because the
        # KeyboardInterrupt itself can be swallowed (see ``cli.catch_interrupts``)
        self.interrupted: threading.Event | None = None
        self._tracking = False
        # the report child, started with the search (``_start_report_child``)
        self._report: Future[dict[str, Path] | None] | None = None
        self._report_thread: ThreadPoolExecutor | None = None

    # ---- construction ------------------------------------------------------------------
    @classmethod
    def create(cls, config: RunConfig, **kwargs: object) -> Session:
        """A new session in an empty (or new) run folder."""
        run_dir = Path(config.output_dir)
        if (run_dir / "state.json").exists():
            raise UserError(
                f"{run_dir} already holds a run; use --resume {run_dir} or another --output-dir."
            )
        state = SessionState(run_id=uuid.uuid4().hex[:12], config=config)
        state.planner_name = resolve_planner_name(config)
        if config.constraints_path:
            state.constraints = load_constraints(Path(config.constraints_path))
        save_state(state, run_dir)
        return cls(state, **kwargs)  # type: ignore[arg-type]

    @classmethod
    def resume(cls, run_dir: Path, **kwargs: object) -> Session:
        """Continue the run saved in ``run_dir``."""
        return cls(load_state(run_dir), **kwargs)  # type: ignore[arg-type]

    # ---- the loop ----------------------------------------------------------------------
    def run(self) -> SessionState:
        """Run every remaining phase; on Ctrl+C the state is saved before re-raising."""
        try:
            self._run_phases()
        except BaseException as exc:
            self._stop_report_child()
            if isinstance(exc, KeyboardInterrupt):
                self.state.termination_reason = self.state.termination_reason or "interrupted"
                self.save()
            elif isinstance(exc, AutopilotError):
                self.state.phase = "failed"
                self.state.error = str(exc)
                self.save()
                if self._tracking:
                    self.tracker.close(self.state)
            raise
        finally:
            if self._report_thread is not None:
                self._report_thread.shutdown(wait=False)
        return self.state

    def _run_phases(self) -> None:
        state = self.state
        train = self._load() if state.phase == "created" else None
        if state.phase == "loaded":
            self._profile(train)
        if state.phase == "profiled":
            self._baseline()
        if state.phase == "failed":
            self._start_tracking()
            self.tracker.close(state)
            return
        if state.phase in ("baseline", "iterating"):
            # the model libraries that unpickling the final model needs (and, when the report
            # is written here rather than in a child, matplotlib and plotly: about 1 s) load
            # while experiments run, not after the final refit
            reporting = () if self.executor.local_files else (REPORTING_MODULE,)
            _preload(*reporting, *DEFAULT_PRELOAD)
            self._start_report_child()
            self._iterate()  # tracking starts once its first experiments are running
        self._start_tracking()
        if state.phase == "finalizing":
            self._finalize()

    def _start_report_child(self) -> None:
        """Start the report child with the search (once per sitting), where the executor's
        scripts see this run folder: it loads its modules while the experiments run, then
        waits for the search to end (``report_job.search_ready``)."""
        if not self.executor.local_files or self._report is not None:
            return
        from ml_autopilot.reporting import report_job

        report_job.clear_earlier_end(self.run_dir)
        waiting = self.time_left() + END_WAIT_MARGIN_SECONDS
        self._report_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="report")
        self._report = self._report_thread.submit(self._report_in_child, waiting)

    def _stop_report_child(self) -> None:
        """Stop a report child still waiting for a session that is not going to end well."""
        if self._report is not None and not self._report.done():
            self.executor.cancel_all()

    def _start_tracking(self) -> None:
        """Open the MLflow run once the baseline is in; start() logs every experiment not
        logged yet, so nothing is missed or doubled. Its setup (the store, the parent run) took
        1-2 s in which no experiment ran, so the search launches its first experiments first,
        and opens it only once the tracker's own setup is done."""
        if not self._tracking:
            self.tracker.start(self.state)
            self._tracking = True
            self.save()

    def _load(self) -> pd.DataFrame:
        """Read, check and split the data; returns the train split as stored, for the profile."""
        info, train = prepare_data(self.state.config, self.run_dir)
        self.state.data = info
        if self.state.config.folds is None:  # stored, so a resumed run keeps the same folds
            update = {"folds": self.state.folds}
            self.state.config = self.state.config.model_copy(update=update)
        self._advance(
            "loaded",
            f"Loaded {info.n_rows} rows: {info.n_train} for search, "
            f"{info.n_holdout} private holdout; task {info.task}, metric "
            f"{info.metric.name} ({info.metric.direction})",
        )
        return train

    def _profile(self, train: pd.DataFrame | None) -> None:
        """Profile the train split: the frame just loaded, or (a resumed run) the stored one."""
        assert self.state.data is not None
        if train is None:
            train = load_split(self.state.data, "train")
        self.state.profile = profile_data(train, self.state.data.target, self.state.data.task)
        warnings = len(self.state.profile.warnings)
        self._advance(
            "profiled", f"Profiled {self.state.profile.n_rows} rows, {warnings} warning(s)"
        )

    def _baseline(self) -> None:
        """Run the baseline; with workers to spare, the planner's first design runs beside it.

        The baseline is always recorded first (iteration 0); an experiment started beside it
        is carried into the loop as already running."""
        assert self.state.data is not None
        started_at = utc_now()
        data = self.state.data
        launch = self._prepare(baseline_spec(data.task, self.state.profile, len(data.classes)))
        if launch is None:  # recorded as an invalid spec
            record = self.state.experiments[-1]
        else:
            pool = self._experiment_pool()
            baseline = pool.submit(self.executor.run, launch.request)
            deferred: list[ExperimentSpec] = []
            try:
                if self.state.config.workers > 1 and self.planner.designs_before_baseline:
                    # the first design runs beside it; an invalid one is recorded after it
                    _, beside = self._launch_next(self.planner, {baseline: launch}, deferred)
                    if beside is not None:
                        self._carried[pool.submit(self.executor.run, beside.request)] = beside
                self.tracker.begin_setup()  # beside the first experiments, not before them
                outcome = baseline.result()
            except BaseException:
                self.executor.cancel_all()
                raise
            script = self._numbered_as_recorded(launch)
            record = self._record(launch.spec, result_from_outcome(outcome, script), started_at)
            for spec in deferred:  # an invalid design is recorded after the baseline
                self._prepare(spec)
        if record.result.status != "success":
            self.executor.cancel_all()  # an experiment started beside it is not recorded
            self._close_pool()
            self.state.termination_reason = f"baseline failed: {record.result.error}"
            self._advance("failed", self.state.termination_reason)
            return
        self._advance("baseline", f"Baseline {record.result.cv_score:.5g}")

    def _experiment_pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=self.state.config.workers, thread_name_prefix="experiment"
            )
        return self._pool

    def _close_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _iterate(self) -> None:
        """Keep up to ``workers`` experiments running until a stopping rule fires."""
        self.state.phase = "iterating"
        self._remove_orphan_folders()
        self.save()
        planner = self.planner
        workers = self.state.config.workers
        running, self._carried = self._carried, {}  # started beside the baseline
        untracked: list[ExperimentRecord] = []
        reason: str | None = None
        pool = self._experiment_pool()
        try:
            try:
                while True:
                    reason = reason or self._apply_control(planner)
                    while reason is None and len(running) < workers:
                        reason, launch = self._launch_next(planner, running)
                        if launch is None:
                            break  # nothing to launch now: wait for a running experiment
                        running[pool.submit(self.executor.run, launch.request)] = launch
                    self.tracker.begin_setup()  # a resumed session's first launches are out
                    if self.tracker.ready():  # never wait for its setup while workers idle
                        self._start_tracking()  # while the experiments just launched run
                        self._track(untracked)
                        untracked = []
                    if not running:
                        break
                    done, _ = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
                    for future in done:
                        launch = running.pop(future)
                        script = self._numbered_as_recorded(launch)
                        record = self._record(
                            launch.spec,
                            result_from_outcome(future.result(), script),
                            launch.started_at,
                            track=False,
                        )
                        untracked.append(record)
                    if done and reason is not None and reason.startswith(PLATEAU_REASON):
                        # a plateau is a count of results: one that was still running when
                        # it was called may be the gain that ends it, so it is asked again
                        reason = None
            except BaseException:
                self.executor.cancel_all()  # unrecorded experiments re-run after a resume
                raise
        finally:
            self._close_pool()
        self.state.termination_reason = reason or "the planner has nothing left worth trying"
        self._advance("finalizing", f"Stopping: {self.state.termination_reason}")

    def _launch_next(
        self,
        planner: Planner,
        running: dict[Future[ExecutionOutcome], Launch],
        deferred: list[ExperimentSpec] | None = None,
    ) -> tuple[str | None, Launch | None]:
        """(stop reason, launch): the next experiment, or why none should start now.

        (None, None) means: nothing to start now, wait for a running experiment. With
        ``deferred``, a design that fails validation goes there instead of being recorded now
        (beside the baseline, which must be recorded first).
        """
        for _ in range(MAX_INVALID_IN_A_ROW):
            designed = [launch for launch in running.values() if launch.spec.source != "baseline"]
            reason = self._termination_reason(planner, in_flight=len(designed))
            if reason:
                return reason, None
            try:
                spec = planner.propose(self._context([launch.spec for launch in running.values()]))
            except AutopilotError as exc:
                logger.warning("planner failed: %s", exc)
                spec = None
            if spec is None:
                return (None if running else "the planner has nothing left worth trying"), None
            if deferred is not None and not self._valid(spec):
                deferred.append(spec)
                return None, None
            launch = self._prepare(spec)
            if launch is not None:
                return None, launch
        return (None if running else "the planner keeps proposing invalid experiments"), None

    def _finalize(self) -> None:
        with _timed("ensemble"):
            if self.state.experiments and self.state.experiments[-1].spec.model != "ensemble":
                self._ensemble()
        directions.close_all(self.state)
        directions.write_files(self.state, self.run_dir)
        from ml_autopilot.reporting import importance_job, report_job
        from ml_autopilot.reporting.child_job import send_all_signals

        # While the final refit runs in its own processes, the report child (started with the
        # search) draws the plots of the search and then waits, the importance's child starts,
        # loads its modules and waits for the final model, and this process readies MLflow's
        # model logging. Then the final model goes to MLflow here while the children compute the
        # importance and write the dashboard, plots and report (signalled as each input is
        # saved). An executor whose scripts cannot see this run folder (Dask) has all of it done
        # here: the search plots beside the refit, then importance and report beside the logging.
        self.save()  # the children read the experiments from the saved state
        in_children = self.executor.local_files
        run_dir = self.run_dir
        written: dict[str, Path] | None = None
        with ThreadPoolExecutor(max_workers=4) as background:
            background.submit(self._once_fitting, self.tracker.prepare_final)
            search_plots: Future[dict[str, PlotOutcome] | None] | None = None
            report: Future[dict[str, Path] | None] | None = None
            if in_children:
                importance_job.clear_model_ready(run_dir)
                waiting = self.time_left() + END_WAIT_MARGIN_SECONDS
                importance = background.submit(self._once_fitting, self._timed_importance, waiting)
                self._start_report_child()  # a run resumed at its end: not started yet
                report = self._report
                report_job.search_ready(run_dir)
            else:
                search_plots = background.submit(self._once_fitting, self._search_plots)
            try:
                with _timed("final refit"):
                    self.state.final = finalize(
                        self.state,
                        self.executor,
                        self.time_left(),
                        end_seconds=POST_RUN_SECONDS,  # what follows the refits
                        on_saved=partial(self._final_model_saved, background, in_children),
                    )
                self.save()  # the importance script reads the final model from the saved state
                if in_children:
                    importance_job.mark_model_ready(run_dir)
                else:
                    importance = background.submit(self._timed_importance)
                logged = background.submit(self._timed_final_logging)
                self._collect_planner_outputs()
                self.state.phase = "done"  # the report describes the finished session
                if report is not None:
                    written = self._report_from_child(report, importance)
                if written is None:  # no child wrote it (or it failed): written here
                    written = self._report_here(search_plots, importance)
                logged.result()
            except BaseException:
                if in_children:
                    self.executor.cancel_all()  # the children stop waiting for a finished run
                raise
            finally:  # a child still waiting goes on (and finds no model if the refit failed)
                if in_children:
                    for job in (importance_job.JOB, report_job.JOB):
                        send_all_signals(run_dir, job)
        if self.state.final is not None and importance.exception() is None:  # the report
            # already said why importance failed; its predictions count as model time
            self.state.final.importance_spans = checked_spans(importance.result()[1].model_spans)
        self._advance("done", f"Finished; report in {written.get('report', 'no report')}")
        control.clear_stop(self.run_dir)
        self.tracker.close(self.state)
        self.save()

    def _report_from_child(
        self,
        report: Future[dict[str, Path] | None],
        importance: Future[tuple[Path, ImportanceResult]],
    ) -> dict[str, Path] | None:
        """Signal the report child as its inputs are saved (the finished state, then the
        importance); what it wrote, or None when it failed or was stopped."""
        from ml_autopilot.reporting import report_job
        from ml_autopilot.reporting.child_job import send_signal
        from ml_autopilot.reporting.importance_job import run_seconds

        report_job.final_ready(self.state, self.run_dir)
        # the importance's file then holds the importance, or why there is none
        self._wait_for_child(importance, run_seconds(self.state), "importance")
        send_signal(self.run_dir, report_job.JOB, report_job.IMPORTANCE_READY)
        if self._wait_for_child(report, report_job.DRAW_SECONDS, "report"):
            return report.result()
        return None

    def _wait_for_child(self, job: Future[Any], seconds: float, what: str) -> bool:
        """Whether a child job of the end phase, its inputs ready, ended within ``seconds``;
        one that did not is stopped, with every script still running (the session then does
        without it, or does its work itself)."""
        if wait([job], timeout=seconds).done:
            return True
        logger.warning(
            "the %s child took over %.0f s once its inputs were ready; stopped", what, seconds
        )
        self.executor.cancel_all()
        wait([job])
        return False

    def _once_fitting(self, step: Callable[..., T], *args: Any) -> T:
        """``step(*args)`` once a final refit has begun fitting (``FITTING_WAIT_SECONDS``);
        at once where the scripts do not write into this run folder as they run (Dask)."""
        if self.executor.local_files:
            wait_until_fitting(self.run_dir, FITTING_WAIT_SECONDS)
        return step(*args)

    def _timed_importance(self, wait_seconds: float | None = None) -> tuple[Path, ImportanceResult]:
        """The final model's importance, written to ``report/importance.json``: in a child
        process of the executor when its scripts see this run folder (the importance script
        reads the state, data and model there; with ``wait_seconds`` it is started before the
        final model exists and waits for ``mark_model_ready``), else in this process."""
        from ml_autopilot.reporting.importance import write_importance
        from ml_autopilot.reporting.importance_job import importance_in_child

        with _timed("feature importance"):
            if self.executor.local_files:
                return importance_in_child(self.executor, self.state, self.run_dir, wait_seconds)
            return write_importance(self.state, self.run_dir)

    def _search_plots(self) -> dict[str, PlotOutcome] | None:
        """The plots that read only the experiments, drawn here while the final refit runs
        (an executor whose scripts cannot see this run folder: no report child)."""
        from ml_autopilot.reporting.build import draw_search_plots

        with _timed("search plots"):
            return draw_search_plots(self.state, self.run_dir)

    def _report_in_child(self, wait_seconds: float) -> dict[str, Path] | None:
        """The report child's files (``report_job``), or None when it failed."""
        from ml_autopilot.reporting.report_job import report_in_child

        with _timed("report child"):
            return report_in_child(self.executor, self.state, self.run_dir, wait_seconds)

    def _report_here(
        self,
        search_plots: Future[dict[str, PlotOutcome] | None] | None,
        importance: Future[tuple[Path, ImportanceResult]],
    ) -> dict[str, Path]:
        """Importance, plots, report and dashboard written in this process; the search plots
        drawn beside the refit, or by a report child before it failed, are kept."""
        from ml_autopilot.reporting.build import build_all
        from ml_autopilot.reporting.report_job import search_plots_drawn

        drawn = search_plots.result if search_plots is not None else None
        if drawn is None and (from_child := search_plots_drawn(self.run_dir)) is not None:
            drawn = lambda: from_child  # noqa: E731
        with _timed("report"):
            return build_all(self.state, self.run_dir, drawn, importance.result)

    def _final_model_saved(
        self, background: ThreadPoolExecutor, in_children: bool, path: Path
    ) -> None:
        """A blend's all-rows file is saved, the session scores the holdout next: meanwhile the
        importance child loads it and MLflow logs it (``log_final`` then finds it there)."""
        from ml_autopilot.reporting import importance_job

        if in_children:
            importance_job.mark_model_ready(self.run_dir, path)
        background.submit(self._timed_model_logging, path)

    def _timed_model_logging(self, path: Path) -> None:
        with _timed("MLflow model logging"):
            self.tracker.log_model(self.state, path)

    def _timed_final_logging(self) -> None:
        with _timed("MLflow final logging"):
            self.tracker.log_final(self.state)

    def _ensemble(self) -> None:
        """Blend the best experiments' out-of-fold predictions; recorded as an experiment."""
        state = self.state
        assert state.data is not None
        interim = self._interim_blend
        if interim is not None and not interim.recorded and interim.covers(self._singles()):
            started_at, built = interim.started_at, interim.built
        else:
            started_at = utc_now()
            built = ensemble_experiment(state, self._train_target())
        if built is None:
            logger.info("no ensemble: fewer than two experiments worth blending")
            return
        spec, result = built
        self._record(self._unique_name(spec), result, started_at, observe=False)

    # ---- one experiment ----------------------------------------------------------------
    def _valid(self, spec: ExperimentSpec) -> bool:
        assert self.state.data is not None and self.state.profile is not None
        try:
            validate_spec(spec, self.state.data.task, self.state.profile)
        except SpecValidationError:
            return False
        return True

    def _prepare(self, spec: ExperimentSpec) -> Launch | None:
        """Validate and render; an invalid spec is recorded as failed and None returned."""
        state = self.state
        assert state.data is not None and state.profile is not None
        number = state.launch_count
        state.launch_count += 1
        started_at = utc_now()
        try:
            validated = validate_spec(spec, state.data.task, state.profile)
        except SpecValidationError as exc:
            self.listener.experiment_started(state, number, spec)
            self._record(
                spec, ExperimentResult(status="failed", error=f"invalid spec: {exc}"), started_at
            )
            return None
        spec = validated.spec
        for note in validated.notes:
            logger.info("experiment %s: %s", spec.name, note)
        workdir = self._experiment_folder(number, spec.name)
        timeout = self.experiment_timeout()
        limits = prune_limits(state, spec)
        if limits is not None:
            logger.info(
                "experiment %s: stopped after a fold %.0f%% worse than the same fold of %s",
                spec.name,
                100 * PRUNE_MARGIN,
                limits.reference,
            )
        script = write_script(
            RenderRequest(
                iteration=number,
                spec=spec,
                data=state.data,
                profile=state.profile,
                folds=state.folds,
                seed=state.config.seed,
                n_threads=state.config.threads_per_experiment,
                output_dir=workdir,
                time_limit=timeout,
                time_budget=state.config.time_budget,
                prune=None if limits is None else limits.as_literal(),
            )
        )
        request = ExecutionRequest(
            script=script,
            workdir=workdir,
            timeout=timeout,
            n_threads=state.config.threads_per_experiment,
            memory_limit_mb=state.config.memory_limit_mb,
        )
        self.save()  # the launch number is taken, even if this session dies now
        self.listener.experiment_started(state, number, spec)
        return Launch(spec, request, started_at, number)

    def _record(
        self,
        spec: ExperimentSpec,
        result: ExperimentResult,
        started_at: str,
        observe: bool = True,
        track: bool = True,
    ) -> ExperimentRecord:
        """Analyse a finished experiment, tell the planner, and save it before anything else.

        ``track=False`` leaves the MLflow logging to a later ``_track`` call (the loop starts
        the next experiments first, so the logging overlaps with them)."""
        state = self.state
        planner = self.planner  # built (and replayed) before this record joins the history
        iteration = state.next_iteration()
        record = ExperimentRecord(
            iteration=iteration,
            spec=spec,
            result=result,
            started_at=started_at,
            finished_at=utc_now(),
        )
        record.analysis = analyse(
            state.experiments, result, iteration, state.metric, model=spec.model
        )
        if observe:
            planner.observe(record)
        state.experiments.append(record)
        context = self._context()
        if observe:
            record.analysis.observations += planner.observations(record, context)
            record.hypotheses = planner.hypothesise(context)
            state.pending_hypotheses = record.hypotheses
        state.planner_memory = planner.export_memory()
        state.llm_usage = planner.usage()
        closed = directions.note_experiment(
            state, record, planner.describe_direction(spec.direction or "")
        )
        self.save()  # the experiment is safe on disk before anything else happens
        directions.write_files(state, self.run_dir)
        if track:
            self._track([record])
        self.listener.experiment_finished(state, record)
        for name in closed:
            self._direction_closed(name)
        return record

    def _track(self, records: list[ExperimentRecord]) -> None:
        """Log recorded experiments to MLflow (the tracker catches up on any it missed)."""
        if self._tracking and records:
            for record in records:
                self.tracker.log_experiment(self.state, record)
            self.save()

    def _experiment_folder(self, number: int, name: str) -> Path:
        root = self.run_dir / EXPERIMENTS_DIR
        root.mkdir(parents=True, exist_ok=True)
        path = root / experiment_folder_name(number, name)
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir()
        return path

    def _numbered_as_recorded(self, launch: Launch) -> Path:
        """A finished experiment's script, in a folder numbered as its record is about to be.

        Folders (and their scripts' headers) are numbered when an experiment is launched, and
        records when it finishes: with two workers a short experiment overtakes a long one, and
        the report's #4 would sit in ``experiments/002_...``. Its process has exited, so its
        folder takes the record's number now, and the script's header and output folder follow
        (nothing moves if that folder name is taken or the script is not the template's)."""
        script, number = launch.request.script, self.state.next_iteration()
        folder = script.parent
        target = folder.with_name(experiment_folder_name(number, launch.spec.name))
        if target == folder or target.exists() or not script.is_file():
            return script
        text = renumbered_script(
            script.read_text(encoding="utf-8"), (launch.number, folder), (number, target)
        )
        if text is None:
            return script
        try:
            folder.rename(target)
        except OSError as exc:
            logger.warning("experiment folder %s keeps its launch number: %s", folder.name, exc)
            return script
        moved = target / script.name
        moved.write_text(text, encoding="utf-8")
        return moved

    def _remove_orphan_folders(self) -> None:
        """Folders of experiments a killed session launched but never recorded."""
        root = self.run_dir / EXPERIMENTS_DIR
        kept = {
            Path(r.result.script_path).parent
            for r in self.state.experiments
            if r.result.script_path
        } | {launch.request.workdir for launch in self._carried.values()}  # running now
        for folder in root.glob("*") if root.is_dir() else []:
            if folder.is_dir() and folder not in kept:
                shutil.rmtree(folder, ignore_errors=True)

    # ---- a person in the loop ----------------------------------------------------------
    def _apply_control(self, planner: Planner) -> str | None:
        """Read `autopilot stop` and `autopilot steer`; returns a reason to stop, if any.
        A Ctrl+C whose KeyboardInterrupt was lost is raised again here."""
        if self.interrupted is not None and self.interrupted.is_set():
            raise KeyboardInterrupt
        state = self.state
        for text in control.read_steering(self.run_dir, since=len(state.steering)):
            note = SteeringNote(text=text)
            note.applied_as = self._apply_steering(text, planner)
            note.acknowledged_at = utc_now()
            state.steering.append(note)
            self.save()
            self.listener.phase(state, f'Steering received: "{text}" -> {note.applied_as}')
        if control.stop_requested(self.run_dir):
            return "stop requested (autopilot stop)"
        return None

    def _apply_steering(self, text: str, planner: Planner) -> str:
        state = self.state
        said = steering.merge(state.constraints, steering.read_instruction(text))
        if said:
            planner.update_constraints(state.constraints)
        if steering.wants_ensemble(text):
            before = len(state.experiments)
            self._ensemble()
            said.append(
                "blended the best experiments now"
                if len(state.experiments) > before
                else "no ensemble yet: fewer than two experiments worth blending"
            )
        if not said:
            directions.open_direction(state, f"user: {text[:50]}", text)
            said.append("a new research direction for the planner")
        return "; ".join(said)

    def _direction_closed(self, name: str) -> None:
        answer = self.interact(directions.find(self.state, name)) if self.interact else None
        if not answer or answer == "continue":
            return
        if answer == "stop":
            control.request_stop(self.run_dir)
        else:
            control.send_steer(self.run_dir, answer)

    # ---- time ----------------------------------------------------------------------------
    def time_left(self) -> float:
        return self.state.config.time_budget - self.clock.used()

    def final_reserve(self) -> float:
        """Seconds kept back for the end: refitting the best models (an ensemble's members in
        parallel; with ``refit_full`` each also on all rows, side by side), logging the model
        and writing the report."""
        state = self.state
        timed = [r for r in state.ranked_singles() if r.result.fit_time]
        fits = [refit_estimate(state, r) for r in timed[:ENSEMBLE_RESERVE_MEMBERS]]
        if state.config.refit_full:  # the same models again on all rows, beside them
            fits += [fit * all_rows_factor(state) for fit in fits]
        refit = makespan(fits, state.config.workers)
        return PROCESS_OVERHEAD_SECONDS + POST_RUN_SECONDS + 1.3 * refit

    def experiment_timeout(self) -> float:
        available = self.time_left() - self.final_reserve()
        cap = self.state.config.experiment_timeout
        return max(0.1, min(available, cap) if cap else available)

    def _termination_reason(self, planner: Planner, in_flight: int) -> str | None:
        state = self.state
        config = state.config
        reason = self._check_criteria(planner, in_flight)
        if reason is not None and reason.startswith(PLATEAU_REASON) and self._blend_lifts_plateau():
            reason = self._check_criteria(planner, in_flight)  # the blend is a new best
        if reason is None and self.time_left() - self.final_reserve() < MIN_EXPERIMENT_SECONDS:
            reason = (
                f"time budget of {config.time_budget:g} s nearly used; the rest is kept "
                "for the final refit"
            )
        return reason

    def _check_criteria(self, planner: Planner, in_flight: int) -> str | None:
        state = self.state
        config = state.config
        constraints = state.constraints
        view = TerminationView(
            records=state.experiments,
            in_flight=in_flight,
            metric=state.metric,
            max_iterations=state.max_iterations,
            time_used=self.clock.used(),
            time_budget=config.time_budget,
            plateau=state.plateau,
            min_improvement=config.min_improvement,
            target_score=(
                config.target_score if config.target_score is not None else constraints.target_score
            ),
            planner_stop_reason=planner.stop_reason(self._context()),
        )
        return check_termination(view)

    def _blend_lifts_plateau(self) -> bool:
        """Before a plateau stops the search: does a blend of what has run beat the best?

        Greedy ensemble selection over the out-of-fold predictions trains nothing and costs
        little. When the blend beats the best so far by the plateau's margin, it is recorded as
        an experiment (a new best), the plateau is lifted and the search goes on: the models
        found since the last gain were worth having after all. Tried once per set of results.
        """
        state = self.state
        assert state.data is not None
        singles = self._singles()
        tried = self._interim_blend
        if len(singles) < 2 or (tried is not None and tried.covers(singles)):
            return False
        started_at = utc_now()
        built = ensemble_experiment(state, self._train_target())
        blend = self._interim_blend = Blend(len(singles), started_at, built)
        best = state.best()
        if built is None or best is None or best.result.cv_score is None:
            return False
        spec, result = built
        gain = relative_improvement(
            result.cv_score or 0.0, best.result.cv_score, state.metric.direction
        )
        if gain < state.config.min_improvement:
            return False
        self._interim_blend = replace(blend, recorded=True)
        logger.info("a blend beats the best by %.2f%%: the search goes on", 100 * gain)
        self._record(self._unique_name(spec), result, started_at, observe=False)
        return True

    def _singles(self) -> list[ExperimentRecord]:
        """The successful experiments that are not blends."""
        return [r for r in self.state.successful() if r.spec.model != "ensemble"]

    def _train_target(self) -> np.ndarray:
        assert self.state.data is not None
        if self._target is None:
            self._target = encoded_target(self.state.data, load_split(self.state.data, "train"))
        return self._target

    def _unique_name(self, spec: ExperimentSpec) -> ExperimentSpec:
        taken = {r.spec.name for r in self.state.experiments}
        if spec.name not in taken:
            return spec
        return spec.model_copy(update={"name": f"{spec.name}_at_{self.state.next_iteration()}"})

    # ---- planner -----------------------------------------------------------------------
    @property
    def planner(self) -> Planner:
        if self._planner is None:
            self._planner = make_planner(self._context(), self.state)
            for record in self.state.experiments:  # replay history after a resume
                self._planner.observe(record)
        return self._planner

    def _collect_planner_outputs(self) -> None:
        try:
            self.state.narrative = self.planner.narrative(self.state)
        except AutopilotError as exc:  # the template report stands in for a failed narrative
            logger.warning("planner narrative failed: %s", exc)
        self.state.llm_usage = self.planner.usage()

    def _context(self, pending: list[ExperimentSpec] | None = None) -> PlanningContext:
        state = self.state
        assert state.data is not None and state.profile is not None
        hypotheses = state.pending_hypotheses
        return PlanningContext(
            task=state.data.task,
            metric=state.metric,
            profile=state.profile,
            constraints=state.constraints,
            history=list(state.experiments),
            hypothesis=hypotheses.top if hypotheses else None,
            time_left=self.time_left() - self.final_reserve(),
            iteration=state.next_iteration(),
            pending=list(pending or []),
            directions=list(state.directions),
        )

    # ---- persistence -------------------------------------------------------------------
    def _advance(self, phase: str, message: str) -> None:
        self.state.phase = phase  # type: ignore[assignment]
        self.save()
        self.listener.phase(self.state, message)

    def save(self) -> None:
        self.state.elapsed_seconds = self.clock.used()
        save_state(self.state, self.run_dir)


@dataclass(frozen=True)
class Blend:
    """A blend tried before a plateau stop: how many successes it blended, when it started,
    what it built (None: nothing worth blending) and whether it was recorded (it lifted the
    plateau)."""

    successes: int
    started_at: str
    built: tuple[ExperimentSpec, ExperimentResult] | None
    recorded: bool = False

    def covers(self, singles: list[ExperimentRecord]) -> bool:
        """Whether it blended exactly these successes (they only ever grow in number)."""
        return self.successes == len(singles)


def _preload(*modules: str) -> None:
    """Import ``modules`` in a background thread, off the critical path; an import error is
    left for the code that needs the module to raise."""

    def load() -> None:
        for module in modules:
            try:
                importlib.import_module(module)
            except Exception as exc:  # pragma: no cover - re-raised where the module is used
                logger.debug("preloading %s failed: %s", module, exc)

    threading.Thread(target=load, name="preload", daemon=True).start()


@contextmanager
def _timed(step: str) -> Iterator[None]:
    """Log how long one step of the end phase took (debug level, for time accounting)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        logger.debug("%s took %.2f s", step, time.perf_counter() - started)


def result_from_outcome(outcome: ExecutionOutcome, script: Path) -> ExperimentResult:
    """Turn what a script produced into a result; bad payloads become failures."""
    common = {
        "duration": outcome.duration,
        "output_tail": outcome.output_tail,
        "script_path": str(script),
    }
    if outcome.status != "success":  # the models it was fitting still took their time
        spans = spans_until_stopped(script.parent, time.time())
        return ExperimentResult(
            status=outcome.status, error=outcome.error, model_spans=spans, **common
        )
    payload = outcome.payload
    if payload.get("status") == "pruned":
        return _pruned_result(payload, common)
    try:
        cv_score = float(payload["cv_score"])
        if not math.isfinite(cv_score):
            raise ValueError(f"cv_score is {cv_score}")
        metrics = {  # a metric that cannot be computed (e.g. AUC on one class) is left out
            name: MetricSummary(
                mean=float(v["mean"]), std=float(v["std"]), folds=[float(x) for x in v["folds"]]
            )
            for name, v in payload.get("metrics", {}).items()
            if all(math.isfinite(float(x)) for x in [v["mean"], v["std"], *v["folds"]])
        }
        return ExperimentResult(
            status="success",
            cv_score=cv_score,
            cv_std=float(payload.get("cv_std", 0.0)),
            fold_scores=[float(x) for x in payload.get("fold_scores", [])],
            metrics=metrics,
            best_rounds=[int(x) for x in payload.get("best_rounds") or []],
            refit_params=_checked_refit_params(payload.get("refit_params")),
            **_timing_fields(payload),
            **common,
        )
    except (KeyError, TypeError, ValueError) as exc:
        return ExperimentResult(status="failed", error=f"bad result payload: {exc}", **common)


def _pruned_result(payload: dict[str, Any], common: dict[str, Any]) -> ExperimentResult:
    """A CV the script stopped after a fold that could not compete (ml_autopilot.pruning)."""
    try:
        folds = [float(x) for x in payload.get("fold_scores", [])]
        return ExperimentResult(
            status="pruned",
            error=str(payload.get("error") or "pruned"),
            fold_scores=[x for x in folds if math.isfinite(x)],
            **_timing_fields(payload),
            **common,
        )
    except (TypeError, ValueError) as exc:
        return ExperimentResult(status="failed", error=f"bad result payload: {exc}", **common)


def _timing_fields(payload: dict[str, Any]) -> dict[str, Any]:
    """Where a script's time went (fit, predict, model spans, folds cut by the clock)."""
    return {
        "fit_time": payload.get("fit_time"),
        "predict_time": payload.get("predict_time"),
        "model_spans": checked_spans(payload.get("model_spans")),
        "time_limited_folds": _count(payload.get("time_limited_folds")),
    }


def _count(value: object) -> int:
    """A non-negative whole number from a payload, else 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _checked_refit_params(value: object) -> dict[str, int]:
    """Only round or tree counts for the models' size parameters, as sane whole numbers."""
    if not isinstance(value, dict):
        return {}
    return {
        key: int(rounds)
        for key, rounds in value.items()
        if key in REFIT_SIZE_PARAMS and isinstance(rounds, int) and 1 <= rounds <= 100_000
    }
