"""Metrics the autopilot optimises, each with an explicit direction.

Generated scripts compute the same metrics with scikit-learn; this module is the single source
of names, directions, defaults and which task each applies to.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml_autopilot.config import TaskType
from ml_autopilot.errors import UserError
from ml_autopilot.state import Direction, MetricInfo


@dataclass(frozen=True)
class MetricDef:
    name: str
    task: TaskType
    direction: Direction
    needs_proba: bool
    description: str


METRICS: dict[str, MetricDef] = {
    m.name: m
    for m in (
        MetricDef("rmse", "regression", "minimize", False, "root mean squared error"),
        MetricDef("mae", "regression", "minimize", False, "mean absolute error"),
        MetricDef("r2", "regression", "maximize", False, "coefficient of determination"),
        MetricDef("f1", "classification", "maximize", False, "F1 (macro when multiclass)"),
        MetricDef("accuracy", "classification", "maximize", False, "share of correct labels"),
        MetricDef("roc_auc", "classification", "maximize", True, "ROC AUC (one-vs-rest macro)"),
        MetricDef("log_loss", "classification", "minimize", True, "cross-entropy of probabilities"),
    )
}

DEFAULT_METRIC: dict[TaskType, str] = {"regression": "rmse", "classification": "f1"}


def metrics_for(task: TaskType) -> list[str]:
    """Names of every metric that applies to a task, in display order."""
    return [m.name for m in METRICS.values() if m.task == task]


def resolve_metric(name: str | None, task: TaskType) -> MetricInfo:
    """Pick the metric for a run: the user's choice if it fits the task, else the default."""
    chosen = (name or DEFAULT_METRIC[task]).strip().lower()
    definition = METRICS.get(chosen)
    if definition is None:
        raise UserError(f"Unknown metric '{name}'. Choose one of: {', '.join(metrics_for(task))}.")
    if definition.task != task:
        raise UserError(
            f"Metric '{chosen}' is for {definition.task}, but this is a {task} task. "
            f"Choose one of: {', '.join(metrics_for(task))}."
        )
    return MetricInfo(name=definition.name, direction=definition.direction)


def is_better(candidate: float, reference: float, direction: Direction) -> bool:
    """True when ``candidate`` beats ``reference`` strictly in the metric's direction."""
    return candidate > reference if direction == "maximize" else candidate < reference


def relative_improvement(candidate: float, reference: float, direction: Direction) -> float:
    """Improvement of ``candidate`` over ``reference`` as a fraction; positive is better.

    Safe when the reference is 0: the absolute change is used instead.
    """
    gain = candidate - reference if direction == "maximize" else reference - candidate
    scale = abs(reference)
    return gain / scale if scale > 1e-12 else gain
