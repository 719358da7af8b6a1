"""Every metric of a task computed from predictions, exactly as the generated scripts do.

Used where the session scores predictions itself (the ensemble built from out-of-fold
predictions, and its holdout score); a test keeps it equal to the templates' ``score_all``.
"""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from ml_autopilot.config import TaskType


def score_all(
    task: TaskType, n_classes: int, truth: np.ndarray, labels: np.ndarray, proba: np.ndarray | None
) -> dict[str, float]:
    """Scores on the original target scale; classes are encoded 0..n_classes-1."""
    if task == "regression":
        return {
            "rmse": float(np.sqrt(skm.mean_squared_error(truth, labels))),
            "mae": float(skm.mean_absolute_error(truth, labels)),
            "r2": float(skm.r2_score(truth, labels)),
        }
    assert proba is not None
    binary = n_classes == 2
    classes = list(range(n_classes))
    scores = {
        "accuracy": skm.accuracy_score(truth, labels),
        "f1": skm.f1_score(
            truth,
            labels,
            average="binary" if binary else "macro",
            labels=None if binary else classes,
            zero_division=0,
        ),
        "log_loss": skm.log_loss(truth, np.clip(proba, 1e-15, 1.0), labels=classes),
    }
    try:
        if binary:
            scores["roc_auc"] = skm.roc_auc_score(truth, proba[:, 1])
        else:
            scores["roc_auc"] = skm.roc_auc_score(
                truth, proba, multi_class="ovr", average="macro", labels=classes
            )
    except ValueError:
        scores["roc_auc"] = float("nan")
    return {key: float(value) for key, value in scores.items()}


def score_one(
    metric: str,
    task: TaskType,
    n_classes: int,
    truth: np.ndarray,
    labels: np.ndarray,
    proba: np.ndarray | None,
) -> float:
    """One metric of ``score_all``, computed alone (the ensemble search scores thousands of
    blends: the other metrics, ROC AUC above all, would cost most of its time)."""
    if metric == "rmse":
        return float(np.sqrt(skm.mean_squared_error(truth, labels)))
    if metric == "mae":
        return float(skm.mean_absolute_error(truth, labels))
    if metric == "r2":
        return float(skm.r2_score(truth, labels))
    if metric == "accuracy":
        return float(skm.accuracy_score(truth, labels))
    if metric == "log_loss":
        assert proba is not None
        classes = list(range(n_classes))
        return float(skm.log_loss(truth, np.clip(proba, 1e-15, 1.0), labels=classes))
    return score_all(task, n_classes, truth, labels, proba)[metric]


def labels_from(task: TaskType, predictions: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(labels, probabilities) from stored predictions: class probabilities or values."""
    if task == "regression":
        return predictions, None
    return predictions.argmax(axis=1), predictions
