"""Predictions from a finished run's saved model, in the benchmark's file format.

Column ``prediction`` holds the label (classification) or value (regression); classification
adds one probability column per class, named exactly as the class label.

Each ``predict_file`` appends one line to the run folder's ``predictions.jsonl``: when, which
input and output, how many rows, which saved model, and the wall-clock span of the model's
prediction (the same kind of span the run's scripts report, so that the time spent predicting
is accounted as model time). The log is best effort: a run folder that cannot be written to
gets a warning, and the predictions are still written.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml_autopilot.config import default_workers_threads
from ml_autopilot.data.loading import all_text, read_table
from ml_autopilot.ensemble import WeightedEnsemble
from ml_autopilot.errors import UserError
from ml_autopilot.log import get_logger
from ml_autopilot.model_file import load_bundle
from ml_autopilot.state import load_state
from ml_autopilot.timing import PREDICTIONS_LOG, Span

logger = get_logger("predict")


def load_model_bundle(run_dir: Path) -> dict[str, Any]:
    """The saved pipeline and its metadata for a finished run."""
    state = load_state(run_dir)
    if state.final is None or state.final.status != "success" or not state.final.model_path:
        raise UserError(
            f"{run_dir} has no final model yet (phase: {state.phase}); finish the run first "
            f"with `autopilot run --resume {run_dir}`."
        )
    path = Path(state.final.model_path)
    if not path.is_file():
        raise UserError(f"The model file {path} is missing.")
    return load_bundle(path)  # our own artifact, written by the run's final script


def prepare_features(
    frame: pd.DataFrame, numeric: list[str], categorical: list[str]
) -> pd.DataFrame:
    """Same conversion as the generated scripts: numeric as float, categorical as str or NaN."""
    missing = [c for c in [*numeric, *categorical] if c not in frame.columns]
    if missing:
        shown = ", ".join(repr(c) for c in missing[:10])
        raise UserError(f"The data lacks {len(missing)} column(s) the model needs: {shown}")
    out = pd.DataFrame(index=frame.index)
    for column in numeric:
        out[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    for column in categorical:
        out[column] = _as_text(frame[column])
    return out


def _as_text(column: pd.Series) -> pd.Series:
    """Values as str, missing as NaN; a column of str already (the usual case) is not
    converted again (0.07 s less for connect-4's 42 columns of 40,000 rows)."""
    values = column.astype("object")
    if not all_text(values):
        values = values.where(values.isna(), values.astype(str))
    return values.where(values.notna(), np.nan)


def predict_frame(
    bundle: dict[str, Any], frame: pd.DataFrame, spans: list[Span] | None = None
) -> pd.DataFrame:
    """Predictions for every row of ``frame``, in order; the wall-clock span of the model's
    prediction is appended to ``spans`` when given."""
    features = prepare_features(frame, bundle["numeric_columns"], bundle["categorical_columns"])
    pipeline = bundle["pipeline"]
    regression = bundle["task"] == "regression"
    started = time.time()
    raw = pipeline.predict(features) if regression else pipeline.predict_proba(features)
    if spans is not None:
        spans.append((started, time.time()))
    if regression:
        return pd.DataFrame({"prediction": np.asarray(raw, dtype="float64")})
    classes = list(bundle["classes"])
    proba = np.zeros((len(features), len(classes)))
    proba[:, np.asarray(pipeline.classes_, dtype=int)] = raw
    proba = np.clip(proba, 0.0, 1.0)
    sums = proba.sum(axis=1, keepdims=True)
    proba = np.divide(proba, sums, out=np.full_like(proba, 1 / len(classes)), where=sums > 0)
    out = pd.DataFrame({"prediction": [classes[i] for i in proba.argmax(axis=1)]})
    for index, label in enumerate(classes):
        out[str(label)] = proba[:, index]
    return out


THREAD_PARAMS = ("n_jobs", "thread_count", "nthread")  # sklearn/LightGBM/XGBoost, CatBoost


def use_threads(model: object, threads: int) -> None:
    """Let a fitted model predict with ``threads`` threads.

    Models are fitted with the threads their experiment had (often one, beside other
    experiments); predicting many rows with thousands of boosted trees on one thread is slow
    (connect-4's blend of two LightGBM models took 42 s for 17k rows). Pipelines, a target
    transform's fitted regressor and a blend's members are walked; a model that refuses the
    change keeps its setting (a fitted CatBoost model does; its predict uses every core).
    Preprocessing gets no workers: a ColumnTransformer's ``n_jobs`` starts joblib worker
    *processes* (seconds for a small table, and they outlive the call), so it is set to run in
    this process, which also mends models saved before this rule."""
    from sklearn.compose import ColumnTransformer, TransformedTargetRegressor  # not at start-up
    from sklearn.pipeline import FeatureUnion, Pipeline

    if isinstance(model, Pipeline):
        for _, step in model.steps:
            use_threads(step, threads)
    elif isinstance(model, TransformedTargetRegressor):
        use_threads(getattr(model, "regressor_", model.regressor), threads)
    elif isinstance(model, WeightedEnsemble):
        for member in model.members:
            use_threads(member, threads)
    elif isinstance(model, ColumnTransformer | FeatureUnion):
        model.set_params(n_jobs=None)
    elif hasattr(model, "get_params") and hasattr(model, "set_params"):
        try:
            params = model.get_params(deep=False)
            model.set_params(**{key: threads for key in THREAD_PARAMS if key in params})
        except Exception:  # a model that refuses keeps predicting as it was
            return


def predict_file(run_dir: Path, data_path: Path, out_path: Path) -> int:
    """Write predictions for a data file and log them in the run folder; returns the number
    of rows written."""
    bundle = load_model_bundle(run_dir)
    use_threads(bundle["pipeline"], default_workers_threads())
    frame = read_table(data_path)
    spans: list[Span] = []
    predictions = predict_frame(bundle, frame, spans)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    predictions.to_csv(out_path, index=False)
    log_predictions(
        run_dir,
        {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "input": str(Path(data_path).resolve()),
            "output": str(Path(out_path).resolve()),
            "rows": len(predictions),
            "experiment": bundle.get("experiment"),
            "model_spans": [list(span) for span in spans],
        },
    )
    return len(predictions)


def log_predictions(run_dir: Path, entry: dict[str, Any]) -> None:
    """Append one entry to the run's prediction log; a folder that cannot be written to only
    gets a warning (the predictions are the point, the log is the record)."""
    try:
        with open(Path(run_dir) / PREDICTIONS_LOG, "a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")
    except OSError as exc:
        logger.warning("could not log the predictions in %s: %s", run_dir, exc)
