"""The offline planner: portfolio first, then Optuna, steered by rules, always valid."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ml_autopilot.catalog.models import CATALOG
from ml_autopilot.catalog.validation import validate_spec
from ml_autopilot.data.profiling import profile_data
from ml_autopilot.planning.base import PlanningContext, baseline_spec
from ml_autopilot.planning.optimizer import OptimizerPlanner
from ml_autopilot.planning.rules import ITERATIVE_MAX_ROWS, encoding_choices
from ml_autopilot.state import (
    Constraints,
    ExperimentRecord,
    ExperimentResult,
    ExperimentSpec,
    MetricInfo,
)
from tests.conftest import make_classification_frame, make_regression_frame

F1 = MetricInfo(name="f1", direction="maximize")
RMSE = MetricInfo(name="rmse", direction="minimize")


def context(task="classification", constraints=None, history=None, frame=None):
    if frame is None:
        frame = make_classification_frame() if task == "classification" else make_regression_frame()
    target = "species" if task == "classification" else "price"
    return PlanningContext(
        task=task,
        metric=F1 if task == "classification" else RMSE,
        profile=profile_data(frame, target, task),
        constraints=constraints or Constraints(),
        history=history or [],
    )


def record(iteration: int, spec: ExperimentSpec, score: float | None, duration=1.0):
    status = "success" if score is not None else "failed"
    return ExperimentRecord(
        iteration=iteration,
        spec=spec,
        result=ExperimentResult(
            status=status,
            cv_score=score,
            cv_std=0.01,
            duration=duration,
            fit_time=duration / 2,
            error=None if score else "boom",
        ),
        started_at="t",
        finished_at="t",
    )


def drive(planner, ctx, steps, score_of):
    """Ask/tell loop with a synthetic objective; returns the proposed specs."""
    specs = []
    history = list(ctx.history)
    for _ in range(steps):
        ctx.history = history
        ctx.hypothesis = planner.hypothesise(ctx).top
        spec = planner.propose(ctx)
        assert spec is not None
        specs.append(spec)
        rec = record(len(history), spec, score_of(spec))
        history.append(rec)
        planner.observe(rec)
    ctx.history = history
    return specs


def test_portfolio_comes_first_then_optuna():
    ctx = context()
    base = record(0, baseline_spec("classification"), 0.7)
    ctx.history = [base]
    planner = OptimizerPlanner(ctx, seed=0)
    planner.observe(base)
    specs = drive(planner, ctx, 12, lambda s: 0.8)
    sources = [s.source for s in specs]
    assert sources[0] == "portfolio" and specs[0].model == "lightgbm"
    first_optuna = sources.index("optuna")
    assert all(s == "portfolio" for s in sources[:first_optuna])
    assert "optuna" in sources[first_optuna:]
    assert len({s.name for s in specs}) == len(specs)


def test_every_proposal_passes_validation_in_both_tasks():
    rng = np.random.default_rng(0)
    for task in ("classification", "regression"):
        ctx = context(task)
        planner = OptimizerPlanner(ctx, seed=1)
        specs = drive(planner, ctx, 25, lambda s: float(rng.uniform(0.5, 0.9)))
        for spec in specs:
            assert validate_spec(spec, task, ctx.profile).spec.model == spec.model
            assert spec.hypothesis and spec.reasoning


def test_hypotheses_are_ranked_with_confidence_and_top_feeds_design():
    ctx = context()
    planner = OptimizerPlanner(ctx, seed=0)
    hypotheses = planner.hypothesise(ctx).hypotheses
    assert 2 <= len(hypotheses) <= 3
    assert [h.rank for h in hypotheses] == list(range(1, len(hypotheses) + 1))
    assert all(0 <= h.confidence <= 1 for h in hypotheses)
    assert hypotheses == sorted(hypotheses, key=lambda h: -h.confidence)
    ctx.hypothesis = hypotheses[1]
    assert planner.propose(ctx).hypothesis == hypotheses[1].statement


def test_avoided_models_are_never_proposed_and_preferred_come_first():
    constraints = Constraints(avoided_models=["lightgbm", "xgboost"], preferred_models=["svc"])
    ctx = context(constraints=constraints)
    planner = OptimizerPlanner(ctx, seed=0)
    specs = drive(planner, ctx, 15, lambda s: 0.8)
    models = [s.model for s in specs]
    assert models[0] == "svc"
    assert "lightgbm" not in models and "xgboost" not in models


def test_skewed_positive_target_leads_to_a_log_transform_hypothesis():
    ctx = context("regression")
    planner = OptimizerPlanner(ctx, seed=0)
    assert planner.traits.log_target_candidate
    specs = drive(planner, ctx, 10, lambda s: 1.0 if s.model == "lightgbm" else 2.0)
    logged = [s for s in specs if s.source == "rule"]
    assert logged and logged[0].preprocessing.target_transform == "log"
    assert "log" in logged[0].hypothesis


def test_native_missing_and_categorical_handling_chosen_for_boosters():
    """On a table too large for iterative imputation by default."""
    rows = max(CATALOG["lightgbm"].native_categorical_min_rows, ITERATIVE_MAX_ROWS + 1)
    ctx = context(frame=make_classification_frame(n=rows))
    planner = OptimizerPlanner(ctx, seed=0)
    spec = planner.propose(ctx)
    assert spec.model == "lightgbm"
    assert spec.preprocessing.imputation == "none"
    assert spec.preprocessing.encoding == "native"
    assert _catboost_encoding(planner, ctx) == "native"


def _catboost_encoding(planner: OptimizerPlanner, ctx: PlanningContext) -> str:
    """The encoding the planner gives its CatBoost portfolio entry."""
    entry = next(e for e in planner.portfolio if e.model == "catboost")
    spec = planner._realise({"kind": "portfolio", "entry": entry.name}, "s", ctx)
    return spec.preprocessing.encoding


def test_lightgbm_gets_ordinal_codes_on_small_tables_and_keeps_the_other_encodings():
    ctx = context()  # 160 rows
    planner = OptimizerPlanner(ctx, seed=0)
    spec = planner.propose(ctx)
    assert spec.model == "lightgbm"
    assert spec.preprocessing.encoding == "ordinal"
    choices = encoding_choices("lightgbm", planner.traits)
    assert choices[0] == "ordinal" and "native" in choices and "onehot" in choices
    assert _catboost_encoding(planner, ctx) == "native"


def _after_xgboost_leads(ctx: PlanningContext) -> tuple[OptimizerPlanner, ExperimentSpec]:
    """A planner whose best model so far is XGBoost on one-hot codes."""
    planner = OptimizerPlanner(ctx, seed=0)
    lgb = planner.propose(ctx)
    entry = next(e for e in planner.portfolio if e.model == "xgboost")
    xgb = planner._realise({"kind": "portfolio", "entry": entry.name}, "s", ctx)
    assert lgb is not None and xgb is not None and xgb.preprocessing.encoding == "onehot"
    history = [record(0, baseline_spec("classification"), 0.6), record(1, lgb, 0.7)]
    history.append(record(2, xgb, 0.8))
    for rec in history:
        planner.observe(rec)
    ctx.history = history
    return planner, xgb


def mostly_categorical_frame():
    frame = make_classification_frame()
    frame.insert(0, "shape", np.where(frame["signal"] > 2, "round", "square"))
    return frame  # 2 of 4 features categorical


def test_the_best_tree_model_is_tried_once_with_the_other_encoding():
    ctx = context(frame=mostly_categorical_frame())
    planner, xgb = _after_xgboost_leads(ctx)
    swaps = [
        c for c in planner._candidates(ctx) if c.action.get("direction") == "categorical encoding"
    ]
    assert [c.action["name"] for c in swaps] == [f"{xgb.name}_ordinal"]
    spec = planner._realise(swaps[0].action, swaps[0].statement, ctx)
    assert spec is not None and spec.model == "xgboost" and spec.params == xgb.params
    assert spec.preprocessing == xgb.preprocessing.model_copy(update={"encoding": "ordinal"})
    validate_spec(spec, "classification", ctx.profile)
    # once tried, and even when the swap leads, no swap back
    ctx.history.append(record(3, spec, 0.9))
    planner.observe(ctx.history[-1])
    names = [c.action.get("name") for c in planner._candidates(ctx)]
    assert not any(str(n).endswith(("_ordinal", "_onehot")) for n in names)


@pytest.mark.parametrize("case", ["mostly numeric", "encoding fixed"])
def test_no_encoding_swap_on_mostly_numeric_tables_or_against_the_constraints(case: str) -> None:
    if case == "mostly numeric":
        ctx = context()  # 1 of 3 features categorical
    else:
        fixed = Constraints(preprocessing={"encoding": "onehot"})
        ctx = context(constraints=fixed, frame=mostly_categorical_frame())
    planner, _ = _after_xgboost_leads(ctx)
    directions = [c.action.get("direction") for c in planner._candidates(ctx)]
    assert "categorical encoding" not in directions


def test_failures_are_told_and_search_goes_on():
    ctx = context()
    planner = OptimizerPlanner(ctx, seed=0)
    specs = drive(planner, ctx, 14, lambda s: None if s.source == "optuna" else 0.8)
    failed = [t for t in planner.study.trials if t.state.name == "FAIL"]
    assert failed and len(specs) == 14


def test_replayed_history_is_known_to_the_study():
    ctx = context()
    first = OptimizerPlanner(ctx, seed=0)
    drive(first, ctx, 6, lambda s: 0.8)
    second = OptimizerPlanner(ctx, seed=0)
    for rec in ctx.history:
        second.observe(rec)
    names = {r.spec.name for r in ctx.history}
    ctx.hypothesis = None
    nxt = second.propose(ctx)
    assert nxt.name not in names
    assert len(second.study.trials) == sum(
        1 for r in ctx.history if r.result.cv_score and math.isfinite(r.result.cv_score)
    )


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_slow_models_left_out_on_large_data(task):
    frame = (
        make_classification_frame(12_000)
        if task == "classification"
        else (make_regression_frame(12_000))
    )
    planner = OptimizerPlanner(context(task, frame=frame), seed=0)
    assert "svc" not in planner.models and "svr" not in planner.models


def after_first_lightgbm(ctx, duration: float, time_limited_folds: int = 0):
    """A planner that has seen the baseline and its first proposal (LightGBM) finish."""
    base = record(0, baseline_spec("classification"), 0.7, duration=0.5)
    planner = OptimizerPlanner(ctx, seed=0)
    ctx.history = [base]
    lgb = planner.propose(ctx)
    assert lgb is not None and lgb.name == "lightgbm_default"
    finished = record(1, lgb, 0.8, duration=duration)
    finished.result.time_limited_folds = time_limited_folds
    for rec in (base, finished):
        planner.observe(rec)
    ctx.history = [base, finished]
    return planner, lgb


def test_slow_families_are_skipped_when_their_estimate_exceeds_the_time_left():
    ctx = context()
    planner, _ = after_first_lightgbm(ctx, duration=5.0)
    # 5 s of LightGBM: CatBoost's portfolio entry is estimated at 25 s, XGBoost's at 7.5 s
    ctx.time_left = 20.0
    proposed = {planner.propose(ctx).model}
    ranked = [h.action.get("entry") for h in planner.hypothesise(ctx).hypotheses]
    assert "catboost_default" not in ranked and "catboost" not in proposed
    ctx.time_left = 60.0
    ranked = [h.action.get("entry") for h in planner.hypothesise(ctx).hypotheses]
    assert "catboost_default" in ranked


def test_baseline_uses_a_newton_solver_only_when_its_hessian_is_small():
    ctx = context()
    small = baseline_spec("classification", ctx.profile, n_classes=3)
    assert small.params == {"solver": "newton-cholesky"}
    assert baseline_spec("classification").params == {}  # no profile: sklearn's default
    wide = ctx.profile.model_copy(deep=True)
    wide.numeric_columns = [f"x{i}" for i in range(600)]
    assert baseline_spec("classification", wide, n_classes=3).params == {}
    assert baseline_spec("regression", ctx.profile).model == "linear_regression"


def test_a_booster_out_of_time_gets_a_faster_variant_and_no_slower_entry():
    ctx = context()
    planner, lgb = after_first_lightgbm(ctx, duration=20.0, time_limited_folds=3)
    hypotheses = planner.hypothesise(ctx).hypotheses
    assert hypotheses[0].action["name"] == "lightgbm_default_faster"
    entries = [c.action.get("entry") for c in planner._candidates(ctx)]
    assert "lightgbm_large" not in entries  # lower learning rate, more rounds: out of time too
    assert "catboost_default" in entries  # other families are still candidates
    ctx.hypothesis = hypotheses[0]
    faster = planner.propose(ctx)
    assert faster.params["learning_rate"] == pytest.approx(0.15)
    assert {k: v for k, v in faster.params.items() if k != "learning_rate"} == {
        k: v for k, v in lgb.params.items() if k != "learning_rate"
    }
    assert faster.direction == "time budget" and faster.source == "rule"
    validate_spec(faster, "classification", ctx.profile)


def test_a_variant_that_cannot_finish_in_the_time_left_is_not_proposed():
    ctx = context()
    planner, _ = after_first_lightgbm(ctx, duration=30.0, time_limited_folds=3)
    ctx.time_left = 9.0  # the faster variant needs about a third of the 30 s its base took
    names = [c.action.get("name") for c in planner._candidates(ctx)]
    assert "lightgbm_default_faster" not in names
    ctx.time_left = 11.0
    names = [c.action.get("name") for c in planner._candidates(ctx)]
    assert "lightgbm_default_faster" in names


def test_fast_lightgbm_joins_the_portfolio_from_twenty_thousand_rows():
    from ml_autopilot.planning.portfolio import portfolio_for

    models = ["lightgbm", "catboost", "xgboost"]
    small = [e.name for e in portfolio_for("classification", 19_999, models)]
    large = [e.name for e in portfolio_for("classification", 20_000, models)]
    assert "lightgbm_fast" not in small
    assert large[:2] == ["lightgbm_default", "lightgbm_fast"]  # launched together at the start


def test_sharp_xgboost_is_tried_on_small_mostly_categorical_classification_tables_only():
    from ml_autopilot.planning.portfolio import portfolio_for

    models = ["lightgbm", "xgboost"]
    small = {e.name: e for e in portfolio_for("classification", 1_296, models, 1.0)}
    assert "xgboost_sharp" in small
    numeric = [e.name for e in portfolio_for("classification", 1_296, models, 0.4)]
    assert "xgboost_sharp" not in numeric
    # the search space reaches the entry's minimum leaf weight, so the search can refine it
    from ml_autopilot.catalog.models import CATALOG

    space = {p.name: p for p in CATALOG["xgboost"].space}
    assert space["min_child_weight"].low <= small["xgboost_sharp"].params["min_child_weight"]
    for task, rows in (("classification", 10_001), ("regression", 1_296)):
        assert "xgboost_sharp" not in [e.name for e in portfolio_for(task, rows, models, 1.0)]


def test_a_stale_top_hypothesis_gives_way_to_the_next_idea_not_the_one_after():
    ctx = context()
    planner = OptimizerPlanner(ctx)
    first = planner.propose(ctx)
    assert first is not None
    ctx.hypothesis = planner.hypothesise(ctx).top  # formed before ``first`` was launched
    ctx.pending = [first]
    fresh = [c.action for c in planner._candidates(ctx)]
    assert ctx.hypothesis is not None and ctx.hypothesis.action not in fresh
    second = planner.propose(ctx)
    assert second is not None and second.name != first.name
    assert second.name == fresh[0]["entry"]  # the best idea left, not the runner-up


def pruned(iteration: int, spec: ExperimentSpec, folds: list[float]) -> ExperimentRecord:
    return ExperimentRecord(
        iteration=iteration,
        spec=spec,
        result=ExperimentResult(status="pruned", fold_scores=folds, duration=2.0, error="pruned"),
        started_at="t",
        finished_at="t",
    )


def test_pruned_experiments_are_told_as_pruned_trials_with_their_folds():
    """Asked or replayed, a pruned CV reaches TPE as a pruned trial carrying its fold scores,
    which TPE ranks below every complete trial; the search goes on."""
    ctx = context()
    planner = OptimizerPlanner(ctx, seed=0)
    drive(planner, ctx, 8, lambda s: 0.8)  # past the portfolio's first entries
    ctx.hypothesis = None
    spec = planner.propose(ctx)
    while spec.source != "optuna":  # a proposal that holds an asked trial
        rec = record(len(ctx.history), spec, 0.8)
        ctx.history = [*ctx.history, rec]
        planner.observe(rec)
        spec = planner.propose(ctx)
    planner.observe(pruned(len(ctx.history), spec, [0.31, 0.29]))
    asked = [t for t in planner.study.trials if t.state.name == "PRUNED"]
    assert len(asked) == 1 and asked[0].intermediate_values == {0: 0.31, 1: 0.29}

    replay = OptimizerPlanner(ctx, seed=0)
    entry = next(r for r in ctx.history if r.spec.source == "portfolio" and r.spec.params)
    replay.observe(pruned(99, entry.spec.model_copy(update={"name": "again"}), [0.5]))
    replayed = [t for t in replay.study.trials if t.state.name == "PRUNED"]
    assert len(replayed) == 1 and replayed[0].intermediate_values == {0: 0.5}
    assert replay.propose(ctx) is not None
