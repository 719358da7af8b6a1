"""Pydantic records of a session, and their atomic, schema-versioned persistence.

Everything a session knows lives in one ``SessionState``; it is written to
``<run_dir>/state.json`` after every phase and every experiment, through a temp file that is
renamed into place, so the file on disk is always either the old or the new version.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ml_autopilot.config import RunConfig, TaskType, default_folds
from ml_autopilot.errors import UserError

SCHEMA_VERSION = 1
STATE_FILE = "state.json"

Phase = Literal[
    "created", "loaded", "profiled", "baseline", "iterating", "finalizing", "done", "failed"
]
Direction = Literal["minimize", "maximize"]
ExperimentStatus = Literal["success", "failed", "timeout", "pruned"]
Trend = Literal["initial", "improving", "degrading", "plateau", "fluctuating"]
Label = str | int | float | bool


def experiment_folder_name(number: int, name: str) -> str:
    """The folder of an experiment (under ``experiments/``, and of an ensemble member under
    ``final/members/``), also its MLflow run's name: its number, then its name. A finished
    experiment's number is its record's iteration."""
    return f"{number:03d}_{name}"


def utc_now() -> str:
    """Current time as an ISO-8601 string in UTC."""
    return datetime.now(UTC).isoformat(timespec="seconds")


class Record(BaseModel):
    """Base of every persisted record: unknown fields are an error, not silently kept."""

    model_config = ConfigDict(extra="forbid")


class MetricInfo(Record):
    name: str
    direction: Direction


class DataInfo(Record):
    """What was loaded and how it was split. The holdout file is read only by the final step."""

    source_path: str
    source_sha256: str
    task: TaskType
    target: str
    metric: MetricInfo
    n_rows: int
    n_train: int
    n_holdout: int
    feature_columns: list[str]
    classes: list[Label] = Field(default_factory=list)
    train_path: str
    holdout_path: str


class NumericStats(Record):
    mean: float | None
    std: float | None
    min: float | None
    q25: float | None
    median: float | None
    q75: float | None
    max: float | None


class ValueCount(Record):
    value: str
    count: int


class CategoricalStats(Record):
    n_unique: int
    top_values: list[ValueCount]


class ColumnProfile(Record):
    name: str
    dtype: str
    kind: Literal["numeric", "categorical"]
    n_missing: int
    pct_missing: float
    n_unique: int
    numeric: NumericStats | None = None
    categorical: CategoricalStats | None = None


class TargetProfile(Record):
    task: TaskType
    n_unique: int
    mean: float | None = None
    std: float | None = None
    skew: float | None = None
    min: float | None = None
    max: float | None = None
    class_counts: dict[str, int] = Field(default_factory=dict)
    balance: float | None = Field(None, description="smallest class count / largest")


class ProfileWarning(Record):
    kind: Literal[
        "id_like", "constant", "high_cardinality", "leakage", "many_missing", "small_data"
    ]
    column: str | None
    message: str


class DataProfile(Record):
    n_rows: int
    n_columns: int
    numeric_columns: list[str]
    categorical_columns: list[str]
    columns: list[ColumnProfile]
    target: TargetProfile
    pct_missing_cells: float
    warnings: list[ProfileWarning] = Field(default_factory=list)
    excluded_columns: list[str] = Field(
        default_factory=list, description="ID-like and constant columns no model sees"
    )

    def column(self, name: str) -> ColumnProfile:
        return next(c for c in self.columns if c.name == name)


class Constraints(Record):
    """Structured reading of the user's constraints file; ``notes`` keeps everything else."""

    metric: str | None = None
    preferred_models: list[str] = Field(default_factory=list)
    avoided_models: list[str] = Field(default_factory=list)
    preprocessing: dict[str, str] = Field(default_factory=dict)
    plateau: int | None = None
    target_score: float | None = None
    max_iterations: int | None = None
    notes: list[str] = Field(default_factory=list)


class Preprocessing(Record):
    model_config = ConfigDict(extra="forbid", frozen=True)

    imputation: Literal[
        "drop", "mean", "median", "mode", "constant", "iterative", "none"
    ] = "median"
    scaling: Literal["standard", "minmax", "none"] = "standard"
    encoding: Literal["onehot", "ordinal", "target", "native"] = "onehot"
    target_transform: Literal["none", "log"] = "none"


class ExperimentSpec(Record):
    """One experiment as designed: immutable once proposed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    model: str
    params: dict[str, Any] = Field(default_factory=dict)
    preprocessing: Preprocessing = Field(default_factory=Preprocessing)
    hypothesis: str
    reasoning: str
    planner: str = "optimizer"
    source: str = "portfolio"
    direction: str | None = Field(None, description="research direction it belongs to")
    fallback_reason: str | None = Field(
        None, description="why the offline planner designed it instead of the LLM"
    )


class MetricSummary(Record):
    mean: float
    std: float
    folds: list[float]


class ExperimentResult(Record):
    status: ExperimentStatus
    cv_score: float | None = None
    cv_std: float | None = None
    fold_scores: list[float] = Field(default_factory=list)
    metrics: dict[str, MetricSummary] = Field(default_factory=dict)
    fit_time: float | None = Field(None, description="seconds fitting, summed over folds")
    best_rounds: list[int] = Field(
        default_factory=list, description="boosting rounds (early stopping) or trees, per fold"
    )
    time_limited_folds: int = Field(
        0, description="folds whose boosting or tree growth stopped at their share of the limit"
    )
    refit_params: dict[str, Any] = Field(
        default_factory=dict, description="overrides for the final refit (e.g. rounds found)"
    )
    predict_time: float | None = Field(None, description="seconds predicting, summed")
    duration: float = Field(0.0, description="wall seconds of the whole subprocess")
    model_spans: list[tuple[float, float]] = Field(
        default_factory=list, description="epoch [start, end] of each fold's fit + predict"
    )
    error: str | None = None
    output_tail: str = ""
    script_path: str | None = None


class Comparison(Record):
    reference: Literal["baseline", "best", "previous"]
    reference_iteration: int
    reference_score: float
    change: float
    pct_change: float | None
    better: bool


class Analysis(Record):
    is_new_best: bool
    comparisons: list[Comparison] = Field(default_factory=list)
    trend: Trend = "initial"
    observations: list[str] = Field(default_factory=list)


class Hypothesis(Record):
    rank: int
    statement: str
    rationale: str
    confidence: float = Field(ge=0, le=1)
    action: dict[str, Any] = Field(default_factory=dict)


class HypothesisSet(Record):
    hypotheses: list[Hypothesis] = Field(default_factory=list)

    @property
    def top(self) -> Hypothesis | None:
        return self.hypotheses[0] if self.hypotheses else None


class ExperimentRecord(Record):
    iteration: int
    spec: ExperimentSpec
    result: ExperimentResult
    analysis: Analysis | None = None
    hypotheses: HypothesisSet | None = None
    started_at: str
    finished_at: str


class FinalResult(Record):
    status: Literal["success", "failed"]
    iteration: int
    name: str
    cv_score: float | None
    holdout_score: float | None = None
    holdout_metrics: dict[str, float] = Field(default_factory=dict)
    model_path: str | None = Field(None, description="the saved model that predict uses")
    holdout_model_path: str | None = Field(
        None, description="the model the holdout scored: trained on the search rows only"
    )
    trained_rows: int | None = Field(None, description="rows the saved model was trained on")
    refit_time: float | None = None
    all_rows_refit_time: float | None = None
    all_rows_error: str | None = Field(
        None, description="why the saved model is not the all-rows refit, when it was wanted"
    )
    model_spans: list[tuple[float, float]] = Field(
        default_factory=list, description="epoch [start, end] of each refit and holdout predict"
    )
    importance_spans: list[tuple[float, float]] = Field(
        default_factory=list,
        description="epoch [start, end] of each prediction of the permutation importance",
    )
    error: str | None = None


class TrackingInfo(Record):
    """Where this session logs in MLflow, so a resumed session logs into the same runs."""

    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    child_run_ids: dict[int, str] = Field(default_factory=dict)
    final_logged: bool = False
    model_uri: str | None = None


class LlmCall(Record):
    component: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    duration: float = 0.0
    ok: bool = True
    error: str | None = None


class LlmUsage(Record):
    """Token use and estimated cost of the LLM planner, per call and in total."""

    model: str
    calls: list[LlmCall] = Field(default_factory=list)

    @property
    def input_tokens(self) -> int:
        return sum(c.input_tokens for c in self.calls)

    @property
    def output_tokens(self) -> int:
        return sum(c.output_tokens for c in self.calls)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def cost_usd(self) -> float | None:
        costs = [c.cost_usd for c in self.calls if c.cost_usd is not None]
        return sum(costs) if costs else None


class ResearchDirection(Record):
    """A named line of inquiry that groups experiments."""

    name: str
    rationale: str
    status: Literal["open", "closed"] = "open"
    opened_at: str = Field(default_factory=utc_now)
    closed_at: str | None = None
    iterations: list[int] = Field(default_factory=list)
    learnings: list[str] = Field(default_factory=list)


class SteeringNote(Record):
    """A person's instruction to a running session (`autopilot steer`)."""

    text: str
    received_at: str = Field(default_factory=utc_now)
    acknowledged_at: str | None = None
    applied_as: str | None = None


class SessionState(Record):
    schema_version: int = SCHEMA_VERSION
    run_id: str
    created_at: str = Field(default_factory=utc_now)
    updated_at: str = Field(default_factory=utc_now)
    config: RunConfig
    phase: Phase = "created"
    data: DataInfo | None = None
    profile: DataProfile | None = None
    constraints: Constraints = Field(default_factory=Constraints)
    experiments: list[ExperimentRecord] = Field(default_factory=list)
    pending_hypotheses: HypothesisSet | None = None
    elapsed_seconds: float = Field(0.0, description="budget used by earlier sittings")
    termination_reason: str | None = None
    final: FinalResult | None = None
    error: str | None = None
    planner_name: str = "optimizer"
    planner_memory: dict[str, Any] = Field(
        default_factory=dict, description="what a planner keeps across a resume (LLM history)"
    )
    llm_usage: LlmUsage | None = None
    narrative: dict[str, str] = Field(
        default_factory=dict, description="report sections written by the LLM planner"
    )
    tracking: TrackingInfo | None = None
    directions: list[ResearchDirection] = Field(default_factory=list)
    launch_count: int = Field(0, description="experiments launched, numbering their folders")
    steering: list[SteeringNote] = Field(default_factory=list)

    @property
    def metric(self) -> MetricInfo:
        assert self.data is not None, "metric is known once data is loaded"
        return self.data.metric

    @property
    def folds(self) -> int:
        """Cross-validation folds: the run's, else chosen from the search rows and the budget
        (the session stores that choice in the config when the data loads)."""
        if self.config.folds is not None:
            return self.config.folds
        return default_folds(self.data.n_train if self.data else 0, self.config.time_budget)

    @property
    def max_iterations(self) -> int:
        """The iteration cap in force: the constraints file's, else the run's."""
        cap = self.constraints.max_iterations
        return cap if cap is not None else self.config.max_iterations

    @property
    def plateau(self) -> int | None:
        """The plateau in force: the constraints file's, else the run's; None: the rule is off."""
        patience = self.constraints.plateau
        return patience if patience is not None else self.config.plateau

    def successful(self) -> list[ExperimentRecord]:
        return [r for r in self.experiments if r.result.status == "success"]

    def saved_model_on_all_rows(self) -> bool:
        """Whether the saved final model is the refit on all rows, holdout included."""
        final, data = self.final, self.data
        return bool(final and data and final.trained_rows and final.trained_rows > data.n_train)

    def saved_model_rows(self) -> str:
        """What the saved final model was trained on, in words (one line)."""
        final, data = self.final, self.data
        if final is None or data is None or final.trained_rows is None:
            return "no saved model" if final is None else "trained on the search rows"
        if self.saved_model_on_all_rows():
            return (
                f"refit on all {final.trained_rows} rows, holdout included, after the holdout "
                f"was scored with the same recipe trained on the {data.n_train} search rows"
            )
        why = f" (all-rows refit: {final.all_rows_error})" if final.all_rows_error else ""
        return f"trained on the {final.trained_rows} search rows, the model the holdout scored{why}"

    def best(self) -> ExperimentRecord | None:
        """The successful experiment with the best CV score (earliest wins ties)."""
        done = self.successful()
        if not done:
            return None
        sign = 1.0 if self.metric.direction == "maximize" else -1.0
        return max(done, key=lambda r: (sign * (r.result.cv_score or 0.0), -r.iteration))

    def ranked_singles(self) -> list[ExperimentRecord]:
        """Successful single models (no blends), best CV score first (earliest wins ties)."""
        sign = 1.0 if self.metric.direction == "maximize" else -1.0
        return sorted(
            (r for r in self.successful() if r.spec.model != "ensemble"),
            key=lambda r: (-sign * (r.result.cv_score or 0.0), r.iteration),
        )

    def next_iteration(self) -> int:
        return len(self.experiments)


def save_state(state: SessionState, run_dir: Path) -> Path:
    """Write the state atomically: temp file in the same folder, fsync, then rename."""
    run_dir.mkdir(parents=True, exist_ok=True)
    state.updated_at = utc_now()
    target = run_dir / STATE_FILE
    payload = state.model_dump_json(indent=2)
    fd, tmp_name = tempfile.mkstemp(prefix=".state-", suffix=".tmp", dir=run_dir)
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    dir_fd = os.open(run_dir, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return target


def load_state(run_dir: Path) -> SessionState:
    """Read a run folder's state, with one clear error when it is missing or foreign."""
    path = Path(run_dir) / STATE_FILE
    if not path.is_file():
        raise UserError(f"No run found in {run_dir}: {STATE_FILE} is missing.")
    try:
        raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON ({exc}).") from exc
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        raise UserError(
            f"{path} has schema version {version}; this autopilot reads version {SCHEMA_VERSION}."
        )
    return SessionState.model_validate(raw)
