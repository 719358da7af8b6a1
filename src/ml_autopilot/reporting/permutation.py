"""Permutation importance with the predictions batched, and what it costs.

The measure is scikit-learn's ``permutation_importance``: for each column and repeat, how much
the score drops when that column's values are shuffled across the rows. scikit-learn predicts
once per column and repeat; a saved pipeline (preprocessing, often a blend of several models)
has a fixed cost per call that dominates on a few hundred rows (88 ms a call for cpu_act's
blend of six models, 22 calls for 21 columns and one repeat). Here the shuffled copies are
stacked and predicted in as few calls as ``BATCH_ROWS`` allows, then each copy is scored with
the same scorer as before.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

Scorer = Callable[[Any, pd.DataFrame, np.ndarray], float]
BATCH_ROWS = 50_000  # rows predicted in one call (memory: a copy of the sample per block)
LARGE_FACTOR = 4  # the cost per row is measured between n and LARGE_FACTOR * n rows


class _Answers:
    """One predict call over a stacked batch, made on first use; blocks of it replayed."""

    def __init__(self, model: Any, batch: pd.DataFrame) -> None:
        self.model, self.batch = model, batch
        self._made: dict[str, np.ndarray] = {}

    def get(self, method: str) -> np.ndarray:
        if method not in self._made:
            self._made[method] = np.asarray(getattr(self.model, method)(self.batch))
        return self._made[method]


class _Block:
    """A fitted model as a scorer sees it, answering with rows ``[start, stop)`` of a batch."""

    def __init__(self, answers: _Answers, start: int, stop: int) -> None:
        self.answers, self.start, self.stop = answers, start, stop
        self.classes_ = getattr(answers.model, "classes_", None)

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        return self.answers.get("predict")[self.start : self.stop]

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        return self.answers.get("predict_proba")[self.start : self.stop]


def permutation_drops(
    model: Any,
    scorer: Scorer,
    features: pd.DataFrame,
    target: np.ndarray,
    repeats: int,
    seed: int,
    batch_rows: int = BATCH_ROWS,
) -> np.ndarray:
    """Score drop per column (rows) and repeat (columns): baseline score minus the score with
    that column shuffled. ``scorer`` is greater-is-better, so a positive drop means the column
    mattered."""
    rng = np.random.default_rng(seed)
    n_rows = len(features)
    baseline = scorer(model, features, target)
    jobs = [(column, repeat) for column in range(features.shape[1]) for repeat in range(repeats)]
    drops = np.zeros((features.shape[1], repeats))
    per_call = max(1, batch_rows // max(n_rows, 1))
    for first in range(0, len(jobs), per_call):
        chunk = jobs[first : first + per_call]
        copies = []
        for column, _ in chunk:
            copy = features.copy()
            name = features.columns[column]
            copy[name] = features[name].to_numpy()[rng.permutation(n_rows)]
            copies.append(copy)
        answers = _Answers(model, pd.concat(copies, ignore_index=True))
        for index, (column, repeat) in enumerate(chunk):
            block = _Block(answers, index * n_rows, (index + 1) * n_rows)
            drops[column, repeat] = baseline - scorer(block, features, target)
    return drops


@dataclass(frozen=True)
class CallCost:
    """Seconds of one scoring call: a fixed part and a part per predicted row."""

    fixed: float
    per_row: float

    def seconds(self, rows: int, columns: int, repeats: int, batch_rows: int = BATCH_ROWS) -> float:
        """Estimated seconds of ``permutation_drops`` (its baseline call included)."""
        copies = columns * repeats
        calls = 1 + math.ceil(copies / max(1, batch_rows // max(rows, 1)))
        return calls * self.fixed + rows * (1 + copies) * self.per_row


def measure_cost(
    predict: Callable[[pd.DataFrame], Any], features: pd.DataFrame, small: int
) -> CallCost:
    """Time ``predict`` on the first ``small`` rows and on up to ``LARGE_FACTOR`` times as
    many; the difference gives the cost per row, the rest is fixed (with one size, all of it
    counts as fixed). The larger call stays small: for a slow model it costs as much as a
    share of the computation it plans."""
    small = max(1, min(small, len(features)))
    large = min(len(features), LARGE_FACTOR * small)
    first = _timed(predict, features.iloc[:small])
    if small == large:
        return CallCost(fixed=first, per_row=0.0)
    second = _timed(predict, features.iloc[:large])
    per_row = max(second - first, 0.0) / (large - small)
    return CallCost(fixed=max(first - small * per_row, 0.0), per_row=per_row)


def _timed(predict: Callable[[pd.DataFrame], Any], features: pd.DataFrame) -> float:
    started = time.perf_counter()
    predict(features)
    return time.perf_counter() - started
