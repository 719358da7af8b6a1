"""The model catalog: every estimator the autopilot may use, with its search space.

Each entry names the estimator class per task (as an import path, so nothing is imported until
needed), the parameters the templates own, what the model can do natively (missing values,
categorical features), sane hyperparameter ranges and the conditional search space that the
optimizer samples. Import paths here are the only identifiers that ever reach generated code.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from ml_autopilot.config import TaskType

ParamKind = Literal["int", "float", "categorical", "bool"]


@dataclass(frozen=True)
class ParamSpec:
    """One tunable hyperparameter: its search range and the wider range that is still sane."""

    name: str
    kind: ParamKind
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    sane_low: float | None = None
    sane_high: float | None = None

    def bounds(self) -> tuple[float | None, float | None]:
        low = self.sane_low if self.sane_low is not None else self.low
        high = self.sane_high if self.sane_high is not None else self.high
        return low, high


@dataclass(frozen=True)
class ModelEntry:
    """A model family in the catalog."""

    key: str
    label: str
    estimators: dict[TaskType, str]
    space: tuple[ParamSpec, ...] = ()
    defaults: dict[str, Any] = field(default_factory=dict)
    owned: dict[str, str] = field(default_factory=dict)
    handles_missing: bool = False
    native_categorical: bool = False
    # below this many rows, ordinal codes are tried before the native categorical handling
    native_categorical_min_rows: int = 0
    needs_scaling: bool = False
    family: str = "other"
    extra_params: tuple[str, ...] = ()

    def estimator_path(self, task: TaskType) -> str:
        return self.estimators[task]

    def param(self, name: str) -> ParamSpec | None:
        return next((p for p in self.space if p.name == name), None)

    @property
    def listed_params(self) -> frozenset[str]:
        """Hyperparameters the catalog itself names: its search space and extra names."""
        return frozenset(p.name for p in self.space) | frozenset(self.extra_params)


def _i(name: str, low: int, high: int, log: bool = False, **kw: Any) -> ParamSpec:
    return ParamSpec(name, "int", low, high, log, **kw)


def _f(name: str, low: float, high: float, log: bool = False, **kw: Any) -> ParamSpec:
    return ParamSpec(name, "float", low, high, log, **kw)


def _c(name: str, *choices: Any) -> ParamSpec:
    return ParamSpec(name, "categorical", choices=tuple(choices))


# Template-owned parameters: value expressions the template fills in (seed, threads, quiet).
_SEED = {"random_state": "SEED"}
_SEED_THREADS = {"random_state": "SEED", "n_jobs": "N_THREADS"}

_TREE_ENSEMBLE_SPACE = (
    _i("n_estimators", 100, 600, sane_low=1, sane_high=5000),
    _i("max_depth", 4, 40, sane_low=1, sane_high=200),
    _i("min_samples_leaf", 1, 20, sane_low=1, sane_high=10_000),
    _f("max_features", 0.2, 1.0, sane_low=0.01, sane_high=1.0),
)

CATALOG: dict[str, ModelEntry] = {
    e.key: e
    for e in (
        ModelEntry(
            "linear_regression",
            "Linear regression",
            {"regression": "sklearn.linear_model.LinearRegression"},
            family="linear",
            needs_scaling=True,
            extra_params=("fit_intercept", "positive"),
        ),
        ModelEntry(
            "ridge",
            "Ridge regression",
            {"regression": "sklearn.linear_model.Ridge"},
            space=(_f("alpha", 1e-4, 1e3, log=True, sane_low=0.0, sane_high=1e7),),
            owned=_SEED,
            family="linear",
            needs_scaling=True,
        ),
        ModelEntry(
            "lasso",
            "Lasso regression",
            {"regression": "sklearn.linear_model.Lasso"},
            space=(_f("alpha", 1e-5, 10.0, log=True, sane_low=0.0, sane_high=1e5),),
            defaults={"max_iter": 5000},
            owned=_SEED,
            family="linear",
            needs_scaling=True,
            extra_params=("max_iter", "tol"),
        ),
        ModelEntry(
            "elastic_net",
            "Elastic net",
            {"regression": "sklearn.linear_model.ElasticNet"},
            space=(
                _f("alpha", 1e-5, 10.0, log=True, sane_low=0.0, sane_high=1e5),
                _f("l1_ratio", 0.05, 0.95, sane_low=0.0, sane_high=1.0),
            ),
            defaults={"max_iter": 5000},
            owned=_SEED,
            family="linear",
            needs_scaling=True,
            extra_params=("max_iter", "tol"),
        ),
        ModelEntry(
            "logistic_regression",
            "Logistic regression",
            {"classification": "sklearn.linear_model.LogisticRegression"},
            space=(_f("C", 1e-3, 1e3, log=True, sane_low=1e-8, sane_high=1e8),),
            defaults={"max_iter": 2000},
            owned=_SEED,
            family="linear",
            needs_scaling=True,
            extra_params=("max_iter", "tol", "class_weight", "fit_intercept", "solver"),
        ),
        ModelEntry(
            "gaussian_nb",
            "Gaussian naive Bayes",
            {"classification": "sklearn.naive_bayes.GaussianNB"},
            space=(_f("var_smoothing", 1e-12, 1e-3, log=True, sane_low=0.0, sane_high=1.0),),
            family="bayes",
        ),
        ModelEntry(
            "decision_tree",
            "Decision tree",
            {
                "regression": "sklearn.tree.DecisionTreeRegressor",
                "classification": "sklearn.tree.DecisionTreeClassifier",
            },
            space=(
                _i("max_depth", 2, 30, sane_low=1, sane_high=200),
                _i("min_samples_leaf", 1, 50, sane_low=1, sane_high=10_000),
            ),
            owned=_SEED,
            family="tree",
            extra_params=("criterion", "class_weight"),
        ),
        ModelEntry(
            "random_forest",
            "Random forest",
            {
                "regression": "sklearn.ensemble.RandomForestRegressor",
                "classification": "sklearn.ensemble.RandomForestClassifier",
            },
            space=_TREE_ENSEMBLE_SPACE,
            defaults={"n_estimators": 300},
            owned=_SEED_THREADS,
            family="bagging",
            extra_params=("criterion", "class_weight"),
        ),
        ModelEntry(
            "extra_trees",
            "Extra trees",
            {
                "regression": "sklearn.ensemble.ExtraTreesRegressor",
                "classification": "sklearn.ensemble.ExtraTreesClassifier",
            },
            space=_TREE_ENSEMBLE_SPACE,
            defaults={"n_estimators": 300},
            owned=_SEED_THREADS,
            family="bagging",
            extra_params=("criterion", "class_weight"),
        ),
        ModelEntry(
            "gradient_boosting",
            "Gradient boosting (scikit-learn)",
            {
                "regression": "sklearn.ensemble.GradientBoostingRegressor",
                "classification": "sklearn.ensemble.GradientBoostingClassifier",
            },
            space=(
                _i("n_estimators", 50, 500, sane_low=1, sane_high=5000),
                _f("learning_rate", 0.01, 0.3, log=True, sane_low=1e-4, sane_high=1.0),
                _i("max_depth", 2, 8, sane_low=1, sane_high=30),
                _f("subsample", 0.5, 1.0, sane_low=0.05, sane_high=1.0),
                _i("min_samples_leaf", 1, 50, sane_low=1, sane_high=10_000),
            ),
            owned=_SEED,
            family="boosting",
        ),
        ModelEntry(
            "hist_gradient_boosting",
            "Histogram gradient boosting (scikit-learn)",
            {
                "regression": "sklearn.ensemble.HistGradientBoostingRegressor",
                "classification": "sklearn.ensemble.HistGradientBoostingClassifier",
            },
            space=(
                _i("max_iter", 100, 1000, sane_low=1, sane_high=10_000),
                _f("learning_rate", 0.01, 0.3, log=True, sane_low=1e-4, sane_high=1.0),
                _i("max_leaf_nodes", 8, 128, log=True, sane_low=2, sane_high=4096),
                _i("min_samples_leaf", 5, 100, sane_low=1, sane_high=10_000),
                _f("l2_regularization", 1e-8, 10.0, log=True, sane_low=0.0, sane_high=1e4),
            ),
            owned=_SEED,
            handles_missing=True,
            native_categorical=True,
            family="boosting",
            extra_params=("early_stopping", "class_weight"),
        ),
        ModelEntry(
            "svr",
            "Support vector regression",
            {"regression": "sklearn.svm.SVR"},
            space=(
                _f("C", 1e-2, 1e3, log=True, sane_low=1e-6, sane_high=1e6),
                _f("epsilon", 1e-3, 1.0, log=True, sane_low=0.0, sane_high=1e6),
                _c("kernel", "rbf", "linear"),
            ),
            family="kernel",
            needs_scaling=True,
            extra_params=("gamma",),
        ),
        ModelEntry(
            "svc",
            "Support vector classifier",
            {"classification": "sklearn.svm.SVC"},
            space=(
                _f("C", 1e-2, 1e3, log=True, sane_low=1e-6, sane_high=1e6),
                _c("kernel", "rbf", "linear"),
            ),
            owned={"random_state": "SEED", "probability": "True"},
            family="kernel",
            needs_scaling=True,
            extra_params=("gamma", "class_weight"),
        ),
        ModelEntry(
            "kneighbors",
            "k-nearest neighbours",
            {
                "regression": "sklearn.neighbors.KNeighborsRegressor",
                "classification": "sklearn.neighbors.KNeighborsClassifier",
            },
            space=(
                _i("n_neighbors", 2, 50, sane_low=1, sane_high=10_000),
                _c("weights", "uniform", "distance"),
                _i("p", 1, 2),
            ),
            owned={"n_jobs": "N_THREADS"},
            family="neighbours",
            needs_scaling=True,
        ),
        ModelEntry(
            "xgboost",
            "XGBoost",
            {"regression": "xgboost.XGBRegressor", "classification": "xgboost.XGBClassifier"},
            space=(
                _i("n_estimators", 100, 2000, log=True, sane_low=1, sane_high=20_000),
                _f("learning_rate", 0.005, 0.3, log=True, sane_low=1e-4, sane_high=1.0),
                _i("max_depth", 2, 12, sane_low=1, sane_high=30),
                _f("subsample", 0.5, 1.0, sane_low=0.05, sane_high=1.0),
                _f("colsample_bytree", 0.3, 1.0, sane_low=0.05, sane_high=1.0),
                _f("min_child_weight", 1e-3, 20.0, log=True, sane_low=0.0, sane_high=1e4),
                _f("reg_lambda", 1e-3, 10.0, log=True, sane_low=0.0, sane_high=1e4),
                _f("reg_alpha", 1e-3, 10.0, log=True, sane_low=0.0, sane_high=1e4),
            ),
            owned={
                "random_state": "SEED",
                "n_jobs": "N_THREADS",
                "verbosity": "0",
                "tree_method": "'hist'",
            },
            handles_missing=True,
            family="boosting",
            extra_params=("gamma", "max_bin"),
        ),
        ModelEntry(
            "lightgbm",
            "LightGBM",
            {
                "regression": "lightgbm.LGBMRegressor",
                "classification": "lightgbm.LGBMClassifier",
            },
            space=(
                _i("n_estimators", 100, 3000, log=True, sane_low=1, sane_high=20_000),
                _f("learning_rate", 0.005, 0.3, log=True, sane_low=1e-4, sane_high=1.0),
                _i("num_leaves", 8, 256, log=True, sane_low=2, sane_high=4096),
                _i("min_child_samples", 3, 100, log=True, sane_low=1, sane_high=10_000),
                _f("subsample", 0.5, 1.0, sane_low=0.05, sane_high=1.0),
                _f("colsample_bytree", 0.3, 1.0, sane_low=0.05, sane_high=1.0),
                _f("reg_lambda", 1e-3, 10.0, log=True, sane_low=0.0, sane_high=1e4),
                _f("reg_alpha", 1e-3, 10.0, log=True, sane_low=0.0, sane_high=1e4),
            ),
            defaults={"subsample_freq": 1},
            owned={"random_state": "SEED", "n_jobs": "N_THREADS", "verbose": "-1"},
            handles_missing=True,
            native_categorical=True,
            # its categorical splits need min_data_per_group (100) rows in each group and add
            # cat_smooth and cat_l2 (10 each): defaults for large tables that block most splits
            # on small ones (5-fold CV log loss of the portfolio entry, ordinal vs native: car
            # 0.052 vs 0.073, credit-g 0.530 vs 0.540, penguins 0.087 vs 0.099; adult, 48,842
            # rows: 0.279 vs 0.278)
            native_categorical_min_rows=10_000,
            family="boosting",
            extra_params=(
                "subsample_freq",
                "max_depth",
                "max_bin",
                "class_weight",
                "min_split_gain",
                "cat_smooth",
                "min_data_per_group",
            ),
        ),
        ModelEntry(
            "catboost",
            "CatBoost",
            {
                "regression": "catboost.CatBoostRegressor",
                "classification": "catboost.CatBoostClassifier",
            },
            space=(
                _i("iterations", 200, 3000, log=True, sane_low=1, sane_high=20_000),
                _f("learning_rate", 0.01, 0.3, log=True, sane_low=1e-4, sane_high=1.0),
                _i("depth", 4, 10, sane_low=1, sane_high=16),
                _f("l2_leaf_reg", 1.0, 30.0, log=True, sane_low=0.0, sane_high=1e4),
            ),
            owned={
                "random_seed": "SEED",
                "thread_count": "N_THREADS",
                "verbose": "False",
                "allow_writing_files": "False",
            },
            handles_missing=True,
            native_categorical=True,
            family="boosting",
            extra_params=("border_count", "one_hot_max_size", "bagging_temperature"),
            # CatBoost's CPU default one-hot encodes only 2-level columns and computes target
            # statistics for the rest, which is slow for many low-cardinality columns: one
            # booster of 500 rounds on the benchmark's connect-4 (42 columns of 3 levels) did
            # not finish in 400 s, and took 15 s with 4; car 8.6 s -> 0.4 s, test log loss
            # 0.071 -> 0.061; diamonds (5-8 levels) unchanged. 4 is LightGBM's
            # max_cat_to_onehot.
            defaults={"one_hot_max_size": 4},
        ),
    )
}

# Every name a template may own, whatever the model: a spec that sets one has it removed.
TEMPLATE_OWNED_NAMES = frozenset(
    {
        "random_state",
        "random_seed",
        "seed",
        "n_jobs",
        "thread_count",
        "nthread",
        "num_threads",
        "verbose",
        "verbosity",
        "silent",
        "allow_writing_files",
        "train_dir",
        "probability",
        "tree_method",
        "device",
        "categorical_features",
        "cat_features",
        "categorical_feature",
        "enable_categorical",
        "logging_level",
        "warm_start",
    }
)


def models_for(task: TaskType) -> list[str]:
    """Catalog keys usable for a task, in catalog order."""
    return [key for key, entry in CATALOG.items() if task in entry.estimators]


@cache
def estimator_class(path: str) -> type:
    """Import an estimator class from its catalog path (only catalog paths are accepted)."""
    known = {p for entry in CATALOG.values() for p in entry.estimators.values()}
    if path not in known:
        raise ValueError(f"{path} is not a catalog estimator")
    module_name, _, class_name = path.rpartition(".")
    return getattr(importlib.import_module(module_name), class_name)


@cache
def accepted_params(key: str, task: TaskType) -> frozenset[str]:
    """Hyperparameter names an entry accepts: its constructor's named arguments plus the
    catalog's own list (boosting libraries take ``**kwargs``, so a signature alone is too wide).
    """
    entry = CATALOG[key]
    signature = inspect.signature(estimator_class(entry.estimator_path(task)).__init__)
    named = {
        name
        for name, p in signature.parameters.items()
        if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    }
    return frozenset(named) | entry.listed_params


def accepts_param(key: str, task: TaskType, name: str) -> bool:
    """Whether an entry takes hyperparameter ``name``. A name the catalog lists is answered
    without importing the estimator: for the baseline that import (scikit-learn) came before
    the first experiment could start, about 1 s."""
    return name in CATALOG[key].listed_params or name in accepted_params(key, task)
