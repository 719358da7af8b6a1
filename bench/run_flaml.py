"""Run FLAML AutoML under the benchmark contract of ../shared/BENCHMARK.md.

Same command-line contract as the autopilot, in one command (fit and predict):

    bench/.venv/bin/python bench/run_flaml.py train.csv --target T \\
        --task classification|regression --metric roc_auc|log_loss|rmse \\
        --time-budget S --out preds.csv --test test_X.csv

FLAML gets ``time_budget = S`` minus this script's own overhead (start-up, CSV loading and a
reserve for predicting and writing), so that the whole command stays within the benchmark's
limit of 1.1 x S + 15 s. It uses 2 cores (``n_jobs=2``). String columns are handed to FLAML as
pandas ``category`` columns with the categories seen in training.

The prediction file has a ``prediction`` column and, for classification, one probability column
per class named exactly as the class label appears in the data; each row sums to 1.
"""

from __future__ import annotations

import time

START = time.monotonic()

import argparse  # noqa: E402  (START must be taken before the imports it measures)
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from flaml import AutoML  # noqa: E402

METRICS = {"roc_auc": "roc_auc", "log_loss": "log_loss", "rmse": "rmse"}
N_JOBS = 2
PREDICT_RESERVE_S = 2.0
MIN_BUDGET_S = 1.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the autopilot-like command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("train", type=Path, help="training CSV (features and target)")
    parser.add_argument("--target", required=True, help="target column")
    parser.add_argument("--task", required=True, choices=["classification", "regression"])
    parser.add_argument("--metric", required=True, choices=sorted(METRICS))
    parser.add_argument("--time-budget", type=float, required=True, help="seconds, whole command")
    parser.add_argument("--out", type=Path, required=True, help="prediction CSV to write")
    parser.add_argument("--test", type=Path, required=True, help="test features CSV")
    parser.add_argument("--seed", type=int, default=None, help="FLAML seed (default: FLAML's)")
    return parser.parse_args(argv)


def load(train_path: Path, test_path: Path, target: str, task: str) -> tuple:
    """Load train and test; class labels are read as text, exactly as they appear in the file."""
    dtype = {target: str} if task == "classification" else None
    train = pd.read_csv(train_path, dtype=dtype)
    test = pd.read_csv(test_path)
    y = train.pop(target)
    return categorical(train, test), y


def categorical(train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Turn string columns into pandas categories, with the categories seen in training.

    A test value never seen in training becomes missing, which FLAML handles like any other.
    """
    train, test = train.copy(), test[train.columns].copy()
    for column in train.columns:
        if pd.api.types.is_numeric_dtype(train[column]) or pd.api.types.is_bool_dtype(
            train[column]
        ):
            continue
        train[column] = train[column].astype("category")
        categories = train[column].cat.categories
        seen = test[column].where(test[column].isin(categories))  # unseen -> missing
        test[column] = pd.Categorical(seen, categories=categories)
    return train, test


def flaml_budget(total: float, elapsed: float) -> float:
    """Seconds left for FLAML's search once start-up, loading and the predict reserve are paid."""
    return max(MIN_BUDGET_S, total - elapsed - PREDICT_RESERVE_S)


def fit(x: pd.DataFrame, y: pd.Series, args: argparse.Namespace, budget: float) -> AutoML:
    """Fit FLAML AutoML with the mapped metric on 2 cores."""
    automl = AutoML()
    settings = {
        "task": args.task,
        "metric": METRICS[args.metric],
        "time_budget": budget,
        "n_jobs": N_JOBS,
        "verbose": 0,
    }
    if args.seed is not None:
        settings["seed"] = args.seed
    automl.fit(X_train=x, y_train=y, **settings)
    return automl


def predictions(automl: AutoML, x_test: pd.DataFrame, task: str) -> pd.DataFrame:
    """The prediction frame of BENCHMARK.md: ``prediction`` plus one column per class."""
    if task == "regression":
        return pd.DataFrame({"prediction": np.asarray(automl.predict(x_test), dtype=float)})
    proba = np.clip(np.asarray(automl.predict_proba(x_test), dtype=float), 0.0, None)
    proba = proba / proba.sum(axis=1, keepdims=True)
    labels = [str(c) for c in automl.classes_]
    frame = pd.DataFrame(proba, columns=labels)
    frame.insert(0, "prediction", [labels[i] for i in proba.argmax(axis=1)])
    return frame


def main(argv: list[str] | None = None) -> int:
    """Load, fit within the budget, predict and write the prediction file."""
    args = parse_args(argv)
    (x_train, x_test), y = load(args.train, args.test, args.target, args.task)
    budget = flaml_budget(args.time_budget, time.monotonic() - START)
    automl = fit(x_train, y, args, budget)
    if automl.model is None:
        print(f"FLAML found no model within {budget:.1f} s", file=sys.stderr)
        return 1
    frame = predictions(automl, x_test, args.task)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out, index=False)
    print(
        f"flaml: best {automl.best_estimator} ({args.metric} loss {automl.best_loss:.6g}), "
        f"search budget {budget:.1f} s, total {time.monotonic() - START:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
