"""Shared fixtures: tiny datasets made on the fly, and run configurations around them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_autopilot.config import RunConfig
from ml_autopilot.state import ExperimentSpec, Preprocessing
from ml_autopilot.tracking.store_template import CACHE_ENV

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO.parent / "shared" / "datasets"
INJECTION = 'x"); import os; os.system("touch pwned") #'


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The suite's own cache (the MLflow store template): the user's stays untouched, and
    each test process, child processes included, shares one made by the first store."""
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(folder))
        yield folder


def make_classification_frame(n: int = 160, seed: int = 0) -> pd.DataFrame:
    """Three classes, a numeric signal, a categorical signal, missing values."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 3, n)
    frame = pd.DataFrame(
        {
            "signal": label * 2.0 + rng.normal(0, 0.7, n),
            "noise": rng.normal(0, 1, n),
            "colour": np.array(["red", "green", "blue"])[(label + rng.integers(0, 2, n)) % 3],
            "species": np.array(["Adelie", "Chinstrap", "Gentoo"])[label],
        }
    )
    frame.loc[rng.choice(n, 10, replace=False), "noise"] = np.nan
    frame.loc[rng.choice(n, 8, replace=False), "colour"] = np.nan
    return frame


def make_regression_frame(n: int = 200, seed: int = 1) -> pd.DataFrame:
    """A positive, right-skewed target driven by two features and a category."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(0, 1, n), rng.uniform(0, 3, n)
    group = rng.choice(["a", "b", "c"], n)
    y = np.exp(1.0 + 0.6 * x1 + 0.4 * x2 + (group == "b") * 0.5 + rng.normal(0, 0.2, n))
    frame = pd.DataFrame({"x1": x1, "x2": x2, "group": group, "price": y})
    frame.loc[rng.choice(n, 12, replace=False), "x2"] = np.nan
    return frame


@pytest.fixture
def classification_csv(tmp_path: Path) -> Path:
    path = tmp_path / "classes.csv"
    make_classification_frame().to_csv(path, index=False)
    return path


@pytest.fixture
def regression_csv(tmp_path: Path) -> Path:
    path = tmp_path / "prices.csv"
    make_regression_frame().to_csv(path, index=False)
    return path


def model_spec(
    model: str, params: dict[str, object], encoding: str = "ordinal", name: str | None = None
) -> ExperimentSpec:
    """A designed experiment for ``model`` with these parameters and categorical encoding."""
    return ExperimentSpec(
        name=name or model,
        model=model,
        params=params,
        preprocessing=Preprocessing(encoding=encoding),  # type: ignore[arg-type]
        hypothesis="h",
        reasoning="r",
    )


def forest_spec(model: str, trees: int, name: str | None = None) -> ExperimentSpec:
    """A random forest or extra-trees spec with ``trees`` trees, ordinal-encoded."""
    return model_spec(model, {"n_estimators": trees}, name=name or f"{model}_{trees}")


def run_config(data: Path, target: str, run_dir: Path, **overrides: object) -> RunConfig:
    """A small, fast configuration for end-to-end tests."""
    values: dict[str, object] = {
        "data_path": str(data),
        "target": target,
        "output_dir": str(run_dir),
        "max_iterations": 2,
        "time_budget": 240.0,
        "folds": 3,
        "n_threads": 1,
        "plateau": 10,
    }
    values.update(overrides)
    return RunConfig(**values)  # type: ignore[arg-type]


def autopilot_command(*args: str) -> list[str]:
    """The installed console command, run with this interpreter."""
    return [sys.executable, "-m", "ml_autopilot", *args]
