"""The autopilot loop as a small state machine over phases; it owns the time budget.

load -> profile -> baseline -> iterate (propose, validate, render, execute, analyse,
hypothesise, check termination) -> finalize. The state is saved after every phase and every
experiment, so a session stopped at any point (Ctrl+C, kill -9) resumes where it was.
"""

from __future__ import annotations

import math
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ml_autopilot.analysis import analyse
from ml_autopilot.catalog.validation import validate_spec
from ml_autopilot.codegen.render import EARLY_STOPPING_PARAM, RenderRequest, write_script
from ml_autopilot.config import RunConfig
from ml_autopilot.constraints import load_constraints
from ml_autopilot.data.loading import load_split, prepare_data
from ml_autopilot.data.profiling import profile_data
from ml_autopilot.ensemble import encoded_target, select_ensemble
from ml_autopilot.errors import AutopilotError, SpecValidationError
from ml_autopilot.execution.base import ExecutionOutcome, ExecutionRequest, Executor
from ml_autopilot.execution.local import LocalExecutor
from ml_autopilot.finalize import finalize
from ml_autopilot.log import get_logger
from ml_autopilot.planning.base import Planner, PlanningContext, baseline_spec
from ml_autopilot.planning.factory import make_planner, resolve_planner_name
from ml_autopilot.reporting.build import build_all
from ml_autopilot.state import (
    ExperimentRecord,
    ExperimentResult,
    ExperimentSpec,
    MetricSummary,
    SessionState,
    load_state,
    save_state,
    utc_now,
)
from ml_autopilot.termination import TerminationView, check_termination
from ml_autopilot.tracking.base import NullTracker, Tracker

logger = get_logger("session")
EXPERIMENTS_DIR = "experiments"
MIN_EXPERIMENT_SECONDS = 5.0
PROCESS_OVERHEAD_SECONDS = 4.0


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
    ) -> None:
        self.state = state
        self.tracker = tracker or NullTracker()
        self.run_dir = Path(state.config.output_dir)
        self.executor = executor or LocalExecutor()
        self.listener = listener or QuietListener()
        self.clock = Clock(state.elapsed_seconds, time.monotonic())
        self._planner = planner

    # ---- construction ------------------------------------------------------------------
    @classmethod
    def create(cls, config: RunConfig, **kwargs: object) -> Session:
        """A new session in an empty (or new) run folder."""
        run_dir = Path(config.output_dir)
        if (run_dir / "state.json").exists():
            from ml_autopilot.errors import UserError

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
        except KeyboardInterrupt:
            self.state.termination_reason = self.state.termination_reason or "interrupted"
            self.save()
            raise
        except AutopilotError as exc:
            self.state.phase = "failed"
            self.state.error = str(exc)
            self.save()
            raise
        return self.state

    def _run_phases(self) -> None:
        state = self.state
        if state.phase == "created":
            self._load()
        if state.data is not None:
            self.tracker.start(state)  # also catches up experiments a crash left unlogged
            self.save()
        if state.phase == "loaded":
            self._profile()
        if state.phase == "profiled":
            self._baseline()
        if state.phase in ("baseline", "iterating"):
            self._iterate()
        if state.phase == "finalizing":
            self._finalize()

    def _load(self) -> None:
        info, _ = prepare_data(self.state.config, self.run_dir)
        self.state.data = info
        self._advance(
            "loaded",
            f"Loaded {info.n_rows} rows: {info.n_train} for search, "
            f"{info.n_holdout} private holdout; task {info.task}, metric "
            f"{info.metric.name} ({info.metric.direction})",
        )

    def _profile(self) -> None:
        assert self.state.data is not None
        train = load_split(self.state.data, "train")
        self.state.profile = profile_data(train, self.state.data.target, self.state.data.task)
        warnings = len(self.state.profile.warnings)
        self._advance(
            "profiled", f"Profiled {self.state.profile.n_rows} rows, {warnings} warning(s)"
        )

    def _baseline(self) -> None:
        assert self.state.data is not None
        record = self._run_experiment(baseline_spec(self.state.data.task))
        if record.result.status != "success":
            self.state.termination_reason = f"baseline failed: {record.result.error}"
            self._advance("failed", self.state.termination_reason)
            return
        self._advance("baseline", f"Baseline {record.result.cv_score:.5g}")

    def _iterate(self) -> None:
        self.state.phase = "iterating"
        planner = self.planner
        while True:
            reason = self._termination_reason(planner)
            if reason:
                self.state.termination_reason = reason
                break
            context = self._context()
            try:
                spec = planner.propose(context)
            except AutopilotError as exc:
                logger.warning("planner failed: %s", exc)
                spec = None
            if spec is None:
                self.state.termination_reason = "the planner has nothing left worth trying"
                break
            self._run_experiment(spec)
        self._advance("finalizing", f"Stopping: {self.state.termination_reason}")

    def _finalize(self) -> None:
        if self.state.experiments and self.state.experiments[-1].spec.model != "ensemble":
            self._ensemble()
        self.state.final = finalize(self.state, self.executor, self.time_left())
        self.save()
        self.tracker.log_final(self.state)
        self._collect_planner_outputs()
        written = build_all(self.state, self.run_dir)
        self._advance("done", f"Finished; report in {written.get('report', 'no report')}")
        self.tracker.close(self.state)
        self.save()

    def _ensemble(self) -> None:
        """Blend the best experiments' out-of-fold predictions; recorded as an experiment."""
        state = self.state
        assert state.data is not None
        started, started_at = time.monotonic(), utc_now()
        target = encoded_target(state.data, load_split(state.data, "train"))
        choice = select_ensemble(
            state.experiments,
            target,
            state.data,
            state.metric,
            state.config.folds,
            state.config.seed,
        )
        if choice is None:
            logger.info("no ensemble: fewer than two experiments to blend")
            return
        summary = choice.summary()
        members = list(choice.weights)
        names = ", ".join(
            f"{state.experiments[i].spec.name} x{w:.2f}" for i, w in choice.weights.items()
        )
        spec = ExperimentSpec(
            name=f"ensemble_of_{len(members)}",
            model="ensemble",
            params={"members": members, "weights": list(choice.weights.values())},
            hypothesis="A weighted blend of the best experiments beats the best single model.",
            reasoning=(
                "Greedy ensemble selection with replacement over out-of-fold "
                f"predictions (Caruana et al., 2004): {names}."
            ),
            planner=state.planner_name,
            source="ensemble",
        )
        result = ExperimentResult(
            status="success",
            cv_score=float(summary[state.metric.name]["mean"]),
            cv_std=float(summary[state.metric.name]["std"]),
            fold_scores=list(summary[state.metric.name]["folds"]),
            metrics={
                k: MetricSummary.model_validate(v)
                for k, v in summary.items()
                if all(math.isfinite(x) for x in v["folds"])
            },
            fit_time=sum(state.experiments[i].result.fit_time or 0.0 for i in members),
            duration=time.monotonic() - started,
        )
        record = ExperimentRecord(
            iteration=state.next_iteration(),
            spec=spec,
            result=result,
            started_at=started_at,
            finished_at=utc_now(),
        )
        record.analysis = analyse(
            state.experiments, result, record.iteration, state.metric, model="ensemble"
        )
        state.experiments.append(record)
        self.save()
        self.tracker.log_experiment(state, record)
        self.save()
        self.listener.experiment_finished(state, record)

    # ---- one experiment ----------------------------------------------------------------
    def _run_experiment(self, spec: ExperimentSpec) -> ExperimentRecord:
        state = self.state
        assert state.data is not None and state.profile is not None
        planner = self.planner  # built (and replayed) before this record joins the history
        iteration = state.next_iteration()
        started_at = utc_now()
        self.listener.experiment_started(state, iteration, spec)
        try:
            validated = validate_spec(spec, state.data.task, state.profile)
            spec = validated.spec
            for note in validated.notes:
                logger.info("experiment %d: %s", iteration, note)
            result = self._execute(iteration, spec)
        except SpecValidationError as exc:
            result = ExperimentResult(status="failed", error=f"invalid spec: {exc}")
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
        planner.observe(record)
        state.experiments.append(record)
        context = self._context()
        record.analysis.observations += planner.observations(record, context)
        record.hypotheses = planner.hypothesise(context)
        state.pending_hypotheses = record.hypotheses
        state.planner_memory = planner.export_memory()
        state.llm_usage = planner.usage()
        self.save()  # the experiment is safe on disk before anything else happens
        self.tracker.log_experiment(state, record)
        self.save()
        self.listener.experiment_finished(state, record)
        return record

    def _execute(self, iteration: int, spec: ExperimentSpec) -> ExperimentResult:
        state = self.state
        assert state.data is not None and state.profile is not None
        workdir = self._experiment_dir(iteration, spec.name)
        script = write_script(
            RenderRequest(
                iteration=iteration,
                spec=spec,
                data=state.data,
                profile=state.profile,
                folds=state.config.folds,
                seed=state.config.seed,
                n_threads=state.config.n_threads,
                output_dir=workdir,
            )
        )
        timeout = self.experiment_timeout()
        outcome = self.executor.run(
            ExecutionRequest(
                script=script,
                workdir=workdir,
                timeout=timeout,
                n_threads=state.config.n_threads,
                memory_limit_mb=state.config.memory_limit_mb,
            )
        )
        return result_from_outcome(outcome, script)

    def _experiment_dir(self, iteration: int, name: str) -> Path:
        root = self.run_dir / EXPERIMENTS_DIR
        root.mkdir(parents=True, exist_ok=True)
        for stale in root.glob(f"{iteration:03d}_*"):  # left by a session killed mid-run
            shutil.rmtree(stale, ignore_errors=True)
        path = root / f"{iteration:03d}_{name}"
        path.mkdir()
        return path

    # ---- time ----------------------------------------------------------------------------
    def time_left(self) -> float:
        return self.state.config.time_budget - self.clock.used()

    def final_reserve(self) -> float:
        """Seconds kept back for the final refit of the best experiment."""
        best = self.state.best()
        if best is None or best.result.fit_time is None:
            return PROCESS_OVERHEAD_SECONDS
        folds = self.state.config.folds
        one_full_fit = best.result.fit_time / folds * folds / max(folds - 1, 1)
        return PROCESS_OVERHEAD_SECONDS + 1.3 * one_full_fit

    def experiment_timeout(self) -> float:
        available = self.time_left() - self.final_reserve()
        cap = self.state.config.experiment_timeout
        return max(0.1, min(available, cap) if cap else available)

    def _termination_reason(self, planner: Planner) -> str | None:
        state = self.state
        config = state.config
        constraints = state.constraints
        view = TerminationView(
            records=state.experiments,
            metric=state.metric,
            max_iterations=constraints.max_iterations or config.max_iterations,
            time_used=self.clock.used(),
            time_budget=config.time_budget,
            plateau=constraints.plateau or config.plateau,
            min_improvement=config.min_improvement,
            target_score=(
                config.target_score if config.target_score is not None else constraints.target_score
            ),
            planner_stop_reason=planner.stop_reason(self._context()),
        )
        reason = check_termination(view)
        if reason is None and self.time_left() - self.final_reserve() < MIN_EXPERIMENT_SECONDS:
            reason = (
                f"time budget of {config.time_budget:g} s nearly used; the rest is kept "
                "for the final refit"
            )
        return reason

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

    def _context(self) -> PlanningContext:
        state = self.state
        assert state.data is not None and state.profile is not None
        pending = state.pending_hypotheses
        return PlanningContext(
            task=state.data.task,
            metric=state.metric,
            profile=state.profile,
            constraints=state.constraints,
            history=list(state.experiments),
            hypothesis=pending.top if pending else None,
            time_left=self.time_left() - self.final_reserve(),
            iteration=state.next_iteration(),
        )

    # ---- persistence -------------------------------------------------------------------
    def _advance(self, phase: str, message: str) -> None:
        self.state.phase = phase  # type: ignore[assignment]
        self.save()
        self.listener.phase(self.state, message)

    def save(self) -> None:
        self.state.elapsed_seconds = self.clock.used()
        save_state(self.state, self.run_dir)


def result_from_outcome(outcome: ExecutionOutcome, script: Path) -> ExperimentResult:
    """Turn what a script produced into a result; bad payloads become failures."""
    common = {
        "duration": outcome.duration,
        "output_tail": outcome.output_tail,
        "script_path": str(script),
    }
    if outcome.status != "success":
        return ExperimentResult(status=outcome.status, error=outcome.error, **common)
    payload = outcome.payload
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
            fit_time=payload.get("fit_time"),
            best_rounds=[int(x) for x in payload.get("best_rounds") or []],
            refit_params=_checked_refit_params(payload.get("refit_params")),
            predict_time=payload.get("predict_time"),
            **common,
        )
    except (KeyError, TypeError, ValueError) as exc:
        return ExperimentResult(status="failed", error=f"bad result payload: {exc}", **common)


def _checked_refit_params(value: object) -> dict[str, int]:
    """Only round counts for the early-stopping parameters, as sane whole numbers."""
    if not isinstance(value, dict):
        return {}
    allowed = set(EARLY_STOPPING_PARAM.values())
    return {
        key: int(rounds)
        for key, rounds in value.items()
        if key in allowed and isinstance(rounds, int) and 1 <= rounds <= 100_000
    }
