"""Prompt text shared by the components: the role, the catalog, the data and the results.

The instructions every component shares are built once per run: who the model is and the rules
it works under (ours, trusted), the catalog of models, hyperparameter ranges and preprocessing
choices (ours, trusted), and the data profile and constraints (the user's, quoted as untrusted
data). Results of experiments are quoted the same way, since error messages and names can carry
text from the data. Nothing here reads a data file; the holdout is never in a planning context.
"""

from __future__ import annotations

from typing import Any, get_args

from ml_autopilot.analysis import fmt
from ml_autopilot.catalog.models import CATALOG, TEMPLATE_OWNED_NAMES, ModelEntry, ParamSpec
from ml_autopilot.config import TaskType
from ml_autopilot.planning.llm.settings import LlmSettings
from ml_autopilot.planning.llm.untrusted import NAME_LIMIT, UNTRUSTED_RULE, bounded, data_block
from ml_autopilot.state import (
    Constraints,
    DataProfile,
    ExperimentRecord,
    MetricInfo,
    Preprocessing,
)

MAX_COLUMNS = 40
MAX_WARNINGS = 12
TOP_VALUES = 3
RECENT_RESULTS = 8
CATALOG_HEAD = (
    "Catalog (model key: what it is; hyperparameter name kind [search range] (sane limits)):\n"
)
CATALOG_HEAD_COMPACT = "Catalog (model key: hyperparameter name kind [range]):\n"
# Compact prompts, for small local models on CPUs where every prompt token costs time.
COMPACT_COLUMNS = 12
COMPACT_WARNINGS = 5
COMPACT_RESULTS = 4

ROLE = (
    "You are the research lead of ML Autopilot, an engine that runs machine-learning experiments "
    "on one table by itself. You design experiments, read their results, rank hypotheses and "
    "write the final report. Experiments are scored by k-fold cross-validation on the search "
    "part of the data; a private holdout is scored once at the end and you never see it. You "
    "can only choose among the catalog models, hyperparameters and preprocessing options listed "
    "below: the engine writes all code itself and rejects anything else. Answer only through "
    "the output tool, with short, specific text grounded in the numbers you were given."
)


def shared_instructions(
    task: TaskType,
    metric: MetricInfo,
    profile: DataProfile,
    constraints: Constraints,
    models: list[str],
    compact: bool = False,
) -> str:
    """The instructions every component starts from (stable across the run)."""
    direction = "higher" if metric.direction == "maximize" else "lower"
    return "\n\n".join(
        [
            ROLE,
            UNTRUSTED_RULE,
            f"Task: {task}. Metric: {metric.name} ({direction} is better).",
            (CATALOG_HEAD_COMPACT if compact else CATALOG_HEAD)
            + catalog_text(models, task, compact),
            preprocessing_text(),
            "Never set these parameters (the engine sets them): "
            + ", ".join(sorted(TEMPLATE_OWNED_NAMES))
            + ".",
            "Data profile of the search part:\n"
            + data_block("profile", profile_summary(profile, compact)),
            "User constraints:\n" + data_block("constraints", constraints_summary(constraints)),
        ]
    )


# ---- catalog (trusted) --------------------------------------------------------------------------
def catalog_text(models: list[str], task: TaskType, compact: bool = False) -> str:
    """One line per allowed model: traits, tunable parameters with ranges, other accepted names.

    Compact lines keep only the tunable parameters and their search ranges.
    """
    line = _compact_line if compact else _model_line
    return "\n".join(line(CATALOG[key], task) for key in models if key in CATALOG)


def _compact_line(entry: ModelEntry, task: TaskType) -> str:
    params = "; ".join(
        f"{p.name} one of {list(p.choices)}"
        if p.kind == "categorical"
        else f"{p.name} {p.kind} [{_num(p.low)}, {_num(p.high)}]"
        for p in entry.space
    )
    return f"- {entry.key}: {params or 'no parameters to tune'}"


def _model_line(entry: ModelEntry, task: TaskType) -> str:
    traits = [entry.family]
    if entry.handles_missing:
        traits.append("handles missing values")
    if entry.native_categorical:
        traits.append("native categorical encoding")
    if entry.needs_scaling:
        traits.append("needs scaling")
    params = "; ".join(_param_text(p) for p in entry.space) or "no tuned parameters"
    line = f"- {entry.key}: {entry.label} ({', '.join(traits)}). {params}."
    if entry.extra_params:
        line += f" Also accepts: {', '.join(entry.extra_params)}."
    if entry.defaults:
        line += f" Defaults: {_short_dict(entry.defaults)}."
    return line


def _param_text(spec: ParamSpec) -> str:
    if spec.kind == "categorical":
        return f"{spec.name} one of {list(spec.choices)}"
    if spec.kind == "bool":
        return f"{spec.name} true/false"
    scale = " log" if spec.log else ""
    text = f"{spec.name} {spec.kind}{scale} [{_num(spec.low)}, {_num(spec.high)}]"
    low, high = spec.bounds()
    if (low, high) != (spec.low, spec.high):
        text += f" (sane {_num(low)} to {_num(high)})"
    return text


def preprocessing_text() -> str:
    """The preprocessing choices, read from the ``Preprocessing`` record itself."""
    lines = [
        f"- {name}: one of {list(get_args(field.annotation))} (default {field.default!r})"
        for name, field in Preprocessing.model_fields.items()
    ]
    rules = (
        "encoding 'native' only for models with native categorical encoding; imputation 'none' "
        "only for models that handle missing values (or data without missing values); "
        "imputation 'iterative' not for catboost with encoding 'native'; "
        "target_transform 'log' only for regression with a non-negative target."
    )
    return "Preprocessing options:\n" + "\n".join(lines) + "\nRules: " + rules


# ---- data (untrusted) ---------------------------------------------------------------------------
def profile_summary(profile: DataProfile, compact: bool = False) -> dict[str, Any]:
    """A bounded summary of the profile: shape, target, columns, warnings."""
    max_columns = COMPACT_COLUMNS if compact else MAX_COLUMNS
    max_warnings = COMPACT_WARNINGS if compact else MAX_WARNINGS
    target = profile.target.model_dump(exclude_none=True)
    target["class_counts"] = dict(list(profile.target.class_counts.items())[:20])
    columns = []
    for column in profile.columns[:max_columns]:
        item: dict[str, Any] = {
            "name": bounded(column.name, NAME_LIMIT),
            "kind": column.kind,
            "missing_pct": round(column.pct_missing, 2),
            "n_unique": column.n_unique,
        }
        if column.numeric is not None:
            item["mean"] = column.numeric.mean
            item["std"] = column.numeric.std
        if column.categorical is not None and not compact:
            item["top"] = [
                bounded(v.value, NAME_LIMIT) for v in column.categorical.top_values[:TOP_VALUES]
            ]
        columns.append(item)
    return {
        "rows": profile.n_rows,
        "columns": profile.n_columns,
        "numeric": len(profile.numeric_columns),
        "categorical": len(profile.categorical_columns),
        "missing_cells_pct": round(profile.pct_missing_cells, 2),
        "target": target,
        "column_details": columns,
        "columns_not_shown": max(0, len(profile.columns) - max_columns),
        "warnings": [
            {"kind": w.kind, "column": w.column, "message": w.message}
            for w in profile.warnings[:max_warnings]
        ],
        "excluded_columns": profile.excluded_columns[:max_columns],
    }


def constraints_summary(constraints: Constraints) -> dict[str, Any]:
    """The user's constraints, bounded (the notes are free text from a file)."""
    return constraints.model_dump(exclude_none=True, exclude_defaults=True) or {"none": True}


def recent_results(settings: LlmSettings) -> int:
    """How many recent experiments a prompt shows."""
    return COMPACT_RESULTS if settings.compact else RECENT_RESULTS


def results_table(
    history: list[ExperimentRecord], metric: MetricInfo, limit: int = RECENT_RESULTS
) -> list[dict[str, Any]]:
    """The baseline, the best and the latest ``limit`` experiments, oldest first."""
    chosen = {r.iteration: r for r in history[-limit:]}
    if history:
        chosen.setdefault(history[0].iteration, history[0])
    best = best_record(history, metric)
    if best is not None:
        chosen.setdefault(best.iteration, best)
    return [experiment_row(chosen[i]) for i in sorted(chosen)]


def experiment_row(record: ExperimentRecord) -> dict[str, Any]:
    """One experiment as a small dict: design, outcome, error line."""
    spec, result = record.spec, record.result
    row: dict[str, Any] = {
        "iteration": record.iteration,
        "name": spec.name,
        "model": spec.model,
        "params": spec.params,
        "preprocessing": spec.preprocessing.model_dump(exclude_defaults=True),
        "designed_by": spec.planner,
        "status": result.status,
    }
    if result.cv_score is not None:
        row["cv_score"] = fmt(result.cv_score)
        row["cv_std"] = fmt(result.cv_std or 0.0)
    row["seconds"] = round(result.duration, 1)
    lines = (result.error or "").strip().splitlines()
    if lines:  # the last line of a traceback says what went wrong
        row["error"] = bounded(lines[-1], 200)
    return row


def best_record(history: list[ExperimentRecord], metric: MetricInfo) -> ExperimentRecord | None:
    """The successful record with the best CV score."""
    scored = [r for r in history if r.result.status == "success" and r.result.cv_score is not None]
    if not scored:
        return None
    sign = 1.0 if metric.direction == "maximize" else -1.0
    return max(scored, key=lambda r: sign * (r.result.cv_score or 0.0))


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _short_dict(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())
