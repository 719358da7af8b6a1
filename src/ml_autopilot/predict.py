"""Predictions from a finished run's saved model, in the benchmark's file format.

Column ``prediction`` holds the label (classification) or value (regression); classification
adds one probability column per class, named exactly as the class label.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.pipeline import FeatureUnion, Pipeline

from ml_autopilot.config import default_workers_threads
from ml_autopilot.data.loading import read_table
from ml_autopilot.ensemble import WeightedEnsemble
from ml_autopilot.errors import UserError
from ml_autopilot.model_file import load_bundle
from ml_autopilot.state import load_state


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
        values = frame[column].astype("object")
        out[column] = values.where(values.isna(), values.astype(str)).where(values.notna(), np.nan)
    return out


def predict_frame(bundle: dict[str, Any], frame: pd.DataFrame) -> pd.DataFrame:
    """Predictions for every row of ``frame``, in order."""
    features = prepare_features(frame, bundle["numeric_columns"], bundle["categorical_columns"])
    pipeline = bundle["pipeline"]
    if bundle["task"] == "regression":
        values = np.asarray(pipeline.predict(features), dtype="float64")
        return pd.DataFrame({"prediction": values})
    classes = list(bundle["classes"])
    proba = np.zeros((len(features), len(classes)))
    present = np.asarray(pipeline.classes_, dtype=int)
    proba[:, present] = pipeline.predict_proba(features)
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
    """Write predictions for a data file; returns the number of rows written."""
    bundle = load_model_bundle(run_dir)
    use_threads(bundle["pipeline"], default_workers_threads())
    frame = read_table(data_path)
    predictions = predict_frame(bundle, frame)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    predictions.to_csv(out_path, index=False)
    return len(predictions)
