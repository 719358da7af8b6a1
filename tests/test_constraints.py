"""Tests of the Markdown constraints reader."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_autopilot.constraints import (
    MODEL_KEYS,
    load_constraints,
    normalise_metric,
    normalise_model,
    parse_constraints,
)
from ml_autopilot.errors import UserError
from ml_autopilot.state import Constraints

FULL = """\
# Constraints for churn
We score customers monthly.

## Metrics
- primary: roc_auc
## Models
- preferred: LightGBM, CatBoost
- avoid: SVC, KNeighbors
## Preprocessing
- scaling: standard
- encoding: target
- imputation: median
- target transform: log
## Termination
- plateau: 5
- target: 0.93
- max iterations: 30

## Business context
Interpretability matters.
* keep it under an hour
"""


def test_full_file_is_read_into_every_field() -> None:
    parsed = parse_constraints(FULL)

    assert parsed == Constraints(
        metric="roc_auc",
        preferred_models=["lightgbm", "catboost"],
        avoided_models=["svc", "kneighbors"],
        preprocessing={
            "scaling": "standard",
            "encoding": "target",
            "imputation": "median",
            "target_transform": "log",
        },
        plateau=5,
        target_score=0.93,
        max_iterations=30,
        notes=[
            "We score customers monthly.",
            "Business context",
            "Interpretability matters.",
            "keep it under an hour",
        ],
    )


def test_empty_and_blank_files_give_defaults() -> None:
    assert parse_constraints("") == Constraints()
    assert parse_constraints("\n   \n\t\n") == Constraints()
    assert parse_constraints("# Just a title\n") == Constraints()


def test_headings_bullets_and_separators_are_lenient() -> None:
    text = """\
# title
### METRIC
* Primary = log loss
## model
+ Prefer = xgb; lgbm and Random Forest
Exclude: SVM
## PREPROCESSING
1. Missing values = most_frequent
2. Scaler: Min-Max
Categorical encoding: One-Hot
## Stopping
Max_Iterations = 12
patience: 4
target score: 0.25
"""
    parsed = parse_constraints(text)

    assert parsed.metric == "log_loss"
    assert parsed.preferred_models == ["xgboost", "lightgbm", "random_forest"]
    assert parsed.avoided_models == ["svc", "svr"]
    assert parsed.preprocessing == {"imputation": "mode", "scaling": "minmax", "encoding": "onehot"}
    assert (parsed.max_iterations, parsed.plateau, parsed.target_score) == (12, 4, 0.25)
    assert parsed.notes == []


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("ROC AUC", "roc_auc"),
        ("roc-auc", "roc_auc"),
        ("AUC", "roc_auc"),
        ("logloss", "log_loss"),
        ("log loss", "log_loss"),
        ("RMSE", "rmse"),
        ("F1", "f1"),
        ("F1 score", "f1"),
        ("R2", "r2"),
        ("R\u00b2", "r2"),
        ("MAE", "mae"),
        ("Accuracy", "accuracy"),
        ("rmse (root mean squared error)", "rmse"),
    ],
)
def test_metric_names_are_normalised(written: str, expected: str) -> None:
    assert normalise_metric(written) == expected
    assert parse_constraints(f"## Metric\n- primary: {written}").metric == expected


def test_bare_metric_line_sets_metric_and_later_bare_metrics_become_notes() -> None:
    parsed = parse_constraints("## Metrics\n- RMSE\n- MAE\n- report R2 as well")

    assert parsed.metric == "rmse"
    assert parsed.notes == ["MAE", "report R2 as well"]


def test_explicit_metric_overrides_an_earlier_bare_one() -> None:
    assert parse_constraints("## Metrics\n- accuracy\n- metric: f1").metric == "f1"


def test_unknown_metric_with_key_is_a_one_line_user_error() -> None:
    with pytest.raises(UserError, match="Unknown metric 'precision'") as info:
        parse_constraints("## Metrics\nprimary: precision")
    assert "\n" not in str(info.value)
    assert "roc_auc" in str(info.value)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("LightGBM", ("lightgbm",)),
        ("lgbm", ("lightgbm",)),
        ("LGBMRegressor", ("lightgbm",)),
        ("XGBoost", ("xgboost",)),
        ("xgb", ("xgboost",)),
        ("XGBClassifier", ("xgboost",)),
        ("RandomForest", ("random_forest",)),
        ("Random Forest", ("random_forest",)),
        ("rf", ("random_forest",)),
        ("RandomForestRegressor", ("random_forest",)),
        ("KNN", ("kneighbors",)),
        ("KNeighbors", ("kneighbors",)),
        ("k-nearest neighbors", ("kneighbors",)),
        ("SVM", ("svc", "svr")),
        ("SVC", ("svc",)),
        ("SVR", ("svr",)),
        ("logistic regression", ("logistic_regression",)),
        ("LogisticRegression", ("logistic_regression",)),
        ("Naive Bayes", ("gaussian_nb",)),
        ("ElasticNet", ("elastic_net",)),
        ("HistGradientBoosting", ("hist_gradient_boosting",)),
        ("hgb", ("hist_gradient_boosting",)),
        ("GBM", ("gradient_boosting",)),
        ("GradientBoosting", ("gradient_boosting",)),
        ("GradientBoostingClassifier", ("gradient_boosting",)),
        ("linear regression", ("linear_regression",)),
        ("ExtraTrees", ("extra_trees",)),
        ("DecisionTree", ("decision_tree",)),
        ("CatBoost", ("catboost",)),
        ("Ridge", ("ridge",)),
        ("Lasso", ("lasso",)),
        ("neural network", ()),
    ],
)
def test_model_aliases(written: str, expected: tuple[str, ...]) -> None:
    assert normalise_model(written) == expected


def test_every_catalog_key_is_its_own_alias() -> None:
    for key in MODEL_KEYS:
        assert normalise_model(key) == (key,)


def test_model_keys_match_the_catalog() -> None:
    from ml_autopilot.catalog.models import CATALOG

    assert set(MODEL_KEYS) == set(CATALOG)


def test_unrecognised_models_are_kept_in_notes() -> None:
    parsed = parse_constraints("## Models\n- preferred: LightGBM, TabNet\n- avoid: deep nets")

    assert parsed.preferred_models == ["lightgbm"]
    assert parsed.avoided_models == []
    assert parsed.notes == ["unrecognised model: TabNet", "unrecognised model: deep nets"]


def test_avoid_phrasings_without_colon_and_duplicates() -> None:
    text = "## Models\n- don't use SVC\n- never KNN\n- avoid: svc, SVM\n- try lgbm and LightGBM"
    parsed = parse_constraints(text)

    assert parsed.avoided_models == ["svc", "kneighbors", "svr"]
    assert parsed.preferred_models == ["lightgbm"]


def test_model_both_preferred_and_avoided_is_avoided_with_a_note() -> None:
    parsed = parse_constraints("## Models\nprefer: xgboost, ridge\navoid: xgb")

    assert parsed.preferred_models == ["ridge"]
    assert parsed.avoided_models == ["xgboost"]
    assert any("xgboost" in note and "avoided" in note for note in parsed.notes)


def test_bare_model_names_under_a_preferred_heading() -> None:
    parsed = parse_constraints("## Preferred models\n- lgbm\n- CatBoost\n## Avoid\n- SVC\n- slow")

    assert parsed.preferred_models == ["lightgbm", "catboost"]
    assert parsed.avoided_models == ["svc"]
    assert parsed.notes == ["slow"]


@pytest.mark.parametrize(
    ("line", "key", "value"),
    [
        ("scaling: standardize", "scaling", "standard"),
        ("scaling: min_max", "scaling", "minmax"),
        ("scaling: none", "scaling", "none"),
        ("encoder: one_hot", "encoding", "onehot"),
        ("encoding: ordinal", "encoding", "ordinal"),
        ("encoding: native", "encoding", "native"),
        ("impute: most_frequent", "imputation", "mode"),
        ("missing: constant (0)", "imputation", "constant"),
        ("imputation: drop", "imputation", "drop"),
        ("imputation: mean", "imputation", "mean"),
        ("target: log", "target_transform", "log"),
        ("target transform: none", "target_transform", "none"),
    ],
)
def test_preprocessing_aliases(line: str, key: str, value: str) -> None:
    assert parse_constraints(f"## Preprocessing\n- {line}").preprocessing == {key: value}


@pytest.mark.parametrize(
    ("line", "allowed"),
    [
        ("scaling: robust", "standard, minmax, none"),
        ("imputation: knn", "drop, mean, median, mode, constant, iterative, none"),
        ("encoding: hashing", "onehot, ordinal, target, native"),
        ("target transform: sqrt", "log, none"),
    ],
)
def test_bad_preprocessing_value_names_allowed_values(line: str, allowed: str) -> None:
    with pytest.raises(UserError) as info:
        parse_constraints(f"## Preprocessing\n{line}")
    message = str(info.value)
    assert allowed in message
    assert "\n" not in message


def test_unknown_preprocessing_lines_become_notes() -> None:
    parsed = parse_constraints("## Preprocessing\n- drop the customer_id column\n- scaling: none")

    assert parsed.preprocessing == {"scaling": "none"}
    assert parsed.notes == ["drop the customer_id column"]


def test_termination_numbers_with_words_around_them() -> None:
    text = (
        "## Termination\n- plateau: 5 experiments\n- target: rmse <= 45,000\n- max iterations: 30"
    )
    parsed = parse_constraints(text)

    assert (parsed.plateau, parsed.target_score, parsed.max_iterations) == (5, 45000.0, 30)


def test_termination_metric_name_digits_are_not_read_as_numbers() -> None:
    assert parse_constraints("## Stopping\ntarget: r2 >= 0.9").target_score == 0.9
    assert parse_constraints("## Stopping\ntarget value = -1.5e-2").target_score == -0.015
    assert parse_constraints("## Stopping\nTarget: 0.93.").target_score == 0.93
    assert parse_constraints("## Stopping\ntarget <= 45000").target_score == 45000.0


@pytest.mark.parametrize(
    "line",
    [
        "plateau: five",
        "plateau: 2.5",
        "plateau: 0",
        "max iterations: -3",
        "target: high",
        "target: 0.9 or 0.95",
    ],
)
def test_bad_termination_numbers_are_one_line_user_errors(line: str) -> None:
    with pytest.raises(UserError) as info:
        parse_constraints(f"## Termination\n{line}")
    assert "\n" not in str(info.value)


def test_sentences_that_start_like_a_key_become_notes_not_errors() -> None:
    text = """\
## Metrics
primary metric is what the board sees
## Models
use whatever is fastest
prefer LightGBM and anything fast
## Preprocessing
scale features only when the model needs it
## Termination
target the churners first
"""
    parsed = parse_constraints(text)

    assert parsed.metric is None
    assert parsed.preferred_models == ["lightgbm"]
    assert parsed.preprocessing == {}
    assert parsed.target_score is None
    assert parsed.notes == [
        "primary metric is what the board sees",
        "use whatever is fastest",
        "unrecognised model: anything fast",
        "scale features only when the model needs it",
        "target the churners first",
    ]


def test_zero_max_iterations_is_allowed() -> None:
    assert parse_constraints("## Termination\nmax iterations: 0").max_iterations == 0


def test_notes_keep_free_text_and_skip_title_and_comments() -> None:
    text = """\
# Title that is not a note
<!-- a comment the user left -->
Free line at the top.

## Termination
- plateau: 3
- stop if it takes longer than an hour
## Deployment
  - must run on CPU{trailing}
"""
    parsed = parse_constraints(text.format(trailing="   "))

    assert parsed.plateau == 3
    assert parsed.notes == [
        "Free line at the top.",
        "stop if it takes longer than an hour",
        "Deployment",
        "must run on CPU",
    ]


def test_expressions_are_never_evaluated() -> None:
    with pytest.raises(UserError, match="needs one number"):
        parse_constraints("## Termination\n- plateau: __import__('os').getpid()")
    with pytest.raises(UserError, match="needs one number"):
        parse_constraints("## Termination\n- max iterations: 2 * 10")


def test_load_constraints_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "constraints.md"
    path.write_text(FULL, encoding="utf-8")

    assert load_constraints(path) == parse_constraints(FULL)


def test_load_constraints_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist") as info:
        load_constraints(tmp_path / "nope.md")
    assert "\n" not in str(info.value)


def test_load_constraints_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.md"
    path.write_bytes("## Notes\ncaf\u00e9 \u00ff".encode("latin-1"))

    with pytest.raises(UserError, match="not UTF-8") as info:
        load_constraints(path)
    assert "\n" not in str(info.value)
