"""Batched permutation importance: the same measure as scikit-learn's, fewer predict calls."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LinearRegression, LogisticRegression

from ml_autopilot.reporting.permutation import CallCost, measure_cost, permutation_drops


def _neg_rmse(model, features, target) -> float:
    return -float(np.sqrt(np.mean((model.predict(features) - target) ** 2)))


class Counting:
    """A fitted model that counts its predict calls."""

    def __init__(self, model) -> None:
        self.model, self.calls = model, 0
        self.classes_ = getattr(model, "classes_", None)

    def predict(self, features):
        self.calls += 1
        return self.model.predict(features)

    def predict_proba(self, features):
        self.calls += 1
        return self.model.predict_proba(features)


def _regression(rows: int = 300) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    features = pd.DataFrame(rng.normal(size=(rows, 3)), columns=["strong", "weak", "noise"])
    target = 3 * features["strong"] + 0.5 * features["weak"] + rng.normal(0, 0.1, rows)
    return features, target.to_numpy()


def test_drops_match_scikit_learn_and_batches_change_nothing() -> None:
    features, target = _regression()
    model = LinearRegression().fit(features, target)
    counting = Counting(model)
    drops = permutation_drops(counting, _neg_rmse, features, target, repeats=30, seed=1)
    assert counting.calls == 2  # the baseline, then every shuffled copy at once
    assert drops.shape == (3, 30)
    reference = permutation_importance(
        model, features, target, scoring=_neg_rmse, n_repeats=30, random_state=1
    ).importances_mean
    assert np.allclose(drops.mean(axis=1), reference, rtol=0.1, atol=0.01)
    assert drops[0].mean() > drops[1].mean() > abs(drops[2].mean())
    small_batches = Counting(model)
    again = permutation_drops(small_batches, _neg_rmse, features, target, 30, 1, batch_rows=900)
    assert small_batches.calls == 1 + 30  # three copies of 300 rows per call
    assert np.allclose(again, drops)


def test_classification_scorers_read_probabilities_of_each_block() -> None:
    rng = np.random.default_rng(3)
    features = pd.DataFrame({"signal": rng.normal(size=400), "noise": rng.normal(size=400)})
    target = (features["signal"] > 0).astype(int).to_numpy()
    model = LogisticRegression().fit(features, target)

    def accuracy(estimator, frame, truth) -> float:
        return float((estimator.predict_proba(frame).argmax(axis=1) == truth).mean())

    drops = permutation_drops(model, accuracy, features, target, repeats=5, seed=0)
    assert drops[0].mean() > 0.3 and abs(drops[1].mean()) < 0.05


def test_call_cost_counts_calls_and_rows() -> None:
    cost = CallCost(fixed=0.1, per_row=0.001)
    # 3 columns x 2 repeats = 6 copies of 100 rows; 250 rows a call -> 2 copies a call, 3 calls
    assert np.isclose(cost.seconds(100, 3, 2, batch_rows=250), 4 * 0.1 + 100 * 7 * 0.001)


def test_measured_cost_separates_the_fixed_part() -> None:
    def predict(frame: pd.DataFrame) -> None:
        time.sleep(0.05 + 0.0002 * len(frame))

    cost = measure_cost(predict, pd.DataFrame({"x": range(400)}), small=100)
    assert 0.03 < cost.fixed < 0.08
    assert 0.0001 < cost.per_row < 0.0004
