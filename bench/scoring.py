"""Check and score a prediction file, and compare two systems, exactly as BENCHMARK.md says.

- binary: ROC AUC from the probability of the class that sorts last among the labels
- multiclass: log loss from the per-class probabilities, clipped to [1e-15, 1] and renormalised
- regression: RMSE, with R^2 alongside
- head to head: a tie is within 0.001 AUC, or within 0.1% (relative) for log loss and RMSE

Class labels are handled as text, exactly as they appear in the CSV files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

METRIC_OF_TASK = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}
HIGHER_IS_BETTER = {"roc_auc": True, "log_loss": False, "rmse": False}
AUC_TIE = 0.001
RELATIVE_TIE = 0.001
ROW_SUM_TOLERANCE = 1e-3
EPS = 1e-15


class PredictionError(ValueError):
    """The prediction file breaks the contract of BENCHMARK.md."""


def read_target(path: Path, target: str, task: str) -> pd.Series:
    """The target column of a split file; class labels as text."""
    dtype = {target: str} if task != "regression" else None
    return pd.read_csv(path, dtype=dtype, usecols=[target])[target]


def class_labels(train_y: pd.Series, test_y: pd.Series) -> list[str]:
    """All class labels of the dataset, sorted as text."""
    return sorted(set(train_y.astype(str)) | set(test_y.astype(str)))


def read_predictions(path: Path, n_rows: int, task: str, labels: list[str]) -> pd.DataFrame:
    """Read a prediction file and check it against the contract; raise PredictionError if not."""
    if not path.is_file():
        raise PredictionError(f"no prediction file at {path}")
    frame = pd.read_csv(path, dtype={"prediction": str} if task != "regression" else None)
    if len(frame) != n_rows:
        raise PredictionError(f"{len(frame)} rows, expected {n_rows}")
    if "prediction" not in frame.columns:
        raise PredictionError("no 'prediction' column")
    if task == "regression":
        _check_finite(frame[["prediction"]], "prediction")
    else:
        _check_probabilities(frame, labels)
    return frame


def _check_finite(values: pd.DataFrame, what: str) -> None:
    array = pd.DataFrame(values).apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(array).all():
        raise PredictionError(f"{what}: missing, non-numeric or infinite values")


def _check_probabilities(frame: pd.DataFrame, labels: list[str]) -> None:
    missing = [label for label in labels if label not in frame.columns]
    if missing:
        raise PredictionError(f"no probability column for class(es) {missing}")
    _check_finite(frame[labels], "probabilities")
    proba = frame[labels].to_numpy(dtype=float)
    if (proba < -ROW_SUM_TOLERANCE).any():
        raise PredictionError("negative probabilities")
    worst = float(np.abs(proba.sum(axis=1) - 1.0).max())
    if worst > ROW_SUM_TOLERANCE:
        raise PredictionError(f"probability rows do not sum to 1 (off by up to {worst:.3g})")


def score(frame: pd.DataFrame, truth: pd.Series, task: str, labels: list[str]) -> dict:
    """Score checked predictions: {'metric', 'score'} plus 'r2' for regression."""
    if task == "binary":
        positive = labels[-1]
        value = roc_auc_score(truth.astype(str) == positive, frame[positive].astype(float))
        return {"metric": "roc_auc", "score": float(value)}
    if task == "multiclass":
        return {"metric": "log_loss", "score": multiclass_log_loss(frame, truth, labels)}
    return {"metric": "rmse", **regression_scores(frame["prediction"], truth)}


def multiclass_log_loss(frame: pd.DataFrame, truth: pd.Series, labels: list[str]) -> float:
    """Log loss over the per-class probabilities, clipped to [1e-15, 1] and renormalised."""
    proba = np.clip(frame[labels].to_numpy(dtype=float), EPS, 1.0)
    proba /= proba.sum(axis=1, keepdims=True)
    index = {label: i for i, label in enumerate(labels)}
    rows = np.arange(len(truth))
    columns = truth.astype(str).map(index).to_numpy()
    return float(-np.log(proba[rows, columns]).mean())


def regression_scores(prediction: pd.Series, truth: pd.Series) -> dict:
    """RMSE (the score) and R^2."""
    y = truth.to_numpy(dtype=float)
    residual = y - prediction.to_numpy(dtype=float)
    rmse = float(np.sqrt(np.mean(residual**2)))
    r2 = float(1.0 - np.sum(residual**2) / np.sum((y - y.mean()) ** 2))
    return {"score": rmse, "r2": r2}


def head_to_head(metric: str, ours: float | None, theirs: float | None) -> str:
    """'W', 'T' or 'L' for the first system against the second; a failure (None) loses."""
    if ours is None:
        return "L"
    if theirs is None:
        return "W"
    margin = AUC_TIE if metric == "roc_auc" else RELATIVE_TIE * abs(theirs)
    if abs(ours - theirs) <= margin:
        return "T"
    better = ours > theirs if HIGHER_IS_BETTER[metric] else ours < theirs
    return "W" if better else "L"
