"""The final refit: which models it tries, in order, until one succeeds; the holdout scored
once; the saved model refit on all rows when the budget allows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml_autopilot.config import RunConfig
from ml_autopilot.execution.local import LocalExecutor
from ml_autopilot.finalize import (
    RefitJob,
    all_rows_skipped,
    final_candidates,
    finalize,
    job_estimate,
    makespan,
    refit_order,
    wait_until_fitting,
)
from ml_autopilot.model_file import load_bundle
from ml_autopilot.session import Session
from ml_autopilot.state import ExperimentRecord, ExperimentResult, ExperimentSpec, SessionState
from tests.conftest import make_classification_frame, model_spec, run_config
from tests.test_ensemble import info
from tests.test_session import ScriptedPlanner


def record(iteration: int, model: str, score: float | None) -> ExperimentRecord:
    result = (
        ExperimentResult(status="failed", error="boom")
        if score is None
        else ExperimentResult(status="success", cv_score=score)
    )
    spec = ExperimentSpec(name=f"{model}_{iteration}", model=model, hypothesis="h", reasoning="r")
    return ExperimentRecord(
        iteration=iteration, spec=spec, result=result, started_at="t", finished_at="t"
    )


def state_with(*records: ExperimentRecord) -> SessionState:
    config = RunConfig(data_path="d.csv", target="y", output_dir="run")
    return SessionState(run_id="r", config=config, data=info(), experiments=list(records))


def names(state: SessionState) -> list[str]:
    return [r.spec.name for r in final_candidates(state)]


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        pytest.param(
            [("linear_regression", 3.5), ("catboost", 2.9), ("catboost", 2.95),
             ("extra_trees", 3.0), ("lightgbm", None), ("ensemble", 2.8)],
            ["ensemble_5", "catboost_1", "extra_trees_3", "linear_regression_0"],
            id="ensemble, best single, another family, baseline",
        ),
        pytest.param(
            [("linear_regression", 3.5), ("catboost", 2.9), ("catboost", 3.0), ("xgboost", 3.1)],
            ["catboost_1", "xgboost_3", "linear_regression_0"],
            id="single best, another family, baseline",
        ),
    ],
)  # fmt: skip
def test_a_failed_refit_falls_back_to_another_family_then_the_baseline(scores, expected):
    state = state_with(*(record(i, model, score) for i, (model, score) in enumerate(scores)))
    assert names(state) == expected  # RMSE: lower is better


def test_only_the_baseline_or_nothing():
    assert names(state_with(record(0, "ridge", 3.5), record(1, "svr", None))) == ["ridge_0"]
    assert names(state_with(record(0, "ridge", None))) == []


# ---- the saved model: the same recipe refit on all rows -------------------------------------
@pytest.fixture(scope="module")
def knn_run(tmp_path_factory: pytest.TempPathFactory) -> SessionState:
    """A finished session whose only experiment left is a k-nearest-neighbours model: it keeps
    its training rows (``n_samples_fit_``), so a test can count what each refit trained on."""
    root = tmp_path_factory.mktemp("knn")
    data = root / "classes.csv"
    make_classification_frame().to_csv(data, index=False)
    planner = ScriptedPlanner([model_spec("kneighbors", {"n_neighbors": 5}, name="knn")])
    config = run_config(data, "species", root / "run", max_iterations=1)
    state = Session.create(config, planner=planner).run()
    knn = next(r for r in state.experiments if r.spec.name == "knn")
    assert knn.result.status == "success", knn.result.error
    return state.model_copy(update={"experiments": [knn], "final": None})


def knn_state(knn_run: SessionState, run_dir: Path, **config: object) -> SessionState:
    """The finished knn session, finalizing into ``run_dir`` (its data files are shared)."""
    changed = knn_run.config.model_copy(update={"output_dir": str(run_dir), **config})
    return knn_run.model_copy(update={"config": changed}, deep=True)


def trained_rows(path: str | Path) -> int:
    return int(load_bundle(Path(path))["pipeline"][-1].n_samples_fit_)


def test_the_saved_model_is_the_recipe_refit_on_all_rows(knn_run, tmp_path):
    state = knn_state(knn_run, tmp_path / "run")
    final = finalize(state, LocalExecutor(), time_left=120.0)
    assert final is not None and final.status == "success", final
    assert final.name == "knn" and final.holdout_score is not None
    assert Path(final.holdout_model_path) == tmp_path / "run" / "final" / "model.pkl"
    assert Path(final.model_path) == tmp_path / "run" / "final" / "all_rows" / "model.pkl"
    # the holdout scored a model that never saw it; the saved one trained on every row
    assert trained_rows(final.holdout_model_path) == state.data.n_train == 128
    assert trained_rows(final.model_path) == final.trained_rows == 160
    assert final.all_rows_error is None and final.all_rows_refit_time is not None
    card = json.loads((Path(final.model_path).parent / "model_card.json").read_text())
    assert card["trained_rows"] == 160 and card["trained_on"].startswith("all rows")
    state.final = final
    assert state.saved_model_rows().startswith("refit on all 160 rows, holdout included")


def test_no_all_rows_refit_without_the_time_for_it(knn_run, tmp_path):
    """The scored refit may outlive the budget (a run must leave a model), the all-rows refit
    may not: with no time left it is not started and the scored model is saved."""
    state = knn_state(knn_run, tmp_path / "run")
    final = finalize(state, LocalExecutor(), time_left=0.0)
    assert final is not None and final.status == "success"
    assert final.model_path == final.holdout_model_path
    assert final.trained_rows == 128 and trained_rows(final.model_path) == 128
    assert final.all_rows_error.startswith("not started: ")
    state.final = final
    assert "the model the holdout scored (all-rows refit: not started" in state.saved_model_rows()


def test_no_refit_full_saves_the_scored_model(knn_run, tmp_path):
    state = knn_state(knn_run, tmp_path / "run", refit_full=False)
    final = finalize(state, LocalExecutor(), time_left=120.0)
    assert final is not None and final.model_path == final.holdout_model_path
    assert final.trained_rows == 128 and final.all_rows_error is None
    assert not (tmp_path / "run" / "final" / "all_rows").exists()


def test_refits_run_longest_first_and_all_rows_only_when_all_fit(tmp_path):
    """Longest first leaves no worker idle beside the longest refit at the end. The all-rows
    refits run only when, with the scored ones beside them, all are expected to end in time."""
    fits = {"slow": 40.0, "quick": 4.0}  # summed over 5 folds: refits of 10 s and 1 s
    records = [
        record(i, name, 1.0).model_copy(
            update={"result": ExperimentResult(status="success", cv_score=1.0, fit_time=fit)}
        )
        for i, (name, fit) in enumerate(fits.items())
    ]
    state = state_with(*records)
    jobs = [RefitJob(r, "refit", tmp_path / str(i)) for i, r in enumerate(records)]
    jobs += [RefitJob(r, "refit_all", tmp_path / f"all{i}") for i, r in enumerate(records)]
    order = [f"{j.record.spec.model}:{j.mode}" for j in refit_order(state, jobs)]
    assert order == ["slow:refit_all", "slow:refit", "quick:refit_all", "quick:refit"]
    costs = [job_estimate(state, job) for job in jobs]
    assert makespan(costs, 2) == pytest.approx(12.5)  # the longest; 23.75 s in all
    assert all_rows_skipped(state, jobs, 13.0) is None
    assert all_rows_skipped(state, jobs, 12.0) == (
        "not started: about 12.5 s needed with the scored refit, 12.0 s left"
    )


def test_the_wait_for_a_refit_to_begin_fitting_ends_with_its_first_span(tmp_path: Path) -> None:
    import threading
    import time

    assert not wait_until_fitting(tmp_path, 0.1)  # no refit yet: gives up at its limit
    member = tmp_path / "final" / "members" / "003_lightgbm"
    member.mkdir(parents=True)

    def open_span() -> None:
        time.sleep(0.3)
        (member / "model_spans.jsonl").write_text("[1.0]\n", encoding="utf-8")

    threading.Thread(target=open_span).start()
    started = time.monotonic()
    assert wait_until_fitting(tmp_path, 10.0)
    assert 0.2 < time.monotonic() - started < 5.0
