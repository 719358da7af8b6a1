"""The NumPy holdout split picks exactly the rows scikit-learn's ``train_test_split`` picks."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from ml_autopilot.data.splitting import SplitError, split_indices


def _labels(kind: str, n: int, rng: np.random.RandomState) -> np.ndarray:
    if kind == "strings":  # unbalanced, with tied class counts and a two-row class
        pool = np.array(["a"] * 7 + ["b"] * 7 + ["c"] * 3 + ["d"] * 1)
        labels = rng.choice(pool, size=n).astype(object)
        labels[:2] = "rare"
        return labels
    if kind == "ints":
        return rng.choice([0, 1, 1, 1, 2], size=n)
    return rng.choice([True, False, False], size=n)


@pytest.mark.parametrize("n_rows", [10, 37, 101, 1000])
@pytest.mark.parametrize("test_size", [0.1, 0.2, 0.25, 0.33])
@pytest.mark.parametrize("seed", [0, 7, 2024])
def test_unstratified_split_matches_scikit_learn(n_rows: int, test_size: float, seed: int) -> None:
    rows = np.arange(n_rows)
    train, test = train_test_split(rows, test_size=test_size, random_state=seed)
    ours_train, ours_test = split_indices(n_rows, test_size, seed)
    assert ours_train.tolist() == train.tolist() and ours_test.tolist() == test.tolist()


@pytest.mark.parametrize("kind", ["strings", "ints", "bools"])
@pytest.mark.parametrize("n_rows", [40, 97, 500])
@pytest.mark.parametrize("test_size", [0.2, 0.25, 0.3])
@pytest.mark.parametrize("seed", [0, 3, 99])
def test_stratified_split_matches_scikit_learn(
    kind: str, n_rows: int, test_size: float, seed: int
) -> None:
    y = _labels(kind, n_rows, np.random.RandomState(seed + n_rows))
    rows = np.arange(n_rows)
    train, test = train_test_split(rows, test_size=test_size, random_state=seed, stratify=y)
    ours_train, ours_test = split_indices(n_rows, test_size, seed, y)
    assert ours_train.tolist() == train.tolist() and ours_test.tolist() == test.tolist()


def test_a_class_with_one_row_cannot_be_stratified() -> None:
    y = np.array(["a", "a", "b", "b", "c"] * 4 + ["lonely"])
    with pytest.raises(SplitError, match="single row: \\['lonely'\\]"):
        split_indices(len(y), 0.2, 0, y)


def test_a_part_too_small_for_every_class_is_refused() -> None:
    y = np.array(list("abcdef") * 2)
    with pytest.raises(SplitError, match="cannot hold all 6 classes"):
        split_indices(len(y), 0.2, 0, y)


def test_an_empty_part_is_refused() -> None:
    with pytest.raises(SplitError, match="empty"):
        split_indices(1, 0.2, 0)
