"""Render one standalone training script per experiment, with values only as safe literals.

The Jinja2 environment's ``finalize`` hook turns every ``{{ value }}`` into a Python literal
(the ``repr`` of a checked plain value: None, bool, int, finite float, str, and lists or dicts of
those). The only exception is ``TrustedCode``, which this module builds from catalog constants
(estimator import paths, template-owned arguments). Column names, category values, paths,
hypotheses and hyperparameters therefore can never become code. The rendered text is checked
with ``ast.parse`` before it is saved.
"""

from __future__ import annotations

import ast
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from jinja2 import Environment, PackageLoader, StrictUndefined

from ml_autopilot.catalog.models import CATALOG
from ml_autopilot.errors import ExperimentError
from ml_autopilot.state import DataInfo, DataProfile, ExperimentSpec
from ml_autopilot.timing import SPANS_FILE

TEMPLATE = "experiment.py.j2"
SCRIPT_HEADER = "ML Autopilot experiment"  # the template's first line: "... N: name (model)"
AST_RETRIES = 20
Mode = Literal["cv", "final", "refit", "refit_all"]
EARLY_STOPPING_PARAM = {
    "lightgbm": "n_estimators",
    "xgboost": "n_estimators",
    "catboost": "iterations",
}
EARLY_STOPPING_ROUNDS = 50
EARLY_STOPPING_FRACTION = 0.1
# Share of an experiment's time limit its CV folds may spend fitting (fold k must stop boosting
# k shares after the CV started); the rest is for loading and predicting. A fold that reaches its
# deadline keeps the rounds it has.
BOOSTING_TIME_SHARE = 0.7
MIN_FOLD_SECONDS = 1.0
# Forests grow their trees, and scikit-learn's histogram booster (which takes no callbacks) its
# rounds, in this many chunks (warm_start), so a fold can stop adding them before its deadline,
# as a booster with callbacks stops adding rounds. Without it, such a booster's folds ran until
# the experiment was killed (car at 60 s: two of them, 12.7 s each, nothing to show).
FOREST_MODELS = frozenset({"random_forest", "extra_trees"})
GROWN_SIZE_PARAM = {
    "random_forest": "n_estimators",
    "extra_trees": "n_estimators",
    "hist_gradient_boosting": "max_iter",
}
GROWTH_CHUNKS = 10
# A forest gains little from trees beyond the first hundred or so, so its time limit is at most
# this share of the whole budget (a booster may use all the time it is given: more rounds at a
# low learning rate keep paying). On adult at 300 s, extra trees would otherwise spend 155 s.
FOREST_BUDGET_SHARE = 0.25
# LightGBM's native categorical splits assume plenty of rows: a category needs 100 rows
# (min_data_per_group) and its statistics are smoothed by 10 (cat_smooth). On a table of a
# thousand rows that leaves most categories unsplittable (car: CV log loss 0.097 -> 0.070,
# credit-g: AUC 0.710 -> 0.744 with 5 and 1). Both scale with the rows up to the defaults.
LIGHTGBM_ROWS_PER_GROUP = 200  # min_data_per_group = rows / 200, between 5 and 100
LIGHTGBM_ROWS_PER_SMOOTH = 1000  # cat_smooth = rows / 1000, between 1 and 10
# Forests grow each tree until its leaves hold min_samples_leaf rows: with 1 (scikit-learn's
# default), 300 extra trees on diamonds' 32,000 rows pickled to 850 MB and the run's final folder
# to 4.4 GB, and saving, loading and logging the blend cost 20 s of a 300 s run. One more row a
# leaf per 10,000 rows: 3 there, a quarter of the size, half the fit time, +0.4% CV RMSE alone.
FOREST_ROWS_PER_LEAF = 10_000
# Parameters a script may ask the final refit to override: rounds found, or trees grown.
REFIT_SIZE_PARAMS = frozenset({*EARLY_STOPPING_PARAM.values(), *GROWN_SIZE_PARAM.values()})
SCRIPT_NAMES = {
    "cv": "experiment.py",
    "final": "final.py",
    "refit": "refit.py",
    "refit_all": "refit_all_rows.py",
}
# Modes whose script reads the holdout: "final" scores it once; "refit_all" trains on it, after
# the holdout score is final (same recipe, all rows, nothing decided from it).
HOLDOUT_MODES = frozenset({"final", "refit_all"})


class TrustedCode(str):
    """Source text built by this module from catalog constants; emitted verbatim."""


def parse_python(source: str) -> ast.Module:
    """``ast.parse`` that survives CPython 3.11's thread-unsafe AST conversion.

    When another thread builds Python AST objects at the same moment (some libraries do so at
    import time, e.g. in a background thread), 3.11 can raise ``SystemError: AST constructor
    recursion depth mismatch`` for perfectly valid source (python/cpython#106905); the race is
    transient, so the parse is retried.
    """
    for attempt in range(AST_RETRIES):
        try:
            return ast.parse(source)
        except SystemError:
            if attempt == AST_RETRIES - 1:
                raise
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")


def safe_literal(value: Any) -> str:
    """The Python literal for a plain value; anything else is refused."""
    _check_plain(value)
    text = repr(value)
    tree = parse_python(text)
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Expr):
        raise ExperimentError(f"{text[:40]} is not a single expression")
    ast.literal_eval(tree.body[0].value)  # only literals pass
    return text


def _check_plain(value: Any) -> None:
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ExperimentError(f"non-finite value {value!r} cannot become a literal")
        return
    if isinstance(value, list | tuple):
        for item in value:
            _check_plain(item)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ExperimentError(f"dict key {key!r} is not a string")
            _check_plain(item)
        return
    raise ExperimentError(f"{type(value).__name__} cannot become a literal")


def _finalize(value: Any) -> str:
    if isinstance(value, TrustedCode):
        return str(value)
    return safe_literal(value)


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("ml_autopilot.codegen", "templates"),
        undefined=StrictUndefined,
        finalize=_finalize,
        autoescape=False,
        keep_trailing_newline=True,
    )


_ENV = _environment()


@dataclass(frozen=True)
class RenderRequest:
    """Everything a script needs; built by the session from validated records only."""

    iteration: int
    spec: ExperimentSpec
    data: DataInfo
    profile: DataProfile
    folds: int
    seed: int
    n_threads: int
    output_dir: Path
    mode: Mode = "cv"
    params_override: dict[str, Any] | None = None
    time_limit: float | None = None  # the experiment's timeout; boosting folds stop before it
    time_budget: float | None = None  # the whole run's budget; caps a forest's time limit
    # per fold, the score beyond which CV stops (see ml_autopilot.pruning); None: every fold
    prune: dict[str, Any] | None = None


def feature_columns(profile: DataProfile, data: DataInfo) -> tuple[list[str], list[str]]:
    """Numeric and categorical columns that models see (excluded columns dropped)."""
    excluded = set(profile.excluded_columns)
    numeric = [c for c in profile.numeric_columns if c not in excluded and c != data.target]
    categorical = [c for c in profile.categorical_columns if c not in excluded and c != data.target]
    return numeric, categorical


def _estimator_import(spec: ExperimentSpec, data: DataInfo) -> TrustedCode:
    path = CATALOG[spec.model].estimator_path(data.task)
    module, _, name = path.rpartition(".")
    return TrustedCode(f"from {module} import {name} as Estimator")


def _owned_args(spec: ExperimentSpec) -> TrustedCode:
    owned = CATALOG[spec.model].owned
    return TrustedCode("".join(f", {name}={expr}" for name, expr in owned.items()))


def _data_defaults(spec: ExperimentSpec, data: DataInfo, categorical: list[str]) -> dict[str, Any]:
    """Defaults that depend on the table's size; a spec's own values override them."""
    rows = data.n_train
    if spec.model in FOREST_MODELS:
        return {"min_samples_leaf": max(1, rows // FOREST_ROWS_PER_LEAF)}
    if spec.model != "lightgbm" or spec.preprocessing.encoding != "native" or not categorical:
        return {}
    return {
        "min_data_per_group": int(min(100, max(5, rows // LIGHTGBM_ROWS_PER_GROUP))),
        "cat_smooth": float(min(10.0, max(1.0, rows / LIGHTGBM_ROWS_PER_SMOOTH))),
    }


def _early_stopping(request: RenderRequest) -> dict[str, Any] | None:
    """Early stopping on an inner split of each CV fold, for boosting libraries only.

    With a time limit, each fold also stops adding rounds once it has used its share of the
    limit, so a slow booster ends with a (smaller) valid model instead of being killed."""
    param = EARLY_STOPPING_PARAM.get(request.spec.model)
    if request.mode != "cv" or param is None:
        return None
    return {
        "param": param,
        "rounds": EARLY_STOPPING_ROUNDS,
        "fraction": EARLY_STOPPING_FRACTION,
        "fold_seconds": _fold_seconds(request.folds, request.time_limit),
    }


def _chunked_growth(request: RenderRequest) -> dict[str, Any] | None:
    """Time-limited growth in CV for forests (trees) and the histogram booster (rounds): added
    in chunks while the fold's share of the time limit allows another chunk; None without a
    time limit."""
    param = GROWN_SIZE_PARAM.get(request.spec.model)
    if request.mode != "cv" or param is None:
        return None
    limit = request.time_limit
    if request.spec.model in FOREST_MODELS and limit is not None and request.time_budget:
        limit = min(limit, FOREST_BUDGET_SHARE * request.time_budget)
    fold_seconds = _fold_seconds(request.folds, limit)
    if fold_seconds is None:
        return None
    return {"param": param, "chunks": GROWTH_CHUNKS, "fold_seconds": fold_seconds}


def _fold_seconds(folds: int, time_limit: float | None) -> float | None:
    """Each CV fold's share of the experiment's time limit (fold k ends k shares in)."""
    if time_limit is None or not math.isfinite(time_limit):
        return None
    share = time_limit * BOOSTING_TIME_SHARE / max(folds, 1)
    return round(max(share, MIN_FOLD_SECONDS), 3)


def render_script(request: RenderRequest) -> str:
    """Render, then parse, the script for one experiment."""
    spec, data = request.spec, request.data
    numeric, categorical = feature_columns(request.profile, data)
    script_name = SCRIPT_NAMES[request.mode]
    splitter = "StratifiedKFold" if data.task == "classification" else "KFold"
    context = {
        "iteration": request.iteration,
        "title": f"{spec.name} ({spec.model})",
        "script_name": script_name,
        "mode": request.mode,
        "name": spec.name,
        "model": spec.model,
        "hypothesis": spec.hypothesis,
        "train_path": data.train_path,
        "holdout_path": data.holdout_path if request.mode in HOLDOUT_MODES else None,
        "output_dir": str(request.output_dir),
        "target": data.target,
        "task": data.task,
        "classes": list(data.classes),
        "metric": data.metric.name,
        "numeric_columns": numeric,
        "categorical_columns": categorical,
        "folds": request.folds,
        "seed": request.seed,
        "n_threads": request.n_threads,
        "params": {
            **CATALOG[spec.model].defaults,
            **_data_defaults(spec, data, categorical),
            **spec.params,
            **(request.params_override or {}),
        },
        "early_stopping": _early_stopping(request),
        "growth": _chunked_growth(request),
        "prune": request.prune if request.mode == "cv" else None,
        "spans_file": SPANS_FILE,
        "preprocessing": spec.preprocessing.model_dump(),
        "estimator_import": _estimator_import(spec, data),
        "owned_args": _owned_args(spec),
        "splitter": TrustedCode(splitter),
    }
    source = _ENV.get_template(TEMPLATE).render(**context)
    try:
        parse_python(source)
    except SyntaxError as exc:  # a template bug, never data: fail loudly
        raise ExperimentError(f"generated script does not parse: {exc}") from exc
    return source


def renumbered_script(text: str, old: tuple[int, Path], new: tuple[int, Path]) -> str | None:
    """The text of an experiment script moved from experiment ``old`` = (number, folder) to
    ``new``: its header and its ``OUTPUT_DIR`` literal are the only lines that name either, so
    the script in its new folder reproduces the experiment there. None when the text is not
    what this template wrote."""
    edits = {
        f"{SCRIPT_HEADER} {safe_literal(old[0])}:": f"{SCRIPT_HEADER} {safe_literal(new[0])}:",
        f"\nOUTPUT_DIR = {safe_literal(str(old[1]))}\n": (
            f"\nOUTPUT_DIR = {safe_literal(str(new[1]))}\n"
        ),
    }
    if any(text.count(before) != 1 for before in edits):
        return None
    for before, after in edits.items():
        text = text.replace(before, after)
    parse_python(text)
    return text


def write_script(request: RenderRequest) -> Path:
    """Render the script into its experiment folder and return its path."""
    request.output_dir.mkdir(parents=True, exist_ok=True)
    path = request.output_dir / SCRIPT_NAMES[request.mode]
    path.write_text(render_script(request), encoding="utf-8")
    return path
