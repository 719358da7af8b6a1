"""The seeded train/holdout split, row for row as scikit-learn's ``train_test_split`` makes it.

The split is the first thing a run does after reading the data, and importing
``sklearn.model_selection`` for it cost about 0.85 s (SciPy's statistics come with it) before
the first experiment could start. These few lines of NumPy reproduce ``train_test_split(...,
test_size, random_state=seed, stratify=y)``, ``ShuffleSplit`` and ``StratifiedShuffleSplit``
(scikit-learn 1.x, BSD-3-Clause), so the rows are the ones scikit-learn would pick; a test
compares the two on several tables and seeds.
"""

from __future__ import annotations

from math import ceil

import numpy as np


class SplitError(ValueError):
    """The rows cannot be split as asked (too few rows, or a class with a single row)."""


def split_indices(
    n_rows: int, test_size: float, seed: int, stratify: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of the train and the test part; ``stratify`` holds one label per row."""
    n_test = ceil(test_size * n_rows)
    n_train = n_rows - n_test
    if n_test < 1 or n_train < 1:
        raise SplitError(
            f"with test_size={test_size} the train or the test part of {n_rows} rows is empty"
        )
    rng = np.random.RandomState(seed)
    if stratify is None:
        permutation = rng.permutation(n_rows)
        return permutation[n_test : n_test + n_train], permutation[:n_test]
    return _stratified(np.asarray(stratify), n_train, n_test, rng)


def _stratified(
    y: np.ndarray, n_train: int, n_test: int, rng: np.random.RandomState
) -> tuple[np.ndarray, np.ndarray]:
    """``StratifiedShuffleSplit``'s first split."""
    classes, y_indices, class_counts = np.unique(y, return_inverse=True, return_counts=True)
    n_classes = len(classes)
    if class_counts.min() < 2:
        single = classes[class_counts < 2].tolist()
        raise SplitError(f"the least populated classes have a single row: {single}")
    if n_train < n_classes or n_test < n_classes:
        raise SplitError(
            f"a part of {min(n_train, n_test)} rows cannot hold all {n_classes} classes"
        )
    class_indices = np.split(np.argsort(y_indices, kind="mergesort"), np.cumsum(class_counts)[:-1])
    n_i = _approximate_mode(class_counts, n_train, rng)
    t_i = _approximate_mode(class_counts - n_i, n_test, rng)
    train: list[int] = []
    test: list[int] = []
    for i in range(n_classes):
        permutation = rng.permutation(class_counts[i])
        members = class_indices[i].take(permutation, mode="clip")
        train.extend(members[: n_i[i]])
        test.extend(members[n_i[i] : n_i[i] + t_i[i]])
    return rng.permutation(train), rng.permutation(test)


def _approximate_mode(
    class_counts: np.ndarray, n_draws: int, rng: np.random.RandomState
) -> np.ndarray:
    """Rows per class for ``n_draws`` draws: the proportional share, rounded down, then one
    more for the largest remainders (ties broken at random)."""
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (inds,) = np.where(remainder == value)
            add_now = min(len(inds), need_to_add)
            floored[rng.choice(inds, size=add_now, replace=False)] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(int)
