"""MLflow tracking end to end, against real SQLite stores written by real (tiny) sessions.

Two sessions run once per module (classification with a crashing experiment, regression with
the baseline alone); the tests read what they left in ``<run_dir>/mlflow.db`` through MLflow's
own API, load and serve the logged model, resume the session and open the UI over the run folder.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.entities import Run
from mlflow.types.schema import AnyType, DataType
from mlflow.utils.validation import MAX_TAG_VAL_LENGTH

from ml_autopilot.model_file import load_bundle
from ml_autopilot.planning.base import Planner, PlanningContext
from ml_autopilot.predict import predict_frame
from ml_autopilot.session import Session
from ml_autopilot.state import (
    ExperimentRecord,
    ExperimentResult,
    ExperimentSpec,
    FinalResult,
    Hypothesis,
    HypothesisSet,
    Preprocessing,
    SessionState,
    load_state,
    save_state,
)
from ml_autopilot.tracking.mlflow_tracker import (
    RUN_STATUS,
    MlflowTracker,
    child_metrics,
    child_tags,
    experiment_name,
)
from ml_autopilot.tracking.pyfunc_model import input_schema, pip_requirements
from ml_autopilot.tracking.ui import mlflow_command, start_ui, stop_ui, store_uri, wait_until_up
from tests.conftest import make_classification_frame, make_regression_frame, run_config

LONG_HYPOTHESIS = "more neighbours than rows must fail " * 300
SERVER_START_SECONDS = 180  # MLflow's servers import slowly on a busy 2-core machine


class ScriptedPlanner(Planner):
    """Proposes a fixed list of specs, then has nothing left (keeps the runs fast)."""

    name = "scripted"

    def __init__(self, specs: list[ExperimentSpec]) -> None:
        self.specs = list(specs)

    def propose(self, context: PlanningContext) -> ExperimentSpec | None:
        return self.specs.pop(0) if self.specs else None

    def observe(self, record: ExperimentRecord) -> None:
        return None

    def hypothesise(self, context: PlanningContext) -> HypothesisSet:
        hypothesis = Hypothesis(rank=1, statement="next spec", rationale="test", confidence=0.5)
        return HypothesisSet(hypotheses=[hypothesis])


def spec(name: str, model: str, params: dict, hypothesis: str = "", **prep: str) -> ExperimentSpec:
    return ExperimentSpec(
        name=name,
        model=model,
        params=params,
        preprocessing=Preprocessing(**prep),
        hypothesis=hypothesis or f"{name} helps",
        reasoning="test",
        planner="scripted",
        source="test",
        direction="tests",
    )


@dataclass(frozen=True)
class TrackedRun:
    """A finished session and what its model predicted on the holdout right after it ran."""

    run_dir: Path
    target: str
    holdout: pd.DataFrame
    expected: pd.DataFrame
    final: FinalResult
    model_uri: str

    @property
    def uri(self) -> str:
        return store_uri(self.run_dir)

    @property
    def client(self) -> MlflowClient:
        return MlflowClient(self.uri)

    def state(self) -> SessionState:
        return load_state(self.run_dir)


def tracked_run(
    root: Path, frame: pd.DataFrame, target: str, specs: list[ExperimentSpec]
) -> TrackedRun:
    data = root / "data.csv"
    frame.to_csv(data, index=False)
    run_dir = root / "run"
    config = run_config(data, target, run_dir, max_iterations=2)
    planner = ScriptedPlanner(specs)
    state = Session.create(config, tracker=MlflowTracker(), planner=planner).run()
    assert state.phase == "done" and state.final is not None and state.final.model_path
    assert state.tracking is not None and state.tracking.model_uri
    holdout = pd.read_parquet(run_dir / "data" / "holdout.parquet")
    expected = predict_frame(load_bundle(Path(state.final.model_path)), holdout)
    return TrackedRun(run_dir, target, holdout, expected, state.final, state.tracking.model_uri)


@pytest.fixture(scope="module")
def classification_run(tmp_path_factory: pytest.TempPathFactory) -> TrackedRun:
    specs = [
        spec("crashes", "kneighbors", {"n_neighbors": 5000}, hypothesis=LONG_HYPOTHESIS),
        spec("shallow_tree", "decision_tree", {"max_depth": 3}),
    ]
    root = tmp_path_factory.mktemp("classification")
    return tracked_run(root, make_classification_frame(), "species", specs)


@pytest.fixture(scope="module")
def regression_run(tmp_path_factory: pytest.TempPathFactory) -> TrackedRun:
    root = tmp_path_factory.mktemp("regression")  # the baseline alone: one refit, no ensemble
    return tracked_run(root, make_regression_frame(), "price", [])


@contextmanager
def fluent_store(uri: str) -> Iterator[None]:
    """MLflow's fluent API pointed at one store, then put back."""
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)  # type: ignore[arg-type]
        if previous is not None:
            os.environ["MLFLOW_TRACKING_URI"] = previous


def children(run: TrackedRun) -> list[Run]:
    state = run.state()
    assert state.tracking is not None
    return run.client.search_runs(
        [state.tracking.experiment_id],
        filter_string=f"tags.run_id = '{state.run_id}' AND tags.kind = 'experiment'",
    )


def parent(run: TrackedRun) -> Run:
    state = run.state()
    assert state.tracking is not None
    return run.client.get_run(state.tracking.parent_run_id)


def logged_models(run: TrackedRun) -> list:
    state = run.state()
    assert state.tracking is not None
    return run.client.search_logged_models(experiment_ids=[state.tracking.experiment_id])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def artifact_names(client: MlflowClient, run_id: str) -> set[str]:
    return {item.path for item in client.list_artifacts(run_id)}


# ---- the store and the parent run --------------------------------------------------------------
def test_parent_run_holds_the_session_settings(classification_run: TrackedRun) -> None:
    with fluent_store(classification_run.uri):
        check_parent_run(classification_run)


def check_parent_run(run: TrackedRun) -> None:
    state = run.state()
    assert (run.run_dir / "mlflow.db").is_file()
    experiment = mlflow.get_experiment_by_name(experiment_name(state))
    assert experiment is not None and experiment.name == f"autopilot-data-{state.run_id}"
    assert experiment.artifact_location == (run.run_dir / "mlartifacts").resolve().as_uri()
    found = mlflow.search_runs(
        [experiment.experiment_id], filter_string="tags.kind = 'session'", output_format="list"
    )
    assert len(found) == 1
    session = found[0]
    assert state.tracking is not None and session.info.run_id == state.tracking.parent_run_id
    assert session.info.status == "FINISHED"
    params = session.data.params
    assert params["target"] == "species" and params["task"] == "classification"
    assert params["metric"] == "f1" and params["direction"] == "maximize"
    assert params["folds"] == "3" and params["holdout"] == "0.2" and params["seed"] == "42"
    assert params["time_budget"] == "240.0" and params["planner"] == state.planner_name
    assert params["data_path"] == state.config.data_path
    assert session.data.tags["run_id"] == state.run_id
    assert session.data.tags["planner"] == state.planner_name
    assert "profile.json" in artifact_names(run.client, session.info.run_id)
    profile = mlflow.artifacts.load_dict(f"{session.info.artifact_uri}/profile.json")
    assert state.profile is not None and profile == state.profile.model_dump(mode="json")


def test_parent_run_has_holdout_metrics_and_best(regression_run: TrackedRun) -> None:
    session = parent(regression_run)
    final = regression_run.final
    for name, value in final.holdout_metrics.items():
        assert session.data.metrics[f"holdout_{name}"] == pytest.approx(value)
    assert session.data.metrics["best_cv_score"] == pytest.approx(final.cv_score)
    assert session.data.tags["best_iteration"] == str(final.iteration)
    assert session.data.tags["best_name"] == final.name
    assert session.info.status == "FINISHED"


# ---- child runs --------------------------------------------------------------------------------
def test_one_child_run_per_experiment_with_its_numbers(classification_run: TrackedRun) -> None:
    state = classification_run.state()
    client = classification_run.client
    runs = {int(r.data.tags["iteration"]): r for r in children(classification_run)}
    assert len(runs) == len(children(classification_run)) == len(state.experiments)
    assert state.tracking is not None
    assert state.tracking.child_run_ids == {i: r.info.run_id for i, r in runs.items()}
    for record in state.successful():
        run = runs[record.iteration]
        result, tags = record.result, run.data.tags
        assert run.info.status == "FINISHED"
        assert tags["mlflow.parentRunId"] == state.tracking.parent_run_id
        assert tags["name"] == record.spec.name and tags["model"] == record.spec.model
        assert tags["status"] == "success" and tags["planner"] == record.spec.planner
        assert tags["hypothesis"] == record.spec.hypothesis
        assert tags["reasoning"] == record.spec.reasoning and tags["source"] == record.spec.source
        assert run.data.params["model"] == record.spec.model
        for key, value in record.spec.params.items():
            logged = value if isinstance(value, str) else json.dumps(value)  # text as-is
            assert run.data.params[f"param.{key}"] == logged
        for key, value in record.spec.preprocessing.model_dump().items():
            assert run.data.params[f"prep.{key}"] == value
        metrics = run.data.metrics
        assert metrics["cv_score"] == pytest.approx(result.cv_score)
        assert metrics["duration"] == pytest.approx(result.duration)
        if result.fit_time is not None:
            assert metrics["fit_time"] == pytest.approx(result.fit_time)
        assert "f1" in result.metrics
        for name, summary in result.metrics.items():
            assert metrics[f"cv_{name}_mean"] == pytest.approx(summary.mean)
            assert metrics[f"cv_{name}_std"] == pytest.approx(summary.std)
            history = client.get_metric_history(run.info.run_id, f"fold_{name}")
            history = sorted(history, key=lambda m: m.step)
            assert [m.step for m in history] == list(range(len(summary.folds)))
            assert [m.value for m in history] == pytest.approx(summary.folds)
        names = artifact_names(client, run.info.run_id)
        assert "profile.json" in names
        if result.script_path:  # an ensemble is made in the session, without a script
            assert {"experiment.py", "stdout.txt", "stderr.txt"} <= names
            script = Path(client.download_artifacts(run.info.run_id, "experiment.py"))
            assert script.read_text() == Path(result.script_path).read_text()


def test_failed_experiment_is_logged_with_its_error(classification_run: TrackedRun) -> None:
    state = classification_run.state()
    client = classification_run.client
    record = next(r for r in state.experiments if r.spec.name == "crashes")
    assert record.result.status == "failed" and record.result.error
    run = next(r for r in children(classification_run) if r.data.tags["name"] == "crashes")
    assert run.info.status == "FAILED"
    assert run.data.tags["status"] == "failed"
    assert run.data.tags["error"] == record.result.error
    assert run.data.tags["direction"] == "tests"
    assert run.data.tags["hypothesis"] == record.spec.hypothesis  # as validated (shortened)
    assert "cv_score" not in run.data.metrics and "duration" in run.data.metrics
    assert {"error.txt", "experiment.py", "stderr.txt"} <= artifact_names(client, run.info.run_id)
    error = Path(client.download_artifacts(run.info.run_id, "error.txt")).read_text()
    assert record.result.error in error


def test_a_pruned_experiment_logs_its_folds_and_ends_killed(
    classification_run: TrackedRun, tmp_path: Path
) -> None:
    """Stopped on purpose, not broken: MLflow's KILLED, with the folds it scored."""
    state = classification_run.state()
    record = state.experiments[0]
    result = ExperimentResult(status="pruned", fold_scores=[0.41, 0.44], duration=3.0)
    pruned = record.model_copy(update={"result": result})
    metrics = child_metrics(pruned)
    folds = sorted((m.step, m.value) for m in metrics if m.key == "fold_score")
    assert folds == [(0, 0.41), (1, 0.44)]
    assert "cv_score" not in {m.key for m in metrics}
    assert RUN_STATUS["pruned"] == "KILLED" and RUN_STATUS["success"] == "FINISHED"

    state.experiments[0] = pruned  # logged for real, on a store of its own
    state.tracking = None
    store = f"sqlite:///{tmp_path / 'pruned.db'}"
    MlflowTracker(tracking_uri=store).start(state)
    assert state.tracking is not None
    client = MlflowClient(store)
    run = client.get_run(state.tracking.child_run_ids[pruned.iteration])
    assert run.info.status == "KILLED"
    history = client.get_metric_history(run.info.run_id, "fold_score")
    assert sorted((m.step, m.value) for m in history) == folds
    assert "cv_score" not in run.data.metrics


def test_long_texts_are_cut_to_mlflows_tag_limit(classification_run: TrackedRun) -> None:
    state = classification_run.state()
    record = state.experiments[0]
    long_spec = record.spec.model_copy(update={"hypothesis": LONG_HYPOTHESIS})
    tags = child_tags(state, record.model_copy(update={"spec": long_spec}), "parent")
    assert len(tags["hypothesis"]) == MAX_TAG_VAL_LENGTH
    assert LONG_HYPOTHESIS.startswith(tags["hypothesis"][:-3])
    assert all(len(value) <= MAX_TAG_VAL_LENGTH for value in tags.values())


# ---- the final model ---------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["classification_run", "regression_run"])
def test_logged_model_predicts_like_predict_frame(
    which: str, request: pytest.FixtureRequest
) -> None:
    run: TrackedRun = request.getfixturevalue(which)
    with fluent_store(run.uri):
        model = mlflow.pyfunc.load_model(run.model_uri)
    got = model.predict(run.holdout)  # the raw table, target included: extra columns are ignored
    pd.testing.assert_frame_equal(got, run.expected)
    features = run.holdout.drop(columns=[run.target]).head(7)
    pd.testing.assert_frame_equal(model.predict(features), run.expected.head(7))
    assert len(logged_models(run)) == 1
    assert model.metadata.signature is not None
    assert set(model.metadata.signature.inputs.input_names()) == set(features.columns)
    with fluent_store(run.uri):
        requirements = Path(mlflow.pyfunc.get_model_dependencies(run.model_uri))
    assert requirements.read_text().split() == pip_requirements()


def test_a_blend_is_logged_once_while_the_holdout_is_scored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A blend's all-rows file goes to MLflow as soon as it is saved, before the scored blend
    (the holdout's) exists; the final logging then finds it: one logged model, the saved one."""
    calls: list[tuple[Path, bool]] = []  # (file logged, scored blend saved yet)
    real = MlflowTracker.log_model

    def recorded(self: MlflowTracker, state: SessionState, path: Path) -> None:
        calls.append((path, (path.parents[1] / "model.pkl").exists()))
        real(self, state, path)

    monkeypatch.setattr(MlflowTracker, "log_model", recorded)
    data = tmp_path / "data.csv"
    make_classification_frame().to_csv(data, index=False)
    run_dir = tmp_path / "run"
    specs = [
        spec("nb", "gaussian_nb", {}),
        spec("forest", "random_forest", {"n_estimators": 60}),
        spec("trees", "extra_trees", {"n_estimators": 60}),
    ]
    config = run_config(
        data, "species", run_dir, metric="log_loss", plateau=1, max_iterations=3, workers=1
    )
    state = Session.create(config, tracker=MlflowTracker(), planner=ScriptedPlanner(specs)).run()
    assert state.final is not None and state.final.name.startswith("ensemble")
    saved = run_dir / "final" / "all_rows" / "model.pkl"
    assert Path(state.final.model_path) == saved
    assert calls == [(saved, False)]
    client = MlflowClient(store_uri(run_dir))
    assert state.tracking is not None
    models = client.search_logged_models(experiment_ids=[state.tracking.experiment_id])
    assert len(models) == 1 and state.tracking.model_uri == f"models:/{models[0].model_id}"
    holdout = pd.read_parquet(run_dir / "data" / "holdout.parquet")
    with fluent_store(store_uri(run_dir)):
        logged = mlflow.pyfunc.load_model(state.tracking.model_uri)
    expected = predict_frame(load_bundle(saved), holdout)
    pd.testing.assert_frame_equal(logged.predict(holdout), expected)


def test_model_requirements_are_pinned_and_explicit() -> None:
    pinned = dict(line.split("==") for line in pip_requirements())
    assert {"scikit-learn", "pandas", "numpy", "lightgbm", "catboost", "mlflow"} <= set(pinned)
    assert "xgboost-cpu" in pinned or "xgboost" in pinned
    assert pinned["mlflow"] == mlflow.__version__


def test_input_schema_accepts_missing_values_in_every_column() -> None:
    raw = pd.DataFrame({"f": [1.5, np.nan], "i": [1, 2], "s": ["a", None], "b": [True, False]})
    schema = {spec.name: spec for spec in input_schema(raw).inputs}
    assert schema["f"].type == DataType.double and schema["s"].type == DataType.string
    assert isinstance(schema["i"].type, AnyType) and isinstance(schema["b"].type, AnyType)
    assert all(spec.required for spec in schema.values())


# ---- resume, catch-up, failures ----------------------------------------------------------------
def test_resume_duplicates_no_run(classification_run: TrackedRun) -> None:
    run_dir = classification_run.run_dir
    state = load_state(run_dir)
    assert state.tracking is not None
    before = state.tracking.model_copy(deep=True)
    state.phase = "iterating"
    state.final = None
    # room for exactly one more experiment (the session's ensemble counts as one too)
    state.config = state.config.model_copy(update={"max_iterations": len(state.experiments)})
    save_state(state, run_dir)
    planner = ScriptedPlanner([spec("unknown", "deep_forest_9000", {})])  # fails, runs nothing
    resumed = Session.resume(run_dir, tracker=MlflowTracker(), planner=planner).run()
    assert resumed.phase == "done" and len(resumed.experiments) > len(state.experiments)
    assert any(r.spec.name == "unknown" for r in resumed.experiments)
    assert resumed.tracking is not None
    assert resumed.tracking.parent_run_id == before.parent_run_id
    assert resumed.tracking.experiment_id == before.experiment_id
    runs = children(classification_run)
    iterations = sorted(int(r.data.tags["iteration"]) for r in runs)
    assert iterations == [r.iteration for r in resumed.experiments]
    assert sorted(resumed.tracking.child_run_ids) == iterations
    assert {r.data.tags["mlflow.parentRunId"] for r in runs} == {before.parent_run_id}
    sessions = classification_run.client.search_runs(
        [before.experiment_id], filter_string="tags.kind = 'session'"
    )
    assert [s.info.run_id for s in sessions] == [before.parent_run_id]
    assert sessions[0].info.status == "FINISHED"
    assert resumed.tracking.model_uri == before.model_uri  # the final model is logged once
    assert len(logged_models(classification_run)) == 1


def test_catch_up_does_not_log_anything_twice(classification_run: TrackedRun) -> None:
    """As if the process died after MLflow logged but before ``state.json`` was saved."""
    run_dir, client = classification_run.run_dir, classification_run.client
    state = load_state(run_dir)
    tracking = state.tracking
    assert tracking is not None and tracking.model_uri
    count, model_uri = len(children(classification_run)), tracking.model_uri
    lost = tracking.child_run_ids.pop(1)
    tracking.final_logged, tracking.model_uri = False, None
    stray = client.create_run(  # a child the dead process had only begun to log
        tracking.experiment_id,
        tags={"run_id": state.run_id, "kind": "experiment", "iteration": "1"},
    )
    save_state(state, run_dir)
    resumed = Session.resume(run_dir, tracker=MlflowTracker()).run()
    assert resumed.tracking is not None and resumed.tracking.child_run_ids[1] == lost
    saved = load_state(run_dir).tracking
    assert saved is not None and saved.child_run_ids[1] == lost
    assert saved.final_logged and saved.model_uri == model_uri
    assert client.get_run(stray.info.run_id).info.lifecycle_stage == "deleted"
    assert len(children(classification_run)) == count
    assert len(logged_models(classification_run)) == 1
    assert parent(classification_run).info.status == "FINISHED"


def test_catch_up_logs_what_mlflow_missed(classification_run: TrackedRun, tmp_path: Path) -> None:
    state = classification_run.state()
    state.tracking = None  # never logged: a fresh store must receive every experiment once
    store = f"sqlite:///{tmp_path / 'other.db'}"
    tracker = MlflowTracker(tracking_uri=store)
    tracker.start(state)
    tracker.log_experiment(state, state.experiments[-1])  # already caught up: a no-op
    assert state.tracking is not None and state.tracking.tracking_uri == store
    assert sorted(state.tracking.child_run_ids) == [r.iteration for r in state.experiments]
    runs = MlflowClient(store).search_runs([state.tracking.experiment_id])
    assert len(runs) == len(state.experiments) + 1
    assert state.tracking.final_logged and state.tracking.model_uri
    assert MlflowClient(store).get_run(state.tracking.parent_run_id).info.status == "FINISHED"


def test_mlflow_errors_never_reach_the_session(
    classification_run: TrackedRun,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    state = classification_run.state()
    state.tracking = None
    tracker = MlflowTracker(tracking_uri=f"http://127.0.0.1:{free_port()}")
    with caplog.at_level(logging.WARNING, logger="ml_autopilot.tracking"):
        tracker.start(state)
        tracker.log_experiment(state, state.experiments[0])
        tracker.log_final(state)
        tracker.close(state)
    assert state.tracking is None
    warnings = [r.getMessage() for r in caplog.records if r.name == "ml_autopilot.tracking"]
    assert any("could not open the session's MLflow run" in w for w in warnings)
    assert any("tracking paused" in w for w in warnings)


# ---- serving and the UI ------------------------------------------------------------------------
@dataclass(frozen=True)
class Servers:
    """The model server and the UI over the classification run, started side by side."""

    model_url: str
    model_server: subprocess.Popen[bytes]
    ui_url: str
    ui: subprocess.Popen[bytes]


@pytest.fixture(scope="module", autouse=True)
def boot_servers_early(request: pytest.FixtureRequest) -> None:
    """When a selected test needs the servers, start them with the module's first test: they
    boot while the other tests run (a person may well watch the UI while a session writes)."""
    if any("servers" in item.fixturenames for item in request.session.items):
        request.getfixturevalue("servers")


@pytest.fixture(scope="module")
def servers(classification_run: TrackedRun) -> Iterator[Servers]:
    """The model server and the UI over the classification run, stopped with the module."""
    port = free_port()
    command = [mlflow_command(), "models", "serve", "-m", classification_run.model_uri]
    command += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": classification_run.uri,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    log = (classification_run.run_dir / "serve.log").open("ab")
    model_server = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    ui_url, ui = start_ui(classification_run.run_dir, port=free_port())
    try:
        yield Servers(f"http://127.0.0.1:{port}", model_server, ui_url, ui)
    finally:
        stop_ui(model_server)  # any process group started with start_new_session=True
        stop_ui(ui)
        log.close()


@pytest.mark.slow
def test_served_model_answers_invocations(classification_run: TrackedRun, servers: Servers) -> None:
    url = servers.model_url
    up = wait_until_up(f"{url}/ping", timeout=SERVER_START_SECONDS, process=servers.model_server)
    assert up, (classification_run.run_dir / "serve.log").read_text()[-3000:]
    features = classification_run.holdout.drop(columns=["species"])
    body = {"dataframe_split": json.loads(features.to_json(orient="split", index=False))}
    request = urllib.request.Request(
        f"{url}/invocations",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.loads(response.read())
    got = pd.DataFrame(answer["predictions"])[list(classification_run.expected.columns)]
    pd.testing.assert_frame_equal(got, classification_run.expected, check_dtype=False)


@pytest.mark.slow
def test_ui_serves_the_run_folder(classification_run: TrackedRun, servers: Servers) -> None:
    up = wait_until_up(servers.ui_url, timeout=SERVER_START_SECONDS, process=servers.ui)
    assert up, (classification_run.run_dir / "mlflow-ui.log").read_text()[-3000:]
    with urllib.request.urlopen(servers.ui_url, timeout=10) as response:
        assert response.status == 200
    assert stop_ui(servers.ui) is not None
