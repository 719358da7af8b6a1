"""Proven configurations tried before any search: strong defaults per model family.

The list is ordered by how often each configuration wins on tabular benchmarks; the rules in
``rules.py`` adapt it to the data (preprocessing, which models fit the data's size).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ml_autopilot.config import TaskType


@dataclass(frozen=True)
class PortfolioEntry:
    name: str
    model: str
    params: dict[str, Any]
    hypothesis: str
    reasoning: str
    prior: float
    tasks: tuple[TaskType, ...] = ("regression", "classification")
    max_rows: int | None = None
    min_rows: int = 0
    # the share of the features that must be categorical for the entry to be tried
    min_categorical_share: float = 0.0
    tags: tuple[str, ...] = field(default_factory=tuple)


PORTFOLIO: tuple[PortfolioEntry, ...] = (
    PortfolioEntry(
        "lightgbm_default",
        "lightgbm",
        {
            "n_estimators": 1000,
            "learning_rate": 0.05,
            "num_leaves": 31,
            "min_child_samples": 20,
            "subsample": 0.9,
            "colsample_bytree": 0.9,
        },
        "Gradient-boosted trees with moderate defaults beat the linear baseline on most tables.",
        "LightGBM is the strongest fast learner on tabular data; learning rate 0.05 with up "
        "to 1,000 trees (early stopping picks the number) is a well-proven starting point.",
        prior=0.75,
    ),
    PortfolioEntry(
        "lightgbm_fast",
        "lightgbm",
        {
            "n_estimators": 1000,
            "learning_rate": 0.1,
            "num_leaves": 63,
            "min_child_samples": 20,
            "subsample": 0.9,
            "colsample_bytree": 0.9,
        },
        "Larger trees with a higher learning rate fit within the time each fold gets.",
        "On tens of thousands of rows, boosting at learning rate 0.05 can run out of time "
        "before early stopping (connect-4 at 60 s: 450 rounds, log loss 0.41); 63 leaves at "
        "0.1 converge in fewer rounds (0.36 in the same time per fold).",
        prior=0.7,
        min_rows=20_000,
    ),
    PortfolioEntry(
        "catboost_default",
        "catboost",
        {"iterations": 2000, "learning_rate": 0.08, "depth": 6},
        "Ordered boosting with symmetric trees generalises well, especially with categoricals.",
        "CatBoost's defaults are among the best untuned models on tabular benchmarks.",
        prior=0.65,
        max_rows=200_000,
    ),
    PortfolioEntry(
        "lightgbm_large",
        "lightgbm",
        {
            "n_estimators": 3000,
            "learning_rate": 0.03,
            "num_leaves": 63,
            "min_child_samples": 20,
            "subsample": 0.8,
            "colsample_bytree": 0.8,
            "reg_lambda": 1.0,
        },
        "More, smaller boosting steps with larger trees capture finer structure.",
        "A slower learning rate with up to 3,000 trees and 63 leaves usually gains over defaults "
        "when there are thousands of rows.",
        prior=0.6,
    ),
    PortfolioEntry(
        "xgboost_default",
        "xgboost",
        {
            "n_estimators": 1500,
            "learning_rate": 0.05,
            "max_depth": 6,
            "subsample": 0.8,
            "colsample_bytree": 0.8,
            "min_child_weight": 1.0,
        },
        "Depth-wise boosting finds different interactions than leaf-wise LightGBM.",
        "XGBoost with depth 6 and row/column subsampling is a robust, different booster.",
        prior=0.55,
    ),
    PortfolioEntry(
        "xgboost_sharp",
        "xgboost",
        {
            "n_estimators": 1000,
            "learning_rate": 0.3,
            "max_depth": 4,
            "min_child_weight": 0.002,
            "reg_lambda": 1.0,
            "reg_alpha": 0.01,
        },
        "Shallow boosting with almost no minimum leaf weight can make its probabilities sharp "
        "where the classes follow a rule over mostly categorical features.",
        "A class probability near 0 or 1 leaves a leaf almost no hessian weight, so the usual "
        "minimum (1) stops the trees from sharpening it; on car (a rule over six categorical "
        "features) this setting halves the 5-fold CV log loss of the default booster "
        "(0.061 -> 0.032). On numeric tables it only overfits (phoneme, segment, breast "
        "cancer: worse than the default booster), so it is tried where most features are "
        "categorical.",
        prior=0.5,
        tasks=("classification",),
        max_rows=10_000,
        min_categorical_share=0.5,
    ),
    PortfolioEntry(
        "extra_trees_default",
        "extra_trees",
        {"n_estimators": 300, "max_features": 0.7},
        "Randomised trees average out noise that boosting may overfit.",
        "Extra trees are fast, low-variance and a useful counterpoint to boosting.",
        prior=0.45,
        max_rows=200_000,
    ),
    PortfolioEntry(
        "random_forest_default",
        "random_forest",
        {"n_estimators": 300, "max_features": 0.5},
        "Bagged deep trees are a strong, hard-to-overfit reference.",
        "Random forests rarely win outright but are stable on small or noisy data.",
        prior=0.4,
        max_rows=100_000,
    ),
    PortfolioEntry(
        "hist_gradient_boosting_default",
        "hist_gradient_boosting",
        {
            "max_iter": 500,
            "learning_rate": 0.06,
            "max_leaf_nodes": 31,
            "min_samples_leaf": 20,
            "l2_regularization": 0.1,
        },
        "scikit-learn's histogram boosting with native missing handling is another strong view.",
        "HistGradientBoosting handles missing values and categoricals natively.",
        prior=0.4,
    ),
    PortfolioEntry(
        "svm_rbf",
        "svc",
        {"C": 1.0, "kernel": "rbf"},
        "On small, scaled data a kernel method can match trees.",
        "An RBF SVM is competitive on small numeric tables.",
        prior=0.35,
        tasks=("classification",),
        max_rows=3_000,
    ),
    PortfolioEntry(
        "svr_rbf",
        "svr",
        {"C": 10.0, "epsilon": 0.1, "kernel": "rbf"},
        "On small, scaled data a kernel method can match trees.",
        "An RBF SVR is competitive on small numeric tables.",
        prior=0.35,
        tasks=("regression",),
        max_rows=3_000,
    ),
    PortfolioEntry(
        "ridge_default",
        "ridge",
        {"alpha": 1.0},
        "Regularising the linear baseline helps when features are correlated.",
        "Ridge is the cheapest fix for an unstable linear fit.",
        prior=0.3,
        tasks=("regression",),
        max_rows=None,
    ),
)


def portfolio_for(
    task: TaskType, n_rows: int, allowed: list[str], categorical_share: float = 0.0
) -> list[PortfolioEntry]:
    """Entries that fit the task, the data's size and kind of features, and the allowed
    models, in order."""
    return [
        entry
        for entry in PORTFOLIO
        if task in entry.tasks
        and entry.model in allowed
        and (entry.max_rows is None or n_rows <= entry.max_rows)
        and n_rows >= entry.min_rows
        and categorical_share >= entry.min_categorical_share
    ]
