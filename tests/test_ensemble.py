"""Greedy ensemble selection over out-of-fold predictions, and the fitted blend."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd

from ml_autopilot.catalog.scoring import score_all
from ml_autopilot.ensemble import WeightedEnsemble, fold_indices, select_ensemble
from ml_autopilot.state import (
    DataInfo,
    ExperimentRecord,
    ExperimentResult,
    ExperimentSpec,
    MetricInfo,
)

RMSE = MetricInfo(name="rmse", direction="minimize")


def info(task="regression", classes=()):
    return DataInfo(
        source_path="x",
        source_sha256="0",
        task=task,
        target="y",
        metric=RMSE if task == "regression" else MetricInfo(name="log_loss", direction="minimize"),
        n_rows=400,
        n_train=400,
        n_holdout=0,
        feature_columns=["a"],
        classes=list(classes),
        train_path="t",
        holdout_path="h",
    )


def record(tmp_path: Path, iteration: int, oof: np.ndarray, score: float) -> ExperimentRecord:
    folder = tmp_path / f"{iteration:03d}"
    folder.mkdir()
    np.save(folder / "oof.npy", oof)
    return ExperimentRecord(
        iteration=iteration,
        spec=ExperimentSpec(name=f"m{iteration}", model="ridge", hypothesis="h", reasoning="r"),
        result=ExperimentResult(
            status="success", cv_score=score, script_path=str(folder / "experiment.py")
        ),
        started_at="t",
        finished_at="t",
    )


def test_blend_of_independent_errors_beats_each_member(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.normal(0, 1, 400)
    a, b = y + rng.normal(0, 0.5, 400), y + rng.normal(0, 0.5, 400)
    bad = y + rng.normal(0, 3.0, 400)
    records = [
        record(tmp_path, i, p, float(np.sqrt(np.mean((p - y) ** 2))))
        for i, p in enumerate([a, b, bad], start=1)
    ]
    choice = select_ensemble(records, y, info(), RMSE, folds=4, seed=0)
    assert choice is not None
    assert set(choice.weights) == {1, 2}
    assert abs(sum(choice.weights.values()) - 1) < 1e-9
    blended = choice.summary()["rmse"]["mean"]
    assert blended < min(r.result.cv_score for r in records[:2]) * 0.9
    assert len(choice.fold_metrics) == 4


def test_no_ensemble_when_one_model_dominates(tmp_path):
    rng = np.random.default_rng(1)
    y = rng.normal(0, 1, 400)
    good, poor = y + rng.normal(0, 0.05, 400), y + rng.normal(0, 2.0, 400)
    records = [record(tmp_path, 1, good, 0.05), record(tmp_path, 2, poor, 2.0)]
    assert select_ensemble(records, y, info(), RMSE, folds=4, seed=0) is None


def test_folds_match_the_scripts_splitter():
    y = np.arange(100) % 3
    folds = fold_indices("classification", y, 5, 42)
    assert sorted(np.concatenate(folds).tolist()) == list(range(100))
    assert all(np.bincount(y[f]).min() >= 6 for f in folds)


class _Fixed:
    def __init__(self, proba: np.ndarray, classes: list[int]) -> None:
        self.proba, self.classes_ = proba, np.array(classes)

    def predict_proba(self, features):
        return self.proba


def test_weighted_ensemble_blends_and_aligns_missing_classes():
    first = _Fixed(np.array([[0.2, 0.8]]), [0, 2])  # trained without class 1
    second = _Fixed(np.array([[0.1, 0.6, 0.3]]), [0, 1, 2])
    blend = WeightedEnsemble([first, second], [0.5, 0.5], "classification", 3)
    assert np.allclose(blend.predict_proba(pd.DataFrame({"a": [1]})), [[0.15, 0.3, 0.55]])
    assert blend.predict(pd.DataFrame({"a": [1]})).tolist() == [2]


def test_a_blend_of_saved_members_pickles_their_bytes_and_loads_them():
    first = _Fixed(np.array([[0.2, 0.8]]), [0, 2])
    second = _Fixed(np.array([[0.1, 0.6, 0.3]]), [0, 1, 2])
    saved = [pickle.dumps({"pipeline": m, "task": "classification"}) for m in (first, second)]
    blend = WeightedEnsemble.from_saved(saved, [0.5, 0.5], "classification", 3)
    assert blend._members is None  # nothing unpickled yet
    copy = pickle.loads(pickle.dumps(blend))
    assert all(bundle in pickle.dumps(blend) for bundle in saved)  # the bytes, as they were
    assert copy._members is not None  # loading a file unpickles them, not a timed prediction
    for loaded in (blend, copy, pickle.loads(pickle.dumps(copy))):  # copy re-pickles members
        assert np.allclose(loaded.predict_proba(pd.DataFrame({"a": [1]})), [[0.15, 0.3, 0.55]])


def test_a_blend_pickled_with_its_members_inline_still_loads(monkeypatch):
    """Runs saved before members were kept as bytes pickled the members in the object."""
    old = WeightedEnsemble.__new__(WeightedEnsemble)
    old.__dict__.update(
        members=[_Fixed(np.array([[0.1, 0.9]]), [0, 1])],
        weights=[1.0],
        task="classification",
        classes_=np.arange(2),
    )
    monkeypatch.delattr(WeightedEnsemble, "__reduce__")  # pickled as the old class did
    saved = pickle.dumps(old)
    monkeypatch.undo()
    loaded = pickle.loads(saved)
    assert np.allclose(loaded.predict_proba(pd.DataFrame({"a": [1]})), [[0.1, 0.9]])


def test_scores_match_for_binary_and_multiclass():
    truth = np.array([0, 1, 1, 0])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    scores = score_all("classification", 2, truth, proba.argmax(1), proba)
    assert scores["accuracy"] == 0.5 and scores["roc_auc"] == 0.75
