"""The spec validator is the only gate to code generation: check what it lets through."""

from __future__ import annotations

import pytest

from ml_autopilot.catalog.models import CATALOG, models_for
from ml_autopilot.catalog.validation import safe_experiment_name, validate_spec
from ml_autopilot.data.profiling import profile_data
from ml_autopilot.errors import SpecValidationError
from ml_autopilot.state import ExperimentSpec, Preprocessing
from tests.conftest import make_classification_frame, make_regression_frame


@pytest.fixture(scope="module")
def cls_profile():
    return profile_data(make_classification_frame(), "species", "classification")


@pytest.fixture(scope="module")
def reg_profile():
    return profile_data(make_regression_frame(), "price", "regression")


def spec(model: str, params: dict | None = None, **prep: str) -> ExperimentSpec:
    return ExperimentSpec(
        name="t",
        model=model,
        params=params or {},
        preprocessing=Preprocessing(**prep),
        hypothesis="h",
        reasoning="r",
    )


def test_unknown_model_rejected_with_suggestion(cls_profile):
    with pytest.raises(SpecValidationError, match=r"unknown model 'lightgmb'.*'lightgbm'"):
        validate_spec(spec("lightgmb"), "classification", cls_profile)


def test_model_of_other_task_rejected_not_swapped(cls_profile):
    with pytest.raises(SpecValidationError, match="does not support classification"):
        validate_spec(spec("ridge"), "classification", cls_profile)


def test_owned_params_removed_and_noted(cls_profile):
    out = validate_spec(
        spec("random_forest", {"n_estimators": 50, "random_state": 3, "n_jobs": 8}),
        "classification",
        cls_profile,
    )
    assert out.spec.params == {"n_estimators": 50}
    assert any("random_state" in note for note in out.notes)


def test_unknown_hyperparameter_rejected(cls_profile):
    with pytest.raises(SpecValidationError, match=r"no hyperparameter 'num_leafs'.*num_leaves"):
        validate_spec(spec("lightgbm", {"num_leafs": 31}), "classification", cls_profile)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"num_leaves": 100_000}, "outside the sane range"),
        ({"learning_rate": -0.1}, "outside the sane range"),
        ({"n_estimators": 10.5}, "whole number"),
        ({"learning_rate": float("nan")}, "finite"),
        ({"learning_rate": "fast"}, "must be a number"),
        ({"max_depth": {"a": 1}}, "must be a number, string or boolean"),
    ],
)
def test_bad_values_rejected(cls_profile, params, message):
    with pytest.raises(SpecValidationError, match=message):
        validate_spec(spec("lightgbm", params), "classification", cls_profile)


def test_integral_float_coerced_to_int(cls_profile):
    out = validate_spec(spec("lightgbm", {"n_estimators": 200.0}), "classification", cls_profile)
    assert out.spec.params["n_estimators"] == 200
    assert isinstance(out.spec.params["n_estimators"], int)


def test_categorical_choice_checked(reg_profile):
    with pytest.raises(SpecValidationError, match="allowed"):
        validate_spec(spec("svr", {"kernel": "poly; rm -rf /"}), "regression", reg_profile)


def test_preprocessing_must_suit_model_and_data(cls_profile, reg_profile):
    with pytest.raises(SpecValidationError, match="native categorical"):
        validate_spec(spec("random_forest", encoding="native"), "classification", cls_profile)
    with pytest.raises(SpecValidationError, match="missing values"):
        validate_spec(spec("svc", imputation="none"), "classification", cls_profile)
    with pytest.raises(SpecValidationError, match="regression only"):
        validate_spec(spec("lightgbm", target_transform="log"), "classification", cls_profile)
    with pytest.raises(SpecValidationError, match="iterative imputation cannot use"):
        validate_spec(
            spec("catboost", imputation="iterative", encoding="native"), "classification",
            cls_profile,
        )
    iterative = spec("catboost", imputation="iterative", encoding="onehot")
    assert validate_spec(iterative, "classification", cls_profile).spec == iterative
    ok = validate_spec(
        spec("lightgbm", imputation="none", encoding="native", target_transform="log"),
        "regression",
        reg_profile,
    )
    assert ok.spec.preprocessing.target_transform == "log"


def test_names_made_file_safe():
    assert safe_experiment_name('../../x"); import os #') == "x_import_os"
    assert len(safe_experiment_name("a" * 500)) == 60


def test_every_catalog_default_is_valid(cls_profile, reg_profile):
    for task, profile in (("classification", cls_profile), ("regression", reg_profile)):
        for model in models_for(task):
            params = {p.name: (p.choices[0] if p.choices else p.low) for p in CATALOG[model].space}
            validate_spec(spec(model, params), task, profile)
