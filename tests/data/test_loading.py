"""Reading tables, checking targets, detecting the task, and the seeded holdout split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_autopilot.config import RunConfig
from ml_autopilot.data.loading import (
    _parquet_safe,
    check_target,
    detect_task,
    load_split,
    prepare_data,
    read_table,
)
from ml_autopilot.errors import UserError
from ml_autopilot.state import DataInfo


def _classification_frame(n: int = 100) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    label = np.where(np.arange(n) % 4 == 0, "rare", "common")
    x = rng.normal(size=n)
    x[::7] = np.nan
    city = np.array(["a", "b", "c"], dtype=object)[np.arange(n) % 3]
    city[::5] = None
    return pd.DataFrame({"x": x, "count": np.arange(n), "city": city, "label": label})


def _config(tmp_path: Path, data: Path, **kwargs: object) -> RunConfig:
    return RunConfig(data_path=str(data), output_dir=str(tmp_path / "out"), **kwargs)


def _write_csv(tmp_path: Path, df: pd.DataFrame, name: str = "data.csv") -> Path:
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


# --------------------------------------------------------------------------- read_table


def test_read_csv_empty_field_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,b,1\n1,x,2\n,y,3\n4,,5\n")
    df = read_table(path)
    assert list(df.columns) == ["a", "b", "1"]
    assert df["a"].isna().sum() == 1 and df["b"].isna().sum() == 1
    assert pd.api.types.is_float_dtype(df["a"])


def test_read_tsv(tmp_path: Path) -> None:
    path = tmp_path / "d.tsv"
    path.write_text("a\tb\n1\tx\n2\ty\n")
    assert read_table(path).shape == (2, 2)


def test_read_parquet_coerces_column_names(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    pd.DataFrame({"a": [1, 2], "b": ["x", None]}).to_parquet(path)
    df = read_table(path)
    assert df.shape == (2, 2)
    assert df["b"].isna().sum() == 1
    assert all(isinstance(c, str) for c in df.columns)


def test_read_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"Data file not found: .*nope\.csv"):
        read_table(tmp_path / "nope.csv")


def test_read_unsupported_suffix_lists_supported(tmp_path: Path) -> None:
    path = tmp_path / "d.xlsx"
    path.write_text("x")
    with pytest.raises(UserError, match=r"\.xlsx.*supported: .*\.csv.*\.parquet"):
        read_table(path)


@pytest.mark.parametrize(
    ("name", "content", "pattern"),
    [("e.csv", "", "is empty"), ("h.csv", "a,b\n", "no rows"), ("bad.parquet", "junk", "Parquet")],
)
def test_read_unreadable(tmp_path: Path, name: str, content: str, pattern: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(UserError, match=pattern) as info:
        read_table(path)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- check_target


def test_unknown_target_suggests_close_name() -> None:
    df = pd.DataFrame({"species": ["a", "b"], "island": [1, 2]})
    with pytest.raises(UserError, match="did you mean 'species'"):
        check_target(df, "specie")
    with pytest.raises(UserError, match="did you mean 'species'"):
        check_target(df, "Species")


def test_unknown_target_lists_columns() -> None:
    df = pd.DataFrame({f"col{i}": [1] for i in range(12)})
    with pytest.raises(UserError, match=r"Available columns: 'col0'.*'col9' \(and 2 more\)"):
        check_target(df, "zzzz")


def test_all_missing_target() -> None:
    df = pd.DataFrame({"x": [1, 2], "y": [np.nan, np.nan]})
    with pytest.raises(UserError, match="every row is missing"):
        check_target(df, "y")


def test_constant_target() -> None:
    df = pd.DataFrame({"x": [1, 2, 3], "y": ["a", "a", None]})
    with pytest.raises(UserError, match="constant"):
        check_target(df, "y")


def test_good_target_passes() -> None:
    check_target(pd.DataFrame({"y": [0, 1]}), "y")


# --------------------------------------------------------------------------- detect_task


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["a", "b"] * 50, "classification"),
        ([True, False] * 50, "classification"),
        (pd.Categorical(["x", "y"] * 50), "classification"),
        ([0, 1] * 5, "classification"),  # exactly two values, even on few rows
        ([0.0, 1.0, np.nan] * 5, "classification"),
        (list(range(5)) * 40, "classification"),  # 5 values <= 5% of 200 rows
        (list(range(5)) * 10, "regression"),  # 5 values > 5% of 50 rows
        (list(range(25)) * 100, "regression"),  # more than 20 values
        ([0.5, 1.5, 2.5] * 100, "regression"),  # not whole numbers
        (np.linspace(0, 1, 200), "regression"),
    ],
)
def test_detect_task(values: object, expected: str) -> None:
    assert detect_task(pd.Series(values)) == expected


# --------------------------------------------------------------------------- prepare_data


def test_prepare_data_split_is_stratified_and_sized(tmp_path: Path) -> None:
    data = _write_csv(tmp_path, _classification_frame(100))
    info, train = prepare_data(_config(tmp_path, data, target="label"), tmp_path / "run")
    assert info.task == "classification" and info.metric.name == "f1"
    assert (info.n_rows, info.n_train, info.n_holdout) == (100, 80, 20)
    assert info.classes == ["common", "rare"]
    assert info.feature_columns == ["x", "count", "city"]
    holdout = load_split(info, "holdout")
    assert holdout["label"].value_counts().to_dict() == {"common": 15, "rare": 5}
    assert train["label"].value_counts().to_dict() == {"common": 60, "rare": 20}
    assert len(info.source_sha256) == 64
    assert Path(info.train_path).is_file() and Path(info.holdout_path).is_file()
    DataInfo.model_validate_json(info.model_dump_json())


def test_prepare_data_is_seeded(tmp_path: Path) -> None:
    data = _write_csv(tmp_path, _classification_frame(60))
    run = lambda seed, name: prepare_data(  # noqa: E731
        _config(tmp_path, data, target="label", seed=seed), tmp_path / name
    )[1]["count"].tolist()
    assert run(1, "a") == run(1, "b")
    assert run(1, "a") != run(2, "c")


def test_split_round_trips_with_missing_values(tmp_path: Path) -> None:
    frame = _classification_frame(100)
    data = _write_csv(tmp_path, frame)
    info, train = prepare_data(_config(tmp_path, data, target="label"), tmp_path / "run")
    stored_train, holdout = load_split(info, "train"), load_split(info, "holdout")
    pd.testing.assert_frame_equal(stored_train, train)
    assert list(holdout.columns) == list(frame.columns)
    both = pd.concat([stored_train, holdout])
    assert both["x"].isna().sum() == frame["x"].isna().sum()
    assert both["city"].isna().sum() == frame["city"].isna().sum()
    assert pd.api.types.is_float_dtype(both["x"])
    assert pd.api.types.is_integer_dtype(both["count"])
    assert sorted(both["count"]) == list(range(100))


def test_regression_drops_missing_target_rows(tmp_path: Path, caplog) -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=50)
    y[:5] = np.nan
    data = _write_csv(tmp_path, pd.DataFrame({"x": rng.normal(size=50), "y": y}))
    with caplog.at_level("WARNING", logger="ml_autopilot.data"):
        info, train = prepare_data(_config(tmp_path, data, target="y"), tmp_path / "run")
    assert "Dropped 5 row(s)" in caplog.text
    assert info.task == "regression" and info.metric.name == "rmse" and info.classes == []
    assert info.n_rows == 45 and info.n_holdout == 9 and info.n_train == 36
    assert train["y"].notna().all()


def test_integer_labels_with_missing_become_ints(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": range(100), "y": [0.0, 1.0, 2.0, np.nan] * 25})
    data = _write_csv(tmp_path, frame)
    info, _ = prepare_data(_config(tmp_path, data, target="y"), tmp_path / "run")
    assert info.classes == [0, 1, 2]
    assert all(type(c) is int for c in info.classes)


def test_regression_needs_numeric_target(tmp_path: Path) -> None:
    data = _write_csv(tmp_path, pd.DataFrame({"x": range(10), "y": list("ab") * 5}))
    with pytest.raises(UserError, match="non-numeric"):
        prepare_data(_config(tmp_path, data, target="y", task="regression"), tmp_path / "r")


def test_single_row_class_is_rejected(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": range(21), "y": ["a"] * 10 + ["b"] * 10 + ["c"]})
    data = _write_csv(tmp_path, frame)
    with pytest.raises(UserError, match=r"class.*single row.*'c'"):
        prepare_data(_config(tmp_path, data, target="y"), tmp_path / "run")


def test_metric_must_fit_task(tmp_path: Path) -> None:
    data = _write_csv(tmp_path, _classification_frame(40))
    with pytest.raises(UserError, match="rmse"):
        prepare_data(_config(tmp_path, data, target="label", metric="rmse"), tmp_path / "run")


def test_mixed_type_object_column_survives(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"mixed": pd.Series([1, "two", 3.5, None, True] * 4, dtype=object), "y": [0, 1] * 10}
    )
    safe = _parquet_safe(frame)
    path = tmp_path / "m.parquet"
    safe.to_parquet(path)
    back = pd.read_parquet(path)
    assert back["mixed"].tolist()[:5] == ["1", "two", "3.5", None, "True"]
    assert back["mixed"].isna().sum() == 4
    assert back["y"].tolist() == frame["y"].tolist()


def test_text_columns_with_missing_values_are_left_as_they_are() -> None:
    frame = pd.DataFrame({"text": ["a", None, "b", float("nan")], "y": [0, 1, 0, 1]})
    assert _parquet_safe(frame) is frame  # nothing to convert: no copy either
    mixed = frame.assign(other=pd.Series(["a", 1, None, 2.5], dtype=object))
    safe = _parquet_safe(mixed)
    assert safe["other"].tolist()[:2] == ["a", "1"] and mixed["other"].tolist()[1] == 1
    assert safe["text"].tolist()[:3] == ["a", None, "b"]


def test_prepare_data_stores_mixed_columns(tmp_path: Path, monkeypatch) -> None:
    frame = pd.DataFrame(
        {"mixed": pd.Series([1, "two", None, 4] * 10, dtype=object), "y": [0, 1] * 20}
    )
    data = tmp_path / "d.csv"
    data.write_text("placeholder")
    monkeypatch.setattr("ml_autopilot.data.loading.read_table", lambda _path: frame.copy())
    info, _ = prepare_data(_config(tmp_path, data, target="y"), tmp_path / "run")
    both = pd.concat([load_split(info, "train"), load_split(info, "holdout")])
    assert both["mixed"].isna().sum() == 10
    assert set(both["mixed"].dropna()) == {"1", "two", "4"}


def test_load_split_missing(tmp_path: Path) -> None:
    data = _write_csv(tmp_path, _classification_frame(40))
    info, _ = prepare_data(_config(tmp_path, data, target="label"), tmp_path / "run")
    Path(info.holdout_path).unlink()
    with pytest.raises(UserError, match="holdout split is missing"):
        load_split(info, "holdout")


def test_penguins(tmp_path: Path) -> None:
    source = Path("/work/shared/datasets/penguins.csv")
    if not source.is_file():
        pytest.skip("penguins dataset not available")
    info, train = prepare_data(_config(tmp_path, source, target="species"), tmp_path / "run")
    assert info.classes == ["Adelie", "Chinstrap", "Gentoo"]
    assert info.n_train + info.n_holdout == info.n_rows == 344
    assert train.isna().any().any()


def test_too_small_for_stratified_holdout(tmp_path: Path) -> None:
    data = _write_csv(tmp_path, pd.DataFrame({"x": range(6), "y": list("aabbcc")}))
    with pytest.raises(UserError, match=r"Could not split 6 rows.*--holdout"):
        prepare_data(_config(tmp_path, data, target="y"), tmp_path / "run")
