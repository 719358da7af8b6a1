"""Reading the user's table, checking the target, and carving off the private holdout.

``prepare_data`` is the single entry point the session uses: it reads the file, validates the
target, decides the task and metric, splits off the holdout *before* anything else looks at the
data, and stores both parts as Parquet under ``<run_dir>/data/``. Everything the user can fix
(a missing file, a wrong column, a constant target) is reported as a one-line ``UserError``.
"""

from __future__ import annotations

import difflib
import hashlib
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
from pandas.api import types as ptypes

from ml_autopilot.catalog.metrics import resolve_metric
from ml_autopilot.config import RunConfig, TaskType
from ml_autopilot.data.splitting import SplitError, split_indices
from ml_autopilot.errors import UserError
from ml_autopilot.log import get_logger
from ml_autopilot.state import DataInfo, Label

log = get_logger("data")

CSV_SUFFIXES = {".csv": ",", ".txt": ",", ".tsv": "\t"}
PARQUET_SUFFIXES = (".parquet", ".pq")
SUPPORTED_SUFFIXES = (*CSV_SUFFIXES, *PARQUET_SUFFIXES)
DATA_DIR = "data"
TRAIN_FILE = "train.parquet"
HOLDOUT_FILE = "holdout.parquet"
MAX_CLASSIFICATION_UNIQUE = 20
MAX_CLASSIFICATION_UNIQUE_SHARE = 0.05


# --------------------------------------------------------------------------- reading


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV/TSV or Parquet file by its suffix; empty fields become missing values.

    Column names are coerced to ``str``. Raises ``UserError`` when the file is missing, has an
    unsupported suffix, cannot be parsed, or holds no rows.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"Data file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        df = _read_csv(path, CSV_SUFFIXES[suffix])
    elif suffix in PARQUET_SUFFIXES:
        df = _read_parquet(path)
    else:
        raise UserError(
            f"Unsupported data file type '{path.suffix or '(none)'}' for {path}; "
            f"supported: {', '.join(SUPPORTED_SUFFIXES)}."
        )
    df.columns = [str(c) for c in df.columns]
    if len(df) == 0:
        raise UserError(f"Data file {path} has a header but no rows.")
    return df


def _read_csv(path: Path, sep: str) -> pd.DataFrame:
    """Read delimited text; one clear error for empty or unparsable files."""
    try:
        return pd.read_csv(path, sep=sep, low_memory=False)
    except pd.errors.EmptyDataError as exc:
        raise UserError(f"Data file {path} is empty.") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"Could not read {path} as delimited text: {_first_line(exc)}") from exc


def _read_parquet(path: Path) -> pd.DataFrame:
    """Read Parquet; a named index is turned back into ordinary columns."""
    try:
        df = pd.read_parquet(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise UserError(f"Could not read {path} as Parquet: {_first_line(exc)}") from exc
    if any(name is not None for name in df.index.names):
        df = df.reset_index()
    return df.reset_index(drop=True)


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message, so user errors stay one line."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --------------------------------------------------------------------------- target and task


def detect_task(y: pd.Series) -> Literal["classification", "regression"]:
    """Guess the task from the target's dtype and values.

    Text, boolean and categorical targets are classification. Numeric targets whose values are
    all whole numbers with few distinct values (<= 20 and <= 5% of rows, or exactly 2) are
    classification too. Everything else is regression.
    """
    if _is_label_dtype(y):
        return "classification"
    if not ptypes.is_numeric_dtype(y):
        return "regression"
    values = y.dropna().astype("float64")
    if values.empty or not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
        return "regression"
    n_unique = int(values.nunique())
    few = (
        n_unique <= MAX_CLASSIFICATION_UNIQUE
        and n_unique <= MAX_CLASSIFICATION_UNIQUE_SHARE * len(values)
    )
    return "classification" if n_unique == 2 or few else "regression"


def _is_label_dtype(y: pd.Series) -> bool:
    """True for dtypes whose values are labels, not quantities."""
    return (
        ptypes.is_bool_dtype(y)
        or ptypes.is_object_dtype(y)
        or ptypes.is_string_dtype(y)
        or isinstance(y.dtype, pd.CategoricalDtype)
    )


def check_target(df: pd.DataFrame, target: str) -> None:
    """Raise ``UserError`` if the target column is absent, entirely missing, or constant."""
    if target not in df.columns:
        raise UserError(_unknown_column_message(target, [str(c) for c in df.columns]))
    y = df[target]
    if y.isna().all():
        raise UserError(f"Target column '{target}' has no values: every row is missing.")
    if y.nunique(dropna=True) < 2:
        value = y.dropna().iloc[0]
        raise UserError(
            f"Target column '{target}' is constant (every row is {value!r}); "
            "there is nothing to predict."
        )


def _unknown_column_message(target: str, columns: list[str]) -> str:
    """One line naming the missing column with a suggestion or the available columns."""
    lowered = {c.lower(): c for c in columns}
    close = difflib.get_close_matches(target, columns, n=1, cutoff=0.6)
    suggestion = lowered.get(target.lower()) or (close[0] if close else None)
    if suggestion is not None:
        return f"Target column '{target}' not found in the data; did you mean '{suggestion}'?"
    shown = ", ".join(f"'{c}'" for c in columns[:10])
    more = f" (and {len(columns) - 10} more)" if len(columns) > 10 else ""
    return f"Target column '{target}' not found in the data. Available columns: {shown}{more}."


def _validate_regression_target(y: pd.Series, target: str) -> None:
    """Regression needs a numeric (non-boolean) target."""
    if ptypes.is_bool_dtype(y) or not ptypes.is_numeric_dtype(y):
        raise UserError(
            f"Target column '{target}' has non-numeric values (dtype {y.dtype}), so it cannot "
            "be used for regression; use --task classification or pick a numeric target."
        )


def _validate_classification_target(y: pd.Series, target: str) -> None:
    """Classification needs >= 2 classes, each with >= 2 rows (for the stratified split)."""
    counts = y.value_counts(dropna=True)
    if len(counts) < 2:
        raise UserError(f"Target column '{target}' has fewer than 2 classes; nothing to predict.")
    rare = counts[counts < 2]
    if len(rare) > 0:
        names = ", ".join(repr(_python_scalar(v)) for v in rare.index[:10])
        raise UserError(
            f"Target column '{target}' has {len(rare)} class(es) with a single row ({names}); "
            "every class needs at least 2 rows. Remove or merge those rows, "
            "or use --task regression if the target is a quantity."
        )


# --------------------------------------------------------------------------- preparing


def prepare_data(config: RunConfig, run_dir: Path) -> tuple[DataInfo, pd.DataFrame]:
    """Read, validate and split the data; store both parts; return the info and train part.

    The holdout is carved off first (stratified for classification, seeded) and written to
    ``<run_dir>/data/holdout.parquet``; only the final evaluation reads it again.
    """
    source = Path(config.data_path)
    df = _parquet_safe(read_table(source))
    target = config.target
    check_target(df, target)
    df = _drop_missing_target(df, target)
    df[target] = _tidy_integer_floats(df[target])
    task: TaskType = config.task or detect_task(df[target])
    metric = resolve_metric(config.metric, task)
    if task == "regression":
        _validate_regression_target(df[target], target)
    else:
        _validate_classification_target(df[target], target)
    train, holdout = _split(df, target, task, config)
    _write_splits(train, holdout, Path(run_dir) / DATA_DIR)
    info = DataInfo(
        source_path=str(source),
        source_sha256=file_sha256(source),
        task=task,
        target=target,
        metric=metric,
        n_rows=len(df),
        n_train=len(train),
        n_holdout=len(holdout),
        feature_columns=[c for c in df.columns if c != target],
        classes=class_labels(df[target]) if task == "classification" else [],
        train_path=str(Path(run_dir) / DATA_DIR / TRAIN_FILE),
        holdout_path=str(Path(run_dir) / DATA_DIR / HOLDOUT_FILE),
    )
    log.info(
        "Loaded %s: %d rows (%d train, %d holdout), task %s, metric %s.",
        source.name,
        len(df),
        len(train),
        len(holdout),
        task,
        metric.name,
    )
    return info, load_split(info, "train")  # exactly what later steps will read


def _drop_missing_target(df: pd.DataFrame, target: str) -> pd.DataFrame:
    """Drop rows without a target value, with a warning saying how many went."""
    missing = df[target].isna()
    n_missing = int(missing.sum())
    if n_missing:
        log.warning(
            "Dropped %d row(s) whose target '%s' is missing (%d remain).",
            n_missing,
            target,
            len(df) - n_missing,
        )
        df = df.loc[~missing].reset_index(drop=True)
    return df


def _tidy_integer_floats(y: pd.Series) -> pd.Series:
    """Turn a float target holding only whole numbers back into integers.

    CSV readers make an integer column float when some cells are empty; once those rows are
    dropped, labels like ``1.0`` should be ``1`` again.
    """
    if not ptypes.is_float_dtype(y) or y.isna().any():
        return y
    values = y.to_numpy(dtype="float64")
    if np.all(np.isfinite(values)) and np.all(values == np.round(values)):
        return y.astype("int64")
    return y


def _split(
    df: pd.DataFrame, target: str, task: TaskType, config: RunConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded train/holdout split, stratified by the target for classification."""
    stratify = df[target].to_numpy() if task == "classification" else None
    try:
        train, holdout = split_indices(len(df), config.holdout, config.seed, stratify)
    except SplitError as exc:
        raise UserError(
            f"Could not split {len(df)} rows into train and a {config.holdout:.0%} holdout: "
            f"{_first_line(exc).rstrip('.')}. Use more data or a different --holdout."
        ) from exc
    return df.iloc[train].reset_index(drop=True), df.iloc[holdout].reset_index(drop=True)


def _write_splits(train: pd.DataFrame, holdout: pd.DataFrame, folder: Path) -> None:
    """Write both parts as Parquet into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    train.to_parquet(folder / TRAIN_FILE, index=False)
    holdout.to_parquet(folder / HOLDOUT_FILE, index=False)


def _parquet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Turn object columns that Arrow cannot store (mixed Python types) into strings.

    Missing values stay missing; columns Arrow accepts as they are are left untouched, and
    ``df`` itself is returned when every column is (a copy otherwise).
    """
    out = df
    for name in df.columns:
        column = df[name]
        if not ptypes.is_object_dtype(column) or all_text(column):
            continue
        try:
            pa.array(column, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            if out is df:
                out = df.copy()
            out[name] = column.map(lambda v: v if _is_missing(v) else str(v)).astype(object)
            log.debug("Column '%s' mixes value types; stored as text.", name)
    return out


def all_text(column: pd.Series) -> bool:
    """Whether every value is a ``str`` or missing, in one pass in C: Arrow stores such a
    column as it is (building the Arrow array to find out took 0.1 s of the start-up for
    connect-4's 42 text columns of 67,000 rows), and it needs no conversion to text."""
    return ptypes.infer_dtype(column, skipna=True) in ("string", "empty")


def _is_missing(value: Any) -> bool:
    """``pd.isna`` for one scalar, false for containers."""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def class_labels(y: pd.Series) -> list[Label]:
    """Sorted distinct labels of a target as plain Python scalars."""
    labels = [_python_scalar(v) for v in pd.unique(y.dropna())]
    try:
        return sorted(labels)
    except TypeError:
        return sorted(labels, key=str)


def _python_scalar(value: Any) -> Label:
    """Convert a numpy/pandas scalar into ``str``, ``int``, ``float`` or ``bool``."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str | bool | int | float):
        return value
    return str(value)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- reading back


def load_split(info: DataInfo, which: Literal["train", "holdout"]) -> pd.DataFrame:
    """Read a stored part back; ``UserError`` when the run folder no longer has it."""
    path = Path(info.train_path if which == "train" else info.holdout_path)
    if not path.is_file():
        raise UserError(f"The {which} split is missing at {path}; the run folder is incomplete.")
    return pd.read_parquet(path)
