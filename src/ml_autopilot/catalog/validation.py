"""The spec validator: the only gate between a proposal and code generation.

A spec is checked against the catalog and the data before any script is rendered: the model
must exist for the task (an unknown one is rejected with a suggestion, never swapped), every
hyperparameter must be accepted by the estimator, be a plain literal and lie in a sane range,
template-owned parameters are removed, and the preprocessing must suit the model and the data.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from typing import Any

from ml_autopilot.catalog.models import (
    CATALOG,
    TEMPLATE_OWNED_NAMES,
    ParamSpec,
    accepted_params,
    accepts_param,
    models_for,
)
from ml_autopilot.config import TaskType
from ml_autopilot.errors import SpecValidationError
from ml_autopilot.state import DataProfile, ExperimentSpec

_NAME_PATTERN = re.compile(r"[^A-Za-z0-9_.-]+")
MAX_NAME_LENGTH = 60
MAX_TEXT_LENGTH = 2000


@dataclass
class ValidatedSpec:
    """A spec that may be rendered, with what the validator changed on the way."""

    spec: ExperimentSpec
    notes: list[str] = field(default_factory=list)


def validate_spec(spec: ExperimentSpec, task: TaskType, profile: DataProfile) -> ValidatedSpec:
    """Return the spec cleaned for codegen, or raise ``SpecValidationError`` with the reason."""
    notes: list[str] = []
    model = _check_model(spec.model, task)
    params = _check_params(model, task, spec.params, notes)
    _check_preprocessing(spec, model, task, profile)
    name = safe_experiment_name(spec.name) or model
    cleaned = spec.model_copy(
        update={
            "name": name,
            "model": model,
            "params": params,
            "hypothesis": spec.hypothesis[:MAX_TEXT_LENGTH],
            "reasoning": spec.reasoning[:MAX_TEXT_LENGTH],
        }
    )
    return ValidatedSpec(ExperimentSpec.model_validate(cleaned.model_dump()), notes)


def safe_experiment_name(name: str) -> str:
    """A name fit for a file name: letters, digits, ``_.-``, at most 60 characters."""
    return _NAME_PATTERN.sub("_", name).strip("._-")[:MAX_NAME_LENGTH]


def _check_model(model: str, task: TaskType) -> str:
    key = model.strip().lower()
    available = models_for(task)
    if key in available:
        return key
    if key in CATALOG:
        raise SpecValidationError(
            f"model '{model}' does not support {task}; choose one of: {', '.join(available)}"
        )
    close = difflib.get_close_matches(key, available, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise SpecValidationError(
        f"unknown model '{model}'.{hint} Available for {task}: {', '.join(available)}"
    )


def _check_params(
    model: str, task: TaskType, params: dict[str, Any], notes: list[str]
) -> dict[str, Any]:
    entry = CATALOG[model]
    cleaned: dict[str, Any] = {}
    for name, value in params.items():
        if name in TEMPLATE_OWNED_NAMES or name in entry.owned:
            notes.append(f"removed '{name}': set by the template")
            continue
        if not accepts_param(model, task, name):
            close = difflib.get_close_matches(name, sorted(accepted_params(model, task)), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise SpecValidationError(f"{model} has no hyperparameter '{name}'.{hint}")
        _check_literal(name, value)
        spec = entry.param(name)
        cleaned[name] = _check_range(model, spec, value) if spec else value
    return cleaned


def _check_literal(name: str, value: Any) -> None:
    """Only plain JSON-like scalars (and short lists of them) may become hyperparameters."""
    if isinstance(value, list | tuple):
        if len(value) > 64:
            raise SpecValidationError(f"'{name}' is a list of {len(value)} items (limit 64)")
        for item in value:
            _check_literal(name, item)
        return
    if value is None or isinstance(value, bool | int | str):
        if isinstance(value, str) and len(value) > 100:
            raise SpecValidationError(f"'{name}' is a string of {len(value)} characters")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SpecValidationError(f"'{name}' must be finite, got {value}")
        return
    raise SpecValidationError(f"'{name}' must be a number, string or boolean, got {type(value)}")


def _check_range(model: str, spec: ParamSpec, value: Any) -> Any:
    if spec.kind == "categorical":
        if value not in spec.choices:
            choices = ", ".join(repr(c) for c in spec.choices)
            raise SpecValidationError(f"{model}.{spec.name}={value!r}; allowed: {choices}")
        return value
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise SpecValidationError(f"{model}.{spec.name} must be true or false")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecValidationError(f"{model}.{spec.name} must be a number, got {value!r}")
    if spec.kind == "int":
        if float(value) != int(value):
            raise SpecValidationError(f"{model}.{spec.name} must be a whole number")
        value = int(value)
    low, high = spec.bounds()
    if (low is not None and value < low) or (high is not None and value > high):
        raise SpecValidationError(
            f"{model}.{spec.name}={value} is outside the sane range [{low}, {high}]"
        )
    return value


def _check_preprocessing(
    spec: ExperimentSpec, model: str, task: TaskType, profile: DataProfile
) -> None:
    entry = CATALOG[model]
    prep = spec.preprocessing
    if prep.encoding == "native" and not entry.native_categorical:
        raise SpecValidationError(
            f"{model} has no native categorical support; use onehot, ordinal or target encoding"
        )
    missing = any(
        c.n_missing > 0 for c in profile.columns if c.name not in profile.excluded_columns
    )
    if prep.imputation == "none" and missing and not entry.handles_missing:
        raise SpecValidationError(
            f"{model} cannot take missing values; choose an imputation other than 'none'"
        )
    if prep.imputation == "iterative" and prep.encoding == "native" and model == "catboost":
        raise SpecValidationError(
            "catboost with native encoding takes the categories as text, which iterative "
            "imputation cannot use; choose another imputation or encoding"
        )
    if prep.target_transform == "log":
        if task != "regression":
            raise SpecValidationError("a log target transform applies to regression only")
        if profile.target.min is None or profile.target.min < 0:
            raise SpecValidationError("a log target transform needs a non-negative target")
