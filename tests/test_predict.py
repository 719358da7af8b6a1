"""Saved models predict with every core, however many threads they were fitted with."""

from __future__ import annotations

import numpy as np
import pandas as pd
from catboost import CatBoostClassifier
from lightgbm import LGBMClassifier
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.ensemble import ExtraTreesRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from xgboost import XGBClassifier

from ml_autopilot.ensemble import WeightedEnsemble
from ml_autopilot.predict import prepare_features, use_threads

RNG = np.random.default_rng(0)
X = RNG.normal(size=(80, 3))
Y_CLASS = (X[:, 0] > 0).astype(int)


def _fitted(model, y):
    return Pipeline([("scale", StandardScaler()), ("model", model)]).fit(X, y)


def test_every_model_in_a_blend_and_a_target_transform_gets_the_threads() -> None:
    boosters = [
        _fitted(LGBMClassifier(n_estimators=5, n_jobs=1, verbose=-1), Y_CLASS),
        _fitted(XGBClassifier(n_estimators=5, n_jobs=1), Y_CLASS),
        _fitted(
            CatBoostClassifier(
                iterations=5, thread_count=1, verbose=False, allow_writing_files=False
            ),
            Y_CLASS,
        ),
    ]
    blend = WeightedEnsemble(boosters, [0.5, 0.3, 0.2], "classification", 2)
    before = blend.predict_proba(X)
    use_threads(blend, 2)
    lightgbm, xgboost, catboost = (p.named_steps["model"] for p in boosters)
    assert lightgbm.get_params()["n_jobs"] == 2
    assert xgboost.get_params()["n_jobs"] == 2
    # a fitted CatBoost model refuses new parameters; its predict uses every core by default
    assert catboost.get_params()["thread_count"] == 1
    np.testing.assert_allclose(blend.predict_proba(X), before)  # same predictions

    regressor = TransformedTargetRegressor(
        regressor=_fitted(ExtraTreesRegressor(n_estimators=5, n_jobs=1), X[:, 1]),
        func=np.log1p,
        inverse_func=np.expm1,
        check_inverse=False,
    ).fit(X, np.abs(X[:, 1]))
    use_threads(regressor, 2)
    assert regressor.regressor_.named_steps["model"].n_jobs == 2


def test_a_step_without_a_thread_parameter_is_left_as_it_was() -> None:
    scaler = StandardScaler(with_mean=False).fit(X)
    before = scaler.get_params()
    use_threads(scaler, 2)
    use_threads(object(), 2)  # nothing to walk or set: no error either
    assert scaler.get_params() == before


def test_preprocessing_runs_in_process_however_it_was_saved() -> None:
    """A ColumnTransformer with n_jobs starts worker processes on every transform (seconds
    for a small table): the model gets the threads, the preprocessing runs in this process."""
    prep = ColumnTransformer([("num", StandardScaler(), [0, 1, 2])], n_jobs=2)
    model = Pipeline(
        [("prep", prep), ("model", LGBMClassifier(n_estimators=5, n_jobs=1, verbose=-1))]
    )
    model.fit(X, Y_CLASS)
    use_threads(model, 2)
    assert model.named_steps["prep"].n_jobs is None
    assert model.named_steps["model"].get_params()["n_jobs"] == 2


def test_categorical_values_become_text_with_missing_as_nan() -> None:
    frame = pd.DataFrame(
        {
            "text": ["a", None, "b", "c"],
            "mixed": pd.Series([1, "two", pd.NA, 2.5], dtype=object),
            "codes": [3, 4, 3, 5],
            "x": ["1.5", "2", None, "bad"],
        }
    )
    out = prepare_features(frame, ["x"], ["text", "mixed", "codes"])
    assert list(out.columns) == ["x", "text", "mixed", "codes"]
    assert out["text"].tolist()[::2] == ["a", "b"] and np.isnan(out["text"][1])
    assert out["mixed"].tolist()[:2] == ["1", "two"] and out["mixed"][3] == "2.5"
    assert np.isnan(out["mixed"][2])
    assert out["codes"].tolist() == ["3", "4", "3", "5"]
    assert out["x"].tolist()[:2] == [1.5, 2.0] and out["x"][2:].isna().all()
