"""The profile-reading rules: which missing-value strategies a model gets on which table."""

from __future__ import annotations

import numpy as np

from ml_autopilot.data.profiling import profile_data
from ml_autopilot.planning.rules import (
    ITERATIVE_MAX_ROWS,
    default_preprocessing,
    imputation_choices,
    traits_from,
)
from ml_autopilot.state import Constraints
from tests.conftest import make_classification_frame


def _traits(frame):
    return traits_from(profile_data(frame, "species", "classification"), "classification")


def test_missing_numbers_on_a_small_table_are_imputed_from_the_other_features_first():
    traits = _traits(make_classification_frame())  # "noise" has missing numbers
    assert traits.numeric_missing
    for model in ("logistic_regression", "random_forest", "lightgbm", "hist_gradient_boosting"):
        assert imputation_choices(model, traits)[0] == "iterative"
        assert default_preprocessing(model, traits, Constraints()).imputation == "iterative"
    assert imputation_choices("lightgbm", traits)[1:] == ("none", "median")
    assert imputation_choices("logistic_regression", traits)[1:] == ("median", "mean", "constant")


def test_catboost_keeps_its_own_missing_value_handling():
    """CatBoost takes its categories as text, which the iterative imputer cannot read."""
    traits = _traits(make_classification_frame())
    assert "iterative" not in imputation_choices("catboost", traits)
    constraints = Constraints(preprocessing={"imputation": "iterative"})
    assert default_preprocessing("catboost", traits, constraints).imputation == "none"
    assert default_preprocessing("lightgbm", traits, constraints).imputation == "iterative"


def test_iterative_imputation_is_not_offered_without_missing_numbers_or_on_large_tables():
    only_categories = make_classification_frame()
    only_categories["noise"] = only_categories["noise"].fillna(0.0)  # "colour" still has gaps
    traits = _traits(only_categories)
    assert traits.has_missing and not traits.numeric_missing
    assert "iterative" not in imputation_choices("logistic_regression", traits)

    large = make_classification_frame(n=ITERATIVE_MAX_ROWS + 1)
    traits = _traits(large)
    assert traits.numeric_missing and np.isnan(large["noise"]).any()
    assert imputation_choices("lightgbm", traits) == ("none", "median")
    assert imputation_choices("logistic_regression", traits) == ("median", "mean", "constant")
