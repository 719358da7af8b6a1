"""Describing the training data: column statistics, target summary and warnings.

``profile_data`` is called on the training part only (never the holdout). Its result is stored
in the session's JSON state, so every number is a plain float or ``None`` (never NaN or inf).
Warnings name the column and the number that triggered them; ID-like and constant columns are
listed in ``excluded_columns`` so no model sees them.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from ml_autopilot.config import TaskType
from ml_autopilot.errors import UserError
from ml_autopilot.state import (
    CategoricalStats,
    ColumnProfile,
    DataProfile,
    NumericStats,
    ProfileWarning,
    TargetProfile,
    ValueCount,
)

TOP_VALUES = 5
ID_UNIQUE_RATIO = 0.95
ID_NAMED_UNIQUE_RATIO = 0.9
HIGH_CARDINALITY = 50
MANY_MISSING_PCT = 30.0
LEAKAGE_CORR = 0.99
LEAKAGE_ACCURACY = 0.99
LEAKAGE_MAX_MAJORITY = 0.9
LEAKAGE_BINS = 20
LEAKAGE_MAX_GROUP_SHARE = 0.5
SMALL_DATA_ROWS = 100
_ID_NAME = re.compile(r"(?:^|[_\s.\-])id$")
_CAMEL_ID = re.compile(r"[a-z](?:Id|ID)$")
MISSING_GROUP = -1  # the group code of missing values in the leakage check
WarningKind = Literal[
    "id_like", "constant", "high_cardinality", "leakage", "many_missing", "small_data"
]


def profile_data(df: pd.DataFrame, target: str, task: TaskType) -> DataProfile:
    """Profile the training frame: per-column stats, the target, and warnings."""
    if target not in df.columns:
        raise UserError(f"Target column '{target}' is not in the data being profiled.")
    features = [str(c) for c in df.columns if c != target]
    coded = {name: _coded(df[name]) for name in features}
    columns = [profile_column(coded[name], name, str(df[name].dtype)) for name in features]
    y = df[target]
    id_like = [c.name for c in columns if _is_id_like(coded[c.name], c)]
    constant = [c.name for c in columns if c.n_unique <= 1]
    warnings = _warnings(coded, len(df), _coded(y), task, columns, set(id_like))
    excluded = [c.name for c in columns if c.name in set(id_like) | set(constant)]
    return DataProfile(
        n_rows=len(df),
        n_columns=len(df.columns),
        numeric_columns=[c.name for c in columns if c.kind == "numeric"],
        categorical_columns=[c.name for c in columns if c.kind == "categorical"],
        columns=columns,
        target=profile_target(y, task),
        pct_missing_cells=_pct(sum(c.n_missing for c in columns), len(df) * len(columns)),
        warnings=warnings,
        excluded_columns=excluded,
    )


# --------------------------------------------------------------------------- columns


def is_numeric(s: pd.Series) -> bool:
    """Integer and float columns are numeric; booleans count as categorical."""
    return ptypes.is_numeric_dtype(s) and not ptypes.is_bool_dtype(s)


def _coded(s: pd.Series) -> pd.Series:
    """A text column as a pandas categorical (the values once, then integer codes), so that
    counting, distinct values and the leakage groups work on codes: on strings they took 1 s
    of the start-up, before the first model could start, for connect-4's 42 columns of 40,000
    rows. Other columns, and values that cannot be hashed, are returned as they are."""
    if not (ptypes.is_object_dtype(s) or ptypes.is_string_dtype(s)):
        return s
    try:
        return s.astype("category")
    except TypeError:  # unhashable values (lists in a Parquet column)
        return s


def profile_column(s: pd.Series, name: str, dtype: str | None = None) -> ColumnProfile:
    """Dtype (``dtype`` names the original where ``s`` was coded), missing values, distinct
    values and kind-specific statistics of one column."""
    n_missing = int(s.isna().sum())
    n_unique = int(s.nunique(dropna=True))
    numeric = is_numeric(s)
    return ColumnProfile(
        name=name,
        dtype=dtype or str(s.dtype),
        kind="numeric" if numeric else "categorical",
        n_missing=n_missing,
        pct_missing=_pct(n_missing, len(s)),
        n_unique=n_unique,
        numeric=_numeric_stats(s) if numeric else None,
        categorical=None if numeric else _categorical_stats(s, n_unique),
    )


def _numeric_stats(s: pd.Series) -> NumericStats:
    """Mean, spread and quantiles; all ``None`` when the column has no values."""
    values = _as_float(s).dropna()
    if values.empty:
        return NumericStats(
            mean=None, std=None, min=None, q25=None, median=None, q75=None, max=None
        )
    with np.errstate(invalid="ignore"):  # infinities make NaN moments, reported as None
        q25, median, q75 = values.quantile([0.25, 0.5, 0.75]).tolist()
        mean, std = values.mean(), values.std()
    return NumericStats(
        mean=_finite(mean),
        std=_finite(std),
        min=_finite(values.min()),
        q25=_finite(q25),
        median=_finite(median),
        q75=_finite(q75),
        max=_finite(values.max()),
    )


def _categorical_stats(s: pd.Series, n_unique: int) -> CategoricalStats:
    """Distinct count and the most frequent values (as text) with their counts."""
    counts = s.value_counts(dropna=True).head(TOP_VALUES)
    top = [ValueCount(value=str(v), count=int(c)) for v, c in counts.items()]
    return CategoricalStats(n_unique=n_unique, top_values=top)


# --------------------------------------------------------------------------- target


def profile_target(y: pd.Series, task: TaskType) -> TargetProfile:
    """Distribution of the target: moments for regression, class counts for classification."""
    n_unique = int(y.nunique(dropna=True))
    if task == "regression":
        values = _as_float(y).dropna()
        with np.errstate(invalid="ignore"):
            mean, std, skew = values.mean(), values.std(), values.skew()
        return TargetProfile(
            task=task,
            n_unique=n_unique,
            mean=_finite(mean),
            std=_finite(std),
            skew=_finite(skew),
            min=_finite(values.min()),
            max=_finite(values.max()),
        )
    counts = y.value_counts(dropna=True)
    class_counts = {str(label): int(count) for label, count in counts.items()}
    balance = float(counts.min() / counts.max()) if len(counts) else None
    return TargetProfile(task=task, n_unique=n_unique, class_counts=class_counts, balance=balance)


# --------------------------------------------------------------------------- warnings


def _warnings(
    features: dict[str, pd.Series],
    n_rows: int,
    y: pd.Series,
    task: TaskType,
    columns: list[ColumnProfile],
    id_like: set[str],
) -> list[ProfileWarning]:
    """Every warning, data-level first, then per column in column order."""
    found: list[ProfileWarning] = []
    if n_rows < SMALL_DATA_ROWS:
        found.append(
            ProfileWarning(
                kind="small_data",
                column=None,
                message=(
                    f"Only {n_rows} training rows (fewer than {SMALL_DATA_ROWS}); "
                    "scores will be noisy and complex models may overfit."
                ),
            )
        )
    for col in columns:
        messages = _column_messages(features[col.name], y, task, col, col.name in id_like)
        found.extend(
            ProfileWarning(kind=kind, column=col.name, message=message)
            for kind, message in messages
        )
    return found


def _column_messages(
    s: pd.Series, y: pd.Series, task: TaskType, col: ColumnProfile, id_like: bool
) -> list[tuple[WarningKind, str]]:
    """(kind, message) for every warning about one feature column."""
    name = col.name
    found: list[tuple[WarningKind, str]] = []
    if id_like:
        ratio = _unique_ratio(s, col)
        found.append(
            (
                "id_like",
                f"Column '{name}' looks like an identifier ({ratio:.0%} of "
                "its values are unique); it is excluded from modelling.",
            )
        )
    if col.n_unique <= 1:
        what = "has no values" if col.n_unique == 0 else "has a single value"
        found.append(
            (
                "constant",
                f"Column '{name}' {what} ({col.n_unique} distinct); it is excluded from modelling.",
            )
        )
    if col.kind == "categorical" and col.n_unique > HIGH_CARDINALITY and not id_like:
        found.append(
            (
                "high_cardinality",
                f"Column '{name}' has {col.n_unique} distinct "
                f"categories (more than {HIGH_CARDINALITY}); one-hot encoding it "
                "would be wide.",
            )
        )
    if col.pct_missing > MANY_MISSING_PCT:
        found.append(
            (
                "many_missing",
                f"Column '{name}' is {col.pct_missing:.1f}% missing "
                f"(more than {MANY_MISSING_PCT:.0f}%).",
            )
        )
    leak = _leakage_message(s, y, task, col, id_like)
    if leak is not None:
        found.append(("leakage", leak))
    return found


def _unique_ratio(s: pd.Series, col: ColumnProfile) -> float:
    """Distinct values as a share of non-missing rows."""
    present = len(s) - col.n_missing
    return col.n_unique / present if present else 0.0


def _is_id_like(s: pd.Series, col: ColumnProfile) -> bool:
    """Text or integer columns that are (almost) unique per row; floats never are."""
    if col.n_unique <= 1 or not _id_capable(s):
        return False
    ratio = _unique_ratio(s, col)
    return ratio >= ID_UNIQUE_RATIO or (
        _looks_like_id_name(col.name) and ratio >= ID_NAMED_UNIQUE_RATIO
    )


def _id_capable(s: pd.Series) -> bool:
    """Integer or text-like dtypes can hold identifiers; floats, bools and dates cannot."""
    if ptypes.is_bool_dtype(s):
        return False
    if ptypes.is_integer_dtype(s):
        return True
    return (
        ptypes.is_object_dtype(s)
        or ptypes.is_string_dtype(s)
        or isinstance(s.dtype, pd.CategoricalDtype)
    )


def _looks_like_id_name(name: str) -> bool:
    """Names like ``id``, ``user_id``, ``order-id`` or ``customerId``."""
    stripped = name.strip()
    return bool(_ID_NAME.search(stripped.lower()) or _CAMEL_ID.search(stripped))


def _leakage_message(
    s: pd.Series, y: pd.Series, task: TaskType, col: ColumnProfile, id_like: bool
) -> str | None:
    """A message when the feature nearly equals the target, else ``None``."""
    if col.n_unique <= 1:
        return None
    if task == "regression":
        if col.kind != "numeric" or not is_numeric(y):
            return None
        corr = _finite(_as_float(s).corr(_as_float(y)))
        if corr is None or abs(corr) < LEAKAGE_CORR:
            return None
        return (
            f"Column '{col.name}' has correlation {corr:.3f} with the target; "
            "it may leak the answer."
        )
    if id_like:
        return None
    majority = float(y.value_counts(normalize=True, dropna=True).max())
    if majority >= LEAKAGE_MAX_MAJORITY:
        return None
    accuracy = _group_majority_accuracy(s, y, col)
    if accuracy is None or accuracy < LEAKAGE_ACCURACY:
        return None
    return (
        f"Predicting the most common target class for each value of '{col.name}' is "
        f"{accuracy:.1%} accurate (majority class alone: {majority:.1%}); "
        "it may leak the answer."
    )


def _group_majority_accuracy(s: pd.Series, y: pd.Series, col: ColumnProfile) -> float | None:
    """Accuracy of predicting the majority target class within each feature value (or bin).

    Numeric columns with more than 20 distinct values are cut into at most 20 quantile bins;
    missing is its own group. Returns ``None`` when the groups are too many to mean anything
    (more than half the rows), where near-unique values would look predictive by chance.
    """
    keep = y.notna().to_numpy()
    groups = _leakage_groups(s, col)[keep]
    labels = y[keep]
    if len(labels) == 0 or groups.nunique() > LEAKAGE_MAX_GROUP_SHARE * len(labels):
        return None
    # Counts per (group, class) with one bincount: pd.crosstab took 1.3 s of the start-up
    # (before the first model could start) for connect-4's 42 columns of 40,000 rows.
    group_codes = groups.to_numpy() + 1  # the missing group (-1) becomes 0
    label_codes, classes = pd.factorize(labels, sort=False)
    counts = np.bincount(
        group_codes * len(classes) + label_codes,
        minlength=(int(group_codes.max()) + 1) * len(classes),
    ).reshape(-1, len(classes))
    return float(counts.max(axis=1).sum() / len(labels))


def _leakage_groups(s: pd.Series, col: ColumnProfile) -> pd.Series:
    """The feature as integer group codes, binned when numeric with many values; missing
    values are one group (-1). Vectorised: a Python call per value took 1.6 s for connect-4's
    42 columns of 40,000 rows."""
    if col.kind == "numeric" and col.n_unique > LEAKAGE_BINS:
        binned = pd.qcut(_as_float(s), q=LEAKAGE_BINS, labels=False, duplicates="drop")
        codes = binned.fillna(MISSING_GROUP).to_numpy(dtype="int64")
    else:
        try:
            codes, _ = pd.factorize(s, use_na_sentinel=True)  # None, NaN and NA share -1
        except TypeError:  # unhashable values (lists in a Parquet column): by their text
            codes, _ = pd.factorize(s.astype(str).where(s.notna()), use_na_sentinel=True)
    return pd.Series(codes, dtype="int64")


# --------------------------------------------------------------------------- helpers


def _as_float(s: pd.Series) -> pd.Series:
    """A numeric column as float64, missing as NaN (works for nullable dtypes too)."""
    return pd.to_numeric(s, errors="coerce").astype("float64").reset_index(drop=True)


def _finite(value: Any) -> float | None:
    """A plain float, or ``None`` for missing, NaN and infinite values."""
    if value is None or value is pd.NA:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _pct(part: int, whole: int) -> float:
    """Percentage rounded to 2 decimals; 0 when there is nothing to count."""
    return round(100.0 * part / whole, 2) if whole else 0.0
