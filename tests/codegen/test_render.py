"""Generated scripts: values reach them only as literals, and they parse and run."""

from __future__ import annotations

import ast
import json
import re
import runpy
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_autopilot.codegen.render import (
    SCRIPT_HEADER,
    RenderRequest,
    TrustedCode,
    render_script,
    renumbered_script,
    safe_literal,
)
from ml_autopilot.config import RunConfig
from ml_autopilot.data.loading import prepare_data
from ml_autopilot.data.profiling import profile_data
from ml_autopilot.errors import ExperimentError
from ml_autopilot.planning.base import baseline_spec
from ml_autopilot.predict import prepare_features
from ml_autopilot.state import ExperimentSpec, Preprocessing
from tests.conftest import (
    INJECTION,
    forest_spec,
    make_classification_frame,
    make_regression_frame,
    model_spec,
)


@pytest.fixture
def hostile_run(tmp_path: Path):
    """A dataset whose column names and category values are code-shaped strings."""
    frame = make_classification_frame(90)
    frame = frame.rename(columns={"signal": INJECTION, "colour": "c'''\n__import__('os')"})
    frame["c'''\n__import__('os')"] = frame["c'''\n__import__('os')"].map(
        {"red": INJECTION, "green": '"""; raise SystemExit', "blue": "{{ 7*7 }}"}
    )
    frame["species"] = frame["species"].map(
        {"Adelie": "A\"); os.system('touch pwned2')#", "Chinstrap": "{% raw %}", "Gentoo": "G"}
    )
    return prepared(frame, tmp_path)


def prepared(frame: pd.DataFrame, tmp_path: Path):
    """(data info, profile, run folder) of a classification table with target ``species``."""
    data = tmp_path / "data.csv"
    frame.to_csv(data, index=False)
    run_dir = tmp_path / "run"
    config = RunConfig(data_path=str(data), target="species", output_dir=str(run_dir), folds=3)
    info, train = prepare_data(config, run_dir)
    profile = profile_data(train, "species", "classification")
    return info, profile, run_dir


@pytest.mark.parametrize(
    "value", [None, True, 3, 2.5, "x\"'\n", [1, "a"], {"k": [1.0, None]}, INJECTION]
)
def test_safe_literal_round_trips(value):
    assert ast.literal_eval(safe_literal(value)) == value


@pytest.mark.parametrize("value", [float("nan"), float("inf"), object(), {1: "a"}, b"x", pd])
def test_safe_literal_refuses_everything_else(value):
    with pytest.raises(ExperimentError):
        safe_literal(value)


def test_trusted_code_cannot_come_from_a_spec(hostile_run):
    info, profile, run_dir = hostile_run
    spec = ExperimentSpec(
        name="x",
        model="lightgbm",
        params={"n_estimators": 10},
        hypothesis=TrustedCode("import os"),
        reasoning="r",
    )
    source = render_script(RenderRequest(0, spec, info, profile, 3, 0, 1, run_dir / "e"))
    # pydantic stores a plain str, so the hypothesis is rendered as a literal, not as code
    assert "HYPOTHESIS = 'import os'" in source


@pytest.mark.parametrize("encoding", ["onehot", "ordinal", "target", "native"])
def test_hostile_names_and_values_never_execute(hostile_run, encoding, tmp_path):
    info, profile, run_dir = hostile_run
    model = "lightgbm" if encoding == "native" else "random_forest"
    spec = ExperimentSpec(
        name="hostile",
        model=model,
        params={"n_estimators": 20},
        preprocessing=Preprocessing(encoding=encoding, imputation="median"),
        hypothesis=INJECTION,
        reasoning="{{ config }}",
    )
    workdir = run_dir / f"exp_{encoding}"
    workdir.mkdir(parents=True)
    script = workdir / "experiment.py"
    script.write_text(render_script(RenderRequest(1, spec, info, profile, 3, 0, 1, workdir)))
    tree = ast.parse(script.read_text())
    calls = {
        n.func.attr
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
    }
    assert "system" not in calls
    done = subprocess.run(
        [sys.executable, str(script)], cwd=workdir, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == "success"
    assert not any(p.name.startswith("pwned") for p in Path(workdir).rglob("*"))
    assert not (Path.cwd() / "pwned").exists()


def test_baseline_script_parses_and_names_its_estimator(hostile_run):
    info, profile, run_dir = hostile_run
    source = render_script(
        RenderRequest(0, baseline_spec("classification"), info, profile, 3, 0, 1, run_dir / "b")
    )
    assert "from sklearn.linear_model import LogisticRegression as Estimator" in source
    assert "StratifiedKFold(n_splits=FOLDS" in source


def test_a_renumbered_script_names_its_new_number_and_folder_and_nothing_else_changes(
    hostile_run,
):
    info, profile, run_dir = hostile_run
    old, new = run_dir / "experiments" / "002_tree", run_dir / "experiments" / "004_tree"
    request = RenderRequest(2, model_spec("decision_tree", {}), info, profile, 3, 0, 1, old)
    before = render_script(request)
    after = renumbered_script(before, (2, old), (4, new))
    assert after is not None
    assert after.splitlines()[0].startswith(f'"""{SCRIPT_HEADER} 4:')
    assert f"OUTPUT_DIR = {str(new)!r}" in after and str(old) not in after
    lines = zip(before.splitlines(), after.splitlines(), strict=True)
    assert len([pair for pair in lines if pair[0] != pair[1]]) == 2
    # a text this template did not write (here: one already renumbered) is refused
    assert renumbered_script(after, (2, old), (5, run_dir / "experiments" / "005_tree")) is None


def test_script_and_predict_prepare_features_identically(hostile_run):
    info, profile, run_dir = hostile_run
    source = render_script(
        RenderRequest(0, baseline_spec("classification"), info, profile, 3, 0, 1, run_dir / "b")
    )
    namespace: dict = {}
    exec(compile(source.replace('if __name__ == "__main__":', "if False:"), "s", "exec"), namespace)
    frame = pd.read_parquet(info.train_path)
    from_script = namespace["prepare_features"](frame)
    from_package = prepare_features(
        frame, namespace["NUMERIC_COLUMNS"], namespace["CATEGORICAL_COLUMNS"]
    )
    pd.testing.assert_frame_equal(from_script, from_package)


def test_script_and_package_score_identically(hostile_run):
    from ml_autopilot.catalog.scoring import score_all

    info, profile, run_dir = hostile_run
    source = render_script(
        RenderRequest(0, baseline_spec("classification"), info, profile, 3, 0, 1, run_dir / "b")
    )
    namespace: dict = {}
    exec(compile(source.replace('if __name__ == "__main__":', "if False:"), "s", "exec"), namespace)
    rng = np.random.default_rng(0)
    proba = rng.dirichlet([1, 1, 1], 50)
    truth = rng.integers(0, 3, 50)
    labels = proba.argmax(axis=1)
    assert namespace["score_all"](truth, labels, proba) == score_all(
        "classification", 3, truth, labels, proba
    )


@pytest.mark.parametrize("model", ["lightgbm", "xgboost", "catboost"])
def test_boosting_stops_at_its_share_of_the_time_limit(model, tmp_path):
    """A booster that cannot finish its rounds in time ends with a smaller, valid model."""
    size = "iterations" if model == "catboost" else "n_estimators"
    spec = ExperimentSpec(
        name="slow_booster",
        model=model,
        # a learning rate so small that early stopping never ends the 20,000 rounds
        params={size: 20_000, "learning_rate": 1e-4},
        preprocessing=Preprocessing(encoding="ordinal"),
        hypothesis="h",
        reasoning="r",
    )
    result = _run_cv_script(spec, tmp_path, time_limit=6.0)
    assert result["status"] == "success"
    assert result["time_limited_folds"] == 3
    assert all(0 < rounds < 20_000 for rounds in result["best_rounds"])
    # every fold stopped boosting by its deadline: 0.7 x 6 s over the three folds
    assert result["fit_time"] < 6.0


@pytest.mark.parametrize("model", ["lightgbm", "xgboost", "catboost"])
def test_a_fold_that_starts_past_its_deadline_keeps_one_round(model, tmp_path):
    """Folds that start after their deadline (earlier folds or data preparation overran) stop
    at the first round and keep it. XGBoost failed here: its deadline callback ran before early
    stopping had recorded any round, and `best_iteration` was undefined."""
    size = "iterations" if model == "catboost" else "n_estimators"
    spec = ExperimentSpec(
        name=f"late_{model}",
        model=model,
        params={size: 500, "learning_rate": 0.1},
        preprocessing=Preprocessing(encoding="ordinal"),
        hypothesis="h",
        reasoning="r",
    )

    def late(source: str) -> str:
        edited = re.sub(r"'fold_seconds': [0-9.]+", "'fold_seconds': -1.0", source)
        assert edited != source
        return edited

    result = _run_cv_script(spec, tmp_path, time_limit=60.0, edit=late)
    assert result["status"] == "success"
    assert result["time_limited_folds"] == 3
    assert result["best_rounds"] == [1, 1, 1]


def _run_cv_script(
    spec: ExperimentSpec,
    tmp_path: Path,
    time_limit: float,
    edit: Callable[[str], str] = lambda source: source,
    prune: dict | None = None,
) -> dict:
    """Render the spec's script for 3-fold CV on 3,000 rows (``edit`` may change the source),
    run it, and return its result."""
    info, profile, run_dir = prepared(make_classification_frame(3000, seed=1), tmp_path)
    workdir = run_dir / spec.name
    workdir.mkdir(parents=True)
    script = workdir / "experiment.py"
    request = RenderRequest(
        1, spec, info, profile, 3, 0, 1, workdir, time_limit=time_limit, prune=prune
    )
    script.write_text(edit(render_script(request)))
    done = subprocess.run(
        [sys.executable, str(script)], cwd=workdir, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("model", ["random_forest", "extra_trees"])
def test_forest_stops_growing_at_its_share_of_the_time_limit(model, tmp_path):
    """A forest too large for its time limit keeps the trees it grew and is refit with as many."""
    result = _run_cv_script(forest_spec(model, 20_000), tmp_path, time_limit=6.0)
    assert result["status"] == "success"
    assert result["time_limited_folds"] == 3
    trees = result["best_rounds"]
    assert len(trees) == 3 and all(0 < t < 20_000 for t in trees)
    assert result["refit_params"] == {"n_estimators": round(sum(trees) / 3)}
    assert result["fit_time"] < 6.0  # 0.7 x 6 s over the three folds, with a chunk's slack


def test_forest_with_time_to_spare_grows_every_tree(tmp_path):
    result = _run_cv_script(forest_spec("extra_trees", 40), tmp_path, time_limit=120.0)
    assert result["time_limited_folds"] == 0
    assert result["best_rounds"] == [40, 40, 40]
    assert result["refit_params"] == {}


def _histogram_booster(rounds: int, **params: object) -> ExperimentSpec:
    spec = model_spec("hist_gradient_boosting", {"max_iter": rounds, **params}, "native")
    return spec.model_copy(update={"name": f"hgb_{rounds}"})


def test_histogram_booster_stops_adding_rounds_at_its_share_of_the_time_limit(tmp_path):
    """It takes no callbacks, so it grows in chunks like a forest: killed at its timeout
    before, now it keeps the rounds it has and is refit with as many."""
    result = _run_cv_script(_histogram_booster(100_000), tmp_path, time_limit=6.0)
    assert result["status"] == "success"
    assert result["time_limited_folds"] == 3
    rounds = result["best_rounds"]
    assert len(rounds) == 3 and all(0 < r < 100_000 for r in rounds)
    assert result["refit_params"] == {"max_iter": round(sum(rounds) / 3)}


@pytest.mark.parametrize("own_stopping", [False, True])
def test_histogram_booster_with_time_to_spare_runs_its_rounds_or_stops_by_itself(
    own_stopping, tmp_path
):
    if own_stopping:  # its own early stopping ends the growth, not the plan
        spec = _histogram_booster(5_000, early_stopping=True, n_iter_no_change=5)
    else:
        spec = _histogram_booster(30)
    result = _run_cv_script(spec, tmp_path, time_limit=120.0)
    assert result["time_limited_folds"] == 0 and result["refit_params"] == {}
    if own_stopping:
        assert all(0 < r < 5_000 for r in result["best_rounds"])
    else:
        assert result["best_rounds"] == [30, 30, 30]


def _constant(source: str, name: str):
    line = next(line for line in source.splitlines() if line.startswith(f"{name} = "))
    return ast.literal_eval(line.split(" = ", 1)[1])


def test_a_forest_gets_at_most_a_quarter_of_the_budget_a_booster_all_its_limit(tmp_path):
    info, profile, run_dir = prepared(make_classification_frame(200), tmp_path)

    def render(spec: ExperimentSpec, budget: float | None) -> str:
        request = RenderRequest(
            1, spec, info, profile, 5, 0, 1, run_dir / "x", time_limit=100.0, time_budget=budget
        )
        return render_script(request)

    forest = render(forest_spec("extra_trees", 300), budget=60.0)
    assert _constant(forest, "CHUNKED_GROWTH")["fold_seconds"] == pytest.approx(60 * 0.25 * 0.7 / 5)
    uncapped = render(forest_spec("extra_trees", 300), budget=None)
    assert _constant(uncapped, "CHUNKED_GROWTH")["fold_seconds"] == pytest.approx(100 * 0.7 / 5)
    booster = ExperimentSpec(
        name="lgbm", model="lightgbm", params={}, hypothesis="h", reasoning="r"
    )
    early = _constant(render(booster, budget=60.0), "EARLY_STOPPING")
    assert early["fold_seconds"] == pytest.approx(100 * 0.7 / 5)


def test_catboost_regression_with_categories_refits_through_the_target_transform(tmp_path):
    """The final refit clones CatBoost inside TransformedTargetRegressor; its categorical
    positions must survive sklearn's clone (CatBoost >= 1.2.10 copies list parameters)."""
    data = tmp_path / "prices.csv"
    make_regression_frame(150).to_csv(data, index=False)
    run_dir = tmp_path / "run"
    config = RunConfig(data_path=str(data), target="price", output_dir=str(run_dir), folds=3)
    info, train = prepare_data(config, run_dir)
    profile = profile_data(train, "price", "regression")
    spec = ExperimentSpec(
        name="catboost_log",
        model="catboost",
        params={"iterations": 40, "depth": 3},
        preprocessing=Preprocessing(encoding="native", target_transform="log"),
        hypothesis="h",
        reasoning="r",
    )
    workdir = run_dir / "final"
    workdir.mkdir(parents=True)
    script = workdir / "final.py"
    request = RenderRequest(1, spec, info, profile, 3, 0, 1, workdir, mode="final")
    script.write_text(render_script(request))
    done = subprocess.run(
        [sys.executable, str(script)], cwd=workdir, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == "success", result
    assert result["holdout_metrics"]["rmse"] > 0


def test_lightgbm_category_splits_scale_with_the_rows(tmp_path):
    """Small tables get LightGBM categorical-split defaults they can use; a spec overrides."""
    info, profile, run_dir = prepared(make_classification_frame(1200), tmp_path)

    def params(spec: ExperimentSpec, n_train: int) -> dict:
        data = info.model_copy(update={"n_train": n_train})
        request = RenderRequest(1, spec, data, profile, 3, 0, 1, run_dir / "x")
        return _constant(render_script(request), "PARAMS")

    native = _lightgbm_native(50)
    for rows, expected in [(960, (5, 1.0)), (8000, (40, 8.0)), (50_000, (100, 10.0))]:
        chosen = params(native, rows)  # from 20,000 rows: LightGBM's own defaults
        assert (chosen["min_data_per_group"], chosen["cat_smooth"]) == expected
    own = native.model_copy(update={"params": {"n_estimators": 50, "cat_smooth": 3.0}})
    assert params(own, 960)["cat_smooth"] == 3.0
    ordinal = native.model_copy(update={"preprocessing": Preprocessing(encoding="ordinal")})
    assert "min_data_per_group" not in params(ordinal, 960)


@pytest.mark.parametrize("model", ["random_forest", "extra_trees"])
def test_forest_leaves_grow_with_the_rows(model, tmp_path):
    """Forests keep one more row a leaf per 10,000 search rows (full-depth trees on large
    tables made gigabyte models); a spec's own min_samples_leaf wins."""
    info, profile, run_dir = prepared(make_classification_frame(120), tmp_path)

    def leaf(spec: ExperimentSpec, n_train: int) -> int:
        data = info.model_copy(update={"n_train": n_train})
        request = RenderRequest(1, spec, data, profile, 3, 0, 1, run_dir / "x")
        return _constant(render_script(request), "PARAMS")["min_samples_leaf"]

    forest = model_spec(model, {"n_estimators": 50})
    assert [leaf(forest, rows) for rows in (96, 9_999, 10_000, 32_364, 400_000)] == [
        1,
        1,
        1,
        3,
        40,
    ]
    own = forest.model_copy(update={"params": {"n_estimators": 50, "min_samples_leaf": 1}})
    assert leaf(own, 32_364) == 1


def test_lightgbm_runs_with_the_small_table_category_defaults(tmp_path):
    result = _run_cv_script(_lightgbm_native(60), tmp_path, time_limit=60.0)
    assert result["status"] == "success" and result["cv_score"] > 0.5


def _lightgbm_native(trees: int) -> ExperimentSpec:
    return model_spec("lightgbm", {"n_estimators": trees}, "native", name="lgbm_native")


@pytest.mark.parametrize("scaling", ["standard", "none"])
def test_constant_imputation_fills_after_scaling_and_flags_missing(scaling, tmp_path):
    """Constant imputation: an indicator column, and the fill lands at the scaled column's
    mean (0) rather than at 0 in raw units, far outside a column such as a body mass."""
    info, profile, _ = prepared(make_classification_frame(90), tmp_path)
    spec = model_spec("logistic_regression", {"C": 30.0}).model_copy(
        update={"preprocessing": Preprocessing(imputation="constant", scaling=scaling)}
    )
    script = tmp_path / "experiment.py"
    script.write_text(render_script(RenderRequest(1, spec, info, profile, 3, 0, 1, tmp_path)))
    steps = runpy.run_path(str(script), run_name="not_main")["numeric_steps"]()

    column = np.array([[4000.0], [4400.0], [np.nan], [3600.0]])  # grams, one missing
    out = steps.fit_transform(column)

    assert out.shape == (4, 2)  # the value and its missing indicator
    np.testing.assert_array_equal(out[:, 1], [0.0, 0.0, 1.0, 0.0])
    assert out[2, 0] == 0.0
    if scaling == "standard":  # 0 is the mean of the scaled column
        np.testing.assert_allclose(out[[0, 1, 3], 0].mean(), 0.0, atol=1e-12)


def test_a_fold_beyond_its_prune_limit_stops_the_cv(tmp_path):
    """The folds' macro F1 cannot reach 2: the CV stops after its first fold and says why."""
    prune = {"limits": [2.0, 2.0, 2.0], "maximize": True, "reference": "best_so_far"}
    result = _run_cv_script(forest_spec("extra_trees", 20), tmp_path, 60.0, prune=prune)
    assert result["status"] == "pruned"
    assert len(result["fold_scores"]) == 1 and 0 <= result["fold_scores"][0] <= 1
    assert "cv_score" not in result
    assert result["error"].startswith("pruned after fold 1 of 3: f1")
    assert "best_so_far" in result["error"]
    assert len(result["model_spans"]) == 1  # one fold's fit and predict, still accounted for
    assert not (tmp_path / "run" / "extra_trees_20" / "oof.npy").exists()


def test_folds_cut_short_by_the_clock_are_never_pruned(tmp_path):
    """Every fold reaches its share of the time limit: its score says little about the
    configuration, so limits no fold can meet do not stop the CV."""
    prune = {"limits": [2.0, 2.0, 2.0], "maximize": True, "reference": "best_so_far"}
    result = _run_cv_script(forest_spec("extra_trees", 20_000), tmp_path, 6.0, prune=prune)
    assert result["status"] == "success"
    assert result["time_limited_folds"] == 3 and len(result["fold_scores"]) == 3


def test_folds_within_their_prune_limits_run_to_the_end(tmp_path):
    """Limits every fold meets, and a last fold that is never pruned: a full CV."""
    prune = {"limits": [-1.0, -1.0, 2.0], "maximize": True, "reference": "best_so_far"}
    result = _run_cv_script(forest_spec("extra_trees", 20), tmp_path, 60.0, prune=prune)
    assert result["status"] == "success"
    assert len(result["fold_scores"]) == 3


def test_iterative_imputation_fills_a_row_from_what_is_known_about_it(tmp_path):
    """A row missing every number gets numbers typical of its category, not the table's
    medians (the penguins case: every measurement missing, the island known)."""
    rng = np.random.default_rng(0)
    island = np.array(["Biscoe", "Dream"])[rng.integers(0, 2, 200)]
    mass = np.where(island == "Biscoe", 5000.0, 3500.0) + rng.normal(0, 100, 200)
    flipper = np.where(island == "Biscoe", 217.0, 190.0) + rng.normal(0, 6, 200)
    frame = pd.DataFrame({"island": island, "mass": mass, "flipper": flipper})
    frame["species"] = np.where(island == "Biscoe", "Gentoo", "Adelie")
    frame.loc[[3, 7], ["mass", "flipper"]] = np.nan
    info, profile, _ = prepared(frame, tmp_path)
    spec = model_spec("logistic_regression", {"C": 1.0}, "onehot").model_copy(
        update={"preprocessing": Preprocessing(imputation="iterative", encoding="onehot")}
    )
    script = tmp_path / "experiment.py"
    script.write_text(render_script(RenderRequest(1, spec, info, profile, 3, 0, 1, tmp_path)))
    namespace = runpy.run_path(str(script), run_name="not_main")
    prep = namespace["build_preprocessor"]()
    features = namespace["prepare_features"](frame.drop(columns="species"))
    prep.fit(features)

    unknown = pd.DataFrame({"island": ["Biscoe", "Dream"], "mass": [np.nan] * 2})
    unknown["flipper"] = np.nan
    filled = prep.transform(namespace["prepare_features"](unknown))
    mass_column = namespace["NUMERIC_COLUMNS"].index("mass")
    scaled_mass = filled[:, mass_column]
    assert scaled_mass[0] > 0.5 and scaled_mass[1] < -0.5  # heavy on Biscoe, light on Dream


@pytest.mark.parametrize(
    "model, encoding", [("lightgbm", "native"), ("hist_gradient_boosting", "native"),
                        ("logistic_regression", "target")]
)
def test_iterative_imputation_runs_a_whole_cv(model, encoding, tmp_path):
    params = {"n_estimators": 30} if model == "lightgbm" else {}
    spec = model_spec(model, params, encoding).model_copy(
        update={"preprocessing": Preprocessing(imputation="iterative", encoding=encoding)}
    )
    result = _run_cv_script(spec, tmp_path, time_limit=60.0)
    assert result["status"] == "success" and result["cv_score"] > 0.5
