"""Profiling the training data: statistics, target summary, warnings and JSON safety."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_autopilot.data.profiling import profile_data
from ml_autopilot.state import DataProfile

PENGUINS = Path("/work/shared/datasets/penguins.csv")


def _clean_frame(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    group = rng.choice(["a", "b", "c"], size=n)
    noise = rng.normal(size=n)
    label = np.where(x + noise > 0, "yes", "no")
    return pd.DataFrame(
        {"x": x, "group": group, "age": rng.integers(18, 30, size=n), "label": label}
    )


def _kinds(profile: DataProfile) -> dict[str, set[str | None]]:
    found: dict[str, set[str | None]] = {}
    for w in profile.warnings:
        found.setdefault(w.kind, set()).add(w.column)
    return found


def test_clean_frame_has_no_warnings() -> None:
    profile = profile_data(_clean_frame(), "label", "classification")
    assert profile.warnings == []
    assert profile.excluded_columns == []
    assert profile.numeric_columns == ["x", "age"]
    assert profile.categorical_columns == ["group"]
    assert profile.n_rows == 300 and profile.n_columns == 4


def test_clean_regression_has_no_warnings() -> None:
    df = _clean_frame().drop(columns="label")
    df["y"] = 2 * df["x"] + np.random.default_rng(1).normal(size=len(df))
    profile = profile_data(df, "y", "regression")
    assert profile.warnings == []


def test_every_warning_kind_fires() -> None:
    n = 60
    rng = np.random.default_rng(0)
    label = np.array(["p", "q", "r"])[np.arange(n) % 3]
    mostly_missing = rng.normal(size=n)
    mostly_missing[: n // 2] = np.nan
    df = pd.DataFrame(
        {
            "customer_id": np.arange(1000, 1000 + n),
            "code": [f"c{i}" for i in range(n)],
            "always": ["same"] * n,
            "many_cats": [f"k{i % 55}" for i in range(n)],
            "sparse": mostly_missing,
            "leak": np.array(["P", "Q", "R"])[np.arange(n) % 3],
            "fine": rng.normal(size=n),
            "label": label,
        }
    )
    profile = profile_data(df, "label", "classification")
    kinds = _kinds(profile)
    assert kinds["small_data"] == {None}
    assert kinds["id_like"] == {"customer_id", "code"}
    assert kinds["constant"] == {"always"}
    assert kinds["high_cardinality"] == {"many_cats"}
    assert kinds["many_missing"] == {"sparse"}
    assert kinds["leakage"] == {"leak"}
    assert profile.excluded_columns == ["customer_id", "code", "always"]
    assert "customer_id" in profile.numeric_columns and "always" in profile.categorical_columns
    sparse = next(w for w in profile.warnings if w.kind == "many_missing")
    assert "'sparse'" in sparse.message and "50.0%" in sparse.message
    small = next(w for w in profile.warnings if w.kind == "small_data")
    assert "60" in small.message


def test_regression_leakage_and_float_never_id_like() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    df = pd.DataFrame({"copy": y * 3 + 1, "other": rng.normal(size=200), "y": y})
    profile = profile_data(df, "y", "regression")
    assert _kinds(profile) == {"leakage": {"copy"}}
    assert "1.000" in profile.warnings[0].message
    assert profile.excluded_columns == []


def test_leakage_bins_numeric_columns() -> None:
    rng = np.random.default_rng(0)
    score = rng.uniform(size=400)
    label = np.where(score > 0.5, "hi", "lo")
    df = pd.DataFrame({"score": score, "noise": rng.normal(size=400), "label": label})
    assert _kinds(profile_data(df, "label", "classification")) == {"leakage": {"score"}}


def test_leakage_groups_missing_values_together_and_survives_unhashable_values() -> None:
    from ml_autopilot.data.profiling import MISSING_GROUP, _leakage_groups

    df = pd.DataFrame({"colour": ["red", "blue"] * 20, "label": ["a", "b"] * 20})
    column = next(c for c in profile_data(df, "label", "classification").columns)
    groups = _leakage_groups(pd.Series([None, np.nan, pd.NA, "x", "x"], dtype=object), column)
    assert groups.tolist()[:3] == [MISSING_GROUP] * 3 and groups[3] == groups[4] != MISSING_GROUP
    listed = pd.Series([[1], [1], [2], None], dtype=object)  # lists in a Parquet column
    assert _leakage_groups(listed, column).tolist() == [0, 0, 1, MISSING_GROUP]


def test_no_leakage_when_target_is_imbalanced() -> None:
    n = 200
    label = np.where(np.arange(n) < 190, "a", "b")
    df = pd.DataFrame({"copy": label, "label": label})
    assert "leakage" not in _kinds(profile_data(df, "label", "classification"))


def test_named_id_needs_lower_ratio() -> None:
    n = 200
    values = np.arange(n)
    values[:16] = 0  # 185 unique of 200 = 0.925
    df = pd.DataFrame({"row_id": values, "row_num": values, "y": np.arange(n) % 2})
    assert _kinds(profile_data(df, "y", "classification")).get("id_like") == {"row_id"}


def test_column_and_target_stats() -> None:
    df = pd.DataFrame(
        {
            "num": [1.0, 2.0, 3.0, np.nan],
            "empty": [np.nan] * 4,
            "cat": ["a", "a", "b", None],
            "flag": [True, False, True, True],
            "y": [1.0, 2.0, 3.0, 10.0],
        }
    )
    profile = profile_data(df, "y", "regression")
    num = profile.column("num")
    assert num.kind == "numeric" and num.n_missing == 1 and num.pct_missing == 25.0
    assert num.numeric is not None and num.numeric.median == 2.0 and num.numeric.max == 3.0
    empty = profile.column("empty").numeric
    assert empty is not None and empty.mean is None and empty.std is None
    cat = profile.column("cat")
    assert cat.categorical is not None and cat.categorical.top_values[0].value == "a"
    assert cat.categorical.top_values[0].count == 2 and cat.n_unique == 2
    assert profile.column("flag").kind == "categorical"
    assert profile.target.mean == 4.0 and profile.target.max == 10.0
    assert profile.target.skew is not None and profile.target.skew > 0
    assert profile.pct_missing_cells == round(100 * 6 / 16, 2)


def test_profile_json_round_trips_without_nan() -> None:
    df = pd.DataFrame({"a": [np.nan, np.inf, 1.0], "b": [None, None, None], "y": [0, 1, 1]})
    profile = profile_data(df, "y", "classification")
    text = profile.model_dump_json()
    assert "NaN" not in text and "Infinity" not in text
    assert DataProfile.model_validate_json(text) == profile
    assert profile.target.class_counts == {"1": 2, "0": 1}
    assert profile.target.balance == 0.5


def test_penguins_profile() -> None:
    if not PENGUINS.is_file():
        pytest.skip("penguins dataset not available")
    df = pd.read_csv(PENGUINS)
    profile = profile_data(df, "species", "classification")
    assert profile.pct_missing_cells > 0
    assert profile.column("sex").n_missing > 0
    assert set(profile.categorical_columns) == {"island", "sex"}
    assert "bill_length_mm" in profile.numeric_columns
    assert set(profile.target.class_counts) == {"Adelie", "Chinstrap", "Gentoo"}
    assert profile.target.balance is not None and 0.3 < profile.target.balance < 1
    assert profile.excluded_columns == []
    assert DataProfile.model_validate_json(profile.model_dump_json()) == profile
