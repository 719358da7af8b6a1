"""The model bundle file: a plain pickle, written atomically, read back whole."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from ml_autopilot.model_file import MODEL_FILE, load_bundle, save_bundle


def test_round_trip_of_a_fitted_model(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    features, target = rng.normal(size=(200, 3)), rng.integers(0, 3, 200)
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(features, target)
    path = tmp_path / "final" / MODEL_FILE

    save_bundle({"pipeline": model, "task": "classification"}, path)
    loaded = load_bundle(path)

    assert loaded["task"] == "classification"
    np.testing.assert_array_equal(
        loaded["pipeline"].predict_proba(features), model.predict_proba(features)
    )
    with open(path, "rb") as source:  # the format the refit script writes: plain pickle
        assert pickle.load(source)["task"] == "classification"
    assert [p.name for p in path.parent.iterdir()] == [MODEL_FILE]  # no temporary file left


def test_a_failed_save_keeps_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / MODEL_FILE
    save_bundle({"pipeline": "old"}, path)

    with pytest.raises((pickle.PicklingError, AttributeError)):
        save_bundle({"pipeline": lambda: None}, path)  # a lambda cannot be pickled

    assert load_bundle(path) == {"pipeline": "old"}
    assert [p.name for p in tmp_path.iterdir()] == [MODEL_FILE]


def test_a_model_saved_by_an_earlier_version_with_joblib_still_loads(tmp_path: Path) -> None:
    import joblib

    path = tmp_path / "final" / "model.joblib"
    path.parent.mkdir()
    joblib.dump({"pipeline": np.arange(5), "task": "regression"}, path)

    loaded = load_bundle(path)

    assert loaded["task"] == "regression"
    np.testing.assert_array_equal(loaded["pipeline"], np.arange(5))
