"""Last-chance repair of a model's design after its own repair rounds are used up.

Small models often get a good idea mostly right: a catalog model with one made-up
hyperparameter, a value outside the sane range, native encoding for a model without it. Rather
than throw the whole design away, ``repair_design`` drops what cannot be used, clamps what is out
of range and swaps impossible preprocessing for the usual choice, and says what it changed. The
result is only a candidate: it still has to pass ``validate_spec``.
"""

from __future__ import annotations

import math
import re
from typing import Any

from ml_autopilot.catalog.models import CATALOG, TEMPLATE_OWNED_NAMES, accepted_params
from ml_autopilot.catalog.models import ParamSpec as CatalogParam
from ml_autopilot.config import TaskType
from ml_autopilot.state import DataProfile, Preprocessing


def repair_params(
    model: str, task: TaskType, params: dict[str, Any], notes: list[str]
) -> dict[str, Any]:
    """Keep accepted, literal, in-range hyperparameters; drop or clamp the rest (noted)."""
    entry = CATALOG[model]
    accepted = accepted_params(model, task)
    kept: dict[str, Any] = {}
    for name, value in params.items():
        if name in TEMPLATE_OWNED_NAMES or name in entry.owned:
            continue
        if name not in accepted:
            notes.append(f"dropped unknown hyperparameter '{name}'")
            continue
        spec = entry.param(name)
        fixed = _fix_value(spec, value) if spec else _literal(value)
        if fixed is _DROP:
            notes.append(f"dropped unusable value for '{name}'")
            continue
        if fixed != value:
            notes.append(f"set {name}={fixed} (was {value!r})")
        kept[name] = fixed
    return kept


def repair_preprocessing(
    prep: Preprocessing, model: str, task: TaskType, profile: DataProfile, notes: list[str]
) -> Preprocessing:
    """Swap preprocessing the model or the data cannot take for the usual choice."""
    entry = CATALOG[model]
    changes: dict[str, str] = {}
    if prep.encoding == "native" and not entry.native_categorical:
        changes["encoding"] = "onehot"
    missing = any(
        c.n_missing > 0 for c in profile.columns if c.name not in profile.excluded_columns
    )
    if prep.imputation == "none" and missing and not entry.handles_missing:
        changes["imputation"] = "median"
    encoding = changes.get("encoding", prep.encoding)
    if prep.imputation == "iterative" and encoding == "native" and model == "catboost":
        changes["imputation"] = "none"
    if prep.target_transform == "log" and (
        task != "regression" or profile.target.min is None or profile.target.min < 0
    ):
        changes["target_transform"] = "none"
    if changes:
        notes.append("preprocessing " + ", ".join(f"{k}={v}" for k, v in changes.items()))
    return prep.model_copy(update=changes)


_DROP = object()
OPTION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,39}")  # what a string hyperparameter may be


def _literal(value: Any) -> Any:
    if isinstance(value, str):
        return value if OPTION_NAME.fullmatch(value) else _DROP
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _DROP
    return _DROP


def _fix_value(spec: CatalogParam, value: Any) -> Any:
    if spec.kind == "categorical":
        return value if value in spec.choices else _DROP
    if spec.kind == "bool":
        return value if isinstance(value, bool) else _DROP
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return _DROP
    low, high = spec.bounds()
    if low is not None:
        value = max(value, low)
    if high is not None:
        value = min(value, high)
    return round(value) if spec.kind == "int" else float(value)
