"""The loop end to end: phases, failures, timeouts, resume and reproducible scripts."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_autopilot.execution.base import ExecutionOutcome
from ml_autopilot.model_file import load_bundle
from ml_autopilot.planning.base import Planner, PlanningContext
from ml_autopilot.planning.optimizer import OptimizerPlanner
from ml_autopilot.predict import prepare_features
from ml_autopilot.session import Session, result_from_outcome
from ml_autopilot.state import (
    ExperimentRecord,
    ExperimentSpec,
    Hypothesis,
    HypothesisSet,
    Preprocessing,
    load_state,
    save_state,
)
from tests.conftest import make_classification_frame, run_config


class PhaseRecorder:
    """Reads the state file from disk at every event: proves each phase was saved."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.saved_phases: list[str] = []
        self.saved_counts: list[int] = []

    def phase(self, state, message):
        self.saved_phases.append(load_state(self.run_dir).phase)

    def experiment_started(self, state, iteration, spec):
        return None

    def experiment_finished(self, state, record):
        self.saved_counts.append(len(load_state(self.run_dir).experiments))


class ScriptedPlanner(Planner):
    """Proposes a fixed list of specs (to force crashes and hangs), then stops."""

    name = "scripted"

    def __init__(self, specs: list[ExperimentSpec]) -> None:
        self.specs = list(specs)
        self.seen: list[ExperimentRecord] = []

    def propose(self, context: PlanningContext) -> ExperimentSpec | None:
        return self.specs.pop(0) if self.specs else None

    def observe(self, record: ExperimentRecord) -> None:
        self.seen.append(record)

    def hypothesise(self, context: PlanningContext) -> HypothesisSet:
        return HypothesisSet(
            hypotheses=[
                Hypothesis(rank=1, statement="next scripted spec", rationale="test", confidence=0.5)
            ]
        )


def spec(name: str, model: str, params: dict, **prep: str) -> ExperimentSpec:
    return ExperimentSpec(
        name=name,
        model=model,
        params=params,
        preprocessing=Preprocessing(**prep),
        hypothesis=f"{name} helps",
        reasoning="test",
        planner="scripted",
        source="test",
    )


def test_full_session_saves_every_phase_and_leaves_a_model(classification_csv, tmp_path):
    run_dir = tmp_path / "run"
    recorder = PhaseRecorder(run_dir)
    session = Session.create(run_config(classification_csv, "species", run_dir), listener=recorder)
    state = session.run()
    assert recorder.saved_phases == ["loaded", "profiled", "baseline", "finalizing", "done"]
    assert recorder.saved_counts[:3] == [1, 2, 3]
    assert state.termination_reason == "max iterations (2) reached"
    assert [r.iteration for r in state.experiments][:3] == [0, 1, 2]
    if len(state.experiments) == 4:  # a blend of the three, recorded as its own experiment
        assert state.experiments[3].spec.model == "ensemble"
        assert recorder.saved_counts == [1, 2, 3, 4]
    assert state.experiments[0].spec.planner == "baseline"
    for record in state.experiments[:3]:
        assert record.result.status == "success", record.result.error
        assert Path(record.result.script_path).is_file()
        assert record.analysis is not None and record.hypotheses is not None
        assert 2 <= len(record.hypotheses.hypotheses) <= 3
        spans = record.result.model_spans  # one fit + predict span per fold, inside the run
        assert len(spans) == state.config.folds
        assert all(start <= end <= time.time() for start, end in spans)
    assert state.final.status == "success"
    assert state.final.model_spans  # the refit and the holdout prediction
    # the permutation importance's predictions of the final model, inside the run
    assert state.final.importance_spans
    assert all(start <= end <= time.time() for start, end in state.final.importance_spans)
    assert Path(state.final.model_path).is_file()
    assert Path(state.final.holdout_model_path).is_file()  # what the holdout scored
    assert state.final.trained_rows == 160  # the saved model: refit on every row
    assert set(state.final.holdout_metrics) == {"accuracy", "f1", "log_loss", "roc_auc"}
    assert state.data.n_holdout == 32 and state.profile.n_rows == 128


def test_the_report_child_starts_with_the_search(classification_csv, tmp_path):
    """It loads its modules while the experiments run (before the last of them ends), and
    still writes the report, plots and dashboard once the run is over."""
    run_dir = tmp_path / "run"
    state = Session.create(
        run_config(classification_csv, "species", run_dir, max_iterations=3, plateau=0)
    ).run()
    assert state.phase == "done"
    script = run_dir / "report" / "report_job" / "report.py"
    last_search_span = max(end for r in state.experiments for _, end in r.result.model_spans)
    assert script.stat().st_mtime < last_search_span
    assert (run_dir / "report" / "report_job" / "written.json").is_file()  # the child wrote
    assert (run_dir / "report" / "report.md").is_file()
    assert (run_dir / "report" / "dashboard.html").is_file()


def test_a_run_resumed_at_its_end_starts_the_report_child_there(classification_csv, tmp_path):
    """Killed after its search, a run is resumed in phase ``finalizing``: no search runs, so
    the end phase starts the report child itself, and the child writes the report."""
    import shutil

    run_dir = tmp_path / "run"
    Session.create(run_config(classification_csv, "species", run_dir, max_iterations=1)).run()
    state = load_state(run_dir)
    state.phase, state.final = "finalizing", None
    save_state(state, run_dir)
    shutil.rmtree(run_dir / "report")
    resumed = Session.resume(run_dir).run()
    assert resumed.phase == "done" and resumed.final.status == "success"
    assert (run_dir / "report" / "report_job" / "written.json").is_file()  # the child wrote
    assert (run_dir / "report" / "report.md").is_file()


def test_a_failed_report_child_leaves_the_report_to_the_session(
    classification_csv, tmp_path, monkeypatch
):
    """The report child dies at once: the session draws every plot and writes the report and
    the dashboard itself, and the run finishes."""
    from ml_autopilot.reporting import report_job
    from ml_autopilot.reporting.child_job import ChildJob

    broken = ChildJob(report_job.JOB_FOLDER, report_job.SCRIPT_NAME, "raise SystemExit(3)\n")
    monkeypatch.setattr(report_job, "JOB", broken)
    run_dir = tmp_path / "run"
    state = Session.create(
        run_config(classification_csv, "species", run_dir, max_iterations=0)
    ).run()
    assert state.phase == "done" and state.final.status == "success"
    report = run_dir / "report"
    assert (report / "report_job" / "report.py").read_text() == broken.script  # it ran
    assert not (report / "report_job" / report_job.WRITTEN_FILE).exists()  # and wrote nothing
    assert (report / "report.md").is_file() and (report / "dashboard.html").is_file()
    plots = {path.stem for path in (report / "plots").glob("*.png")}
    assert {"progress", "importance", "confusion_matrix"} <= plots


def test_a_hung_report_child_is_stopped_and_the_session_writes_the_report(
    classification_csv, tmp_path, monkeypatch
):
    from ml_autopilot.reporting import report_job
    from ml_autopilot.reporting.child_job import ChildJob

    hung = ChildJob(report_job.JOB_FOLDER, report_job.SCRIPT_NAME, "import time\ntime.sleep(600)\n")
    monkeypatch.setattr(report_job, "JOB", hung)
    monkeypatch.setattr(report_job, "DRAW_SECONDS", 2.0)
    run_dir = tmp_path / "run"
    started = time.monotonic()
    state = Session.create(
        run_config(classification_csv, "species", run_dir, max_iterations=0)
    ).run()
    assert time.monotonic() - started < 120  # not the child's own timeout (over 600 s)
    assert state.phase == "done" and (run_dir / "report" / "report.md").is_file()
    assert (run_dir / "report" / "dashboard.html").is_file()


def test_saved_script_reproduces_its_metrics(classification_csv, tmp_path):
    run_dir = tmp_path / "run"
    state = Session.create(
        run_config(classification_csv, "species", run_dir, max_iterations=1)
    ).run()
    record = state.experiments[1]
    script = Path(record.result.script_path)
    done = subprocess.run(
        [sys.executable, script.name],
        cwd=script.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    again = json.loads(done.stdout.strip().splitlines()[-1])
    assert again["cv_score"] == pytest.approx(record.result.cv_score, abs=1e-12)
    assert again["fold_scores"] == pytest.approx(record.result.fold_scores, abs=1e-12)


def test_crash_and_hang_do_not_stop_the_loop(regression_csv, tmp_path):
    run_dir = tmp_path / "run"
    planner = ScriptedPlanner(
        [
            spec("crashes", "kneighbors", {"n_neighbors": 5000}),  # more neighbours than rows
            spec("hangs", "catboost", {"iterations": 20000, "depth": 10, "learning_rate": 0.01}),
            spec("works", "ridge", {"alpha": 1.0}),
        ]
    )
    config = run_config(regression_csv, "price", run_dir, max_iterations=5, experiment_timeout=20.0)
    state = Session.create(config, planner=planner).run()
    statuses = {r.spec.name: r.result.status for r in state.experiments}
    assert statuses == {
        "baseline": "success",
        "crashes": "failed",
        "hangs": "timeout",
        "works": "success",
    }
    by_name = {r.spec.name: r.result for r in state.experiments}
    crashed = by_name["crashes"]
    assert "n_neighbors" in crashed.error or "n_samples" in crashed.error
    hung = by_name["hangs"]
    assert hung.duration < 35 and "timeout" in hung.error
    assert state.termination_reason == "the planner has nothing left worth trying"
    assert state.phase == "done" and state.final.status == "success"
    assert sorted(r.spec.name for r in planner.seen) == ["baseline", "crashes", "hangs", "works"]


def test_invalid_spec_is_recorded_not_run(regression_csv, tmp_path):
    run_dir = tmp_path / "run"
    planner = ScriptedPlanner([spec("bogus", "deep_forest_9000", {})])
    state = Session.create(run_config(regression_csv, "price", run_dir), planner=planner).run()
    bogus = state.experiments[1]
    assert bogus.spec.model == "deep_forest_9000"  # recorded as asked, never swapped
    assert bogus.result.status == "failed"
    assert bogus.result.error.startswith("invalid spec: unknown model")
    assert not list((run_dir / "experiments").glob("001_*"))


def test_resume_continues_numbering_without_repeats(regression_csv, tmp_path):
    run_dir = tmp_path / "run"
    first = Session.create(run_config(regression_csv, "price", run_dir, max_iterations=1)).run()
    assert first.phase == "done"
    state = load_state(run_dir)
    state.phase = "iterating"  # as if stopped before the last iterations
    state.final = None
    state.config = state.config.model_copy(update={"max_iterations": 3})
    from ml_autopilot.state import save_state

    save_state(state, run_dir)
    resumed = Session.resume(run_dir).run()
    iterations = [r.iteration for r in resumed.experiments]
    assert iterations == list(range(len(iterations)))
    assert len(iterations) > len(first.experiments)
    assert len({r.spec.name for r in resumed.experiments}) == len(iterations)
    assert resumed.experiments[: len(first.experiments)] == first.experiments
    assert resumed.phase == "done"
    assert isinstance(Session.resume(run_dir).planner, OptimizerPlanner)


def test_two_workers_run_experiments_concurrently(regression_csv, tmp_path):
    run_dir = tmp_path / "run"
    config = run_config(regression_csv, "price", run_dir, max_iterations=4, workers=2, n_threads=2)
    assert config.threads_per_experiment == 1
    state = Session.create(config).run()
    records = [r for r in state.experiments if r.spec.source != "ensemble"]
    assert len(records) == 5
    assert [r.iteration for r in state.experiments] == list(range(len(state.experiments)))
    assert len({r.spec.name for r in state.experiments}) == len(state.experiments)
    spans = [(r.started_at, r.finished_at) for r in records[1:]]
    overlapping = any(a[0] < b[1] and b[0] < a[1] for a, b in itertools.pairwise(spans))
    assert overlapping, spans
    # the first design ran beside the baseline, which is still recorded first
    assert records[0].spec.source == "baseline"
    assert records[1].started_at <= records[0].finished_at
    assert records[1].spec.source == "portfolio"
    assert all(r.spec.direction for r in records[1:])
    assert state.directions and all(d.status == "closed" for d in state.directions)


def test_an_experiment_that_overtakes_another_gets_the_folder_of_its_record(
    classification_csv, tmp_path
):
    """Folders are numbered at launch and records as experiments finish: a quick experiment
    launched second but finished first is #1, and so are its folder and its script's header."""
    run_dir = tmp_path / "run"
    planner = ScriptedPlanner(
        [
            spec("slow_forest", "random_forest", {"n_estimators": 500}),
            spec("quick_tree", "decision_tree", {"max_depth": 3}),
        ]
    )
    config = run_config(classification_csv, "species", run_dir, max_iterations=2, workers=2)
    state = Session.create(config, planner=planner).run()
    by_name = {r.spec.name: r for r in state.experiments}
    assert by_name["quick_tree"].iteration == 1 and by_name["slow_forest"].iteration == 2
    folders = set()
    for record in state.experiments:
        if record.spec.model == "ensemble":
            continue
        script = Path(record.result.script_path)
        assert script.parent.name == f"{record.iteration:03d}_{record.spec.name}"
        header = script.read_text().splitlines()[0]
        assert header.startswith(f'"""ML Autopilot experiment {record.iteration}:'), header
        assert (script.parent / "oof.npy").is_file()
        folders.add(script.parent)
    assert set((run_dir / "experiments").iterdir()) == folders
    reproduced = subprocess.run(
        [sys.executable, script.name], cwd=script.parent, capture_output=True, text=True
    )
    assert reproduced.returncode == 0, reproduced.stderr[-2000:]


def test_a_blend_that_beats_the_best_lifts_a_plateau(classification_csv, tmp_path, monkeypatch):
    """Single models stall, but their blend is a clear gain: the search goes on past it."""
    from ml_autopilot.reporting import importance_job

    run_dir = tmp_path / "run"
    signals: list[tuple[Path | None, bool]] = []  # (file named, scored blend saved yet)
    real_signal = importance_job.mark_model_ready

    def recorded(folder: Path, model_file: Path | None = None) -> None:
        signals.append((model_file, (run_dir / "final" / "model.pkl").exists()))
        real_signal(folder, model_file)

    monkeypatch.setattr(importance_job, "mark_model_ready", recorded)
    planner = ScriptedPlanner(
        [
            spec("nb", "gaussian_nb", {}),
            spec("forest", "random_forest", {"n_estimators": 60}),
            spec("trees", "extra_trees", {"n_estimators": 60}),
        ]
    )
    config = run_config(
        classification_csv,
        "species",
        run_dir,
        metric="log_loss",
        plateau=1,
        max_iterations=3,
        workers=1,
    )
    state = Session.create(config, planner=planner).run()
    names = [r.spec.name for r in state.experiments]
    blends = [r for r in state.experiments if r.spec.model == "ensemble"]
    assert blends, names
    first = blends[0]
    before = [r for r in state.experiments if r.iteration < first.iteration]
    best_single = min(r.result.cv_score for r in before if r.result.status == "success")
    assert first.result.cv_score <= best_single * (1 - config.min_improvement)
    # the search went on after the blend lifted the plateau
    assert any(r.spec.model != "ensemble" for r in state.experiments[first.iteration + 1 :])
    assert len(set(names)) == len(names)
    # the best is a blend: every member refit on all rows too, then blended
    final = state.final
    assert final.name == state.best().spec.name and final.name.startswith("ensemble")
    members = state.experiments[final.iteration].spec.params["members"]
    refit = sorted((run_dir / "final" / "all_rows" / "members").iterdir())
    assert len(refit) == len(members) and final.trained_rows == 160
    assert Path(final.model_path) == run_dir / "final" / "all_rows" / "model.pkl"
    # the saved blend holds its members' files as written, not unpickled and pickled again
    saved = Path(final.model_path).read_bytes()
    assert all((folder / "model.pkl").read_bytes() in saved for folder in refit)
    blend = load_bundle(Path(final.model_path))
    raw = pd.read_csv(classification_csv).drop(columns="species").head(20)
    features = prepare_features(raw, blend["numeric_columns"], blend["categorical_columns"])
    expected = sum(
        weight * load_bundle(folder / "model.pkl")["pipeline"].predict_proba(features)
        for folder, weight in zip(refit, blend["pipeline"].weights, strict=True)
    )
    assert np.allclose(blend["pipeline"].predict_proba(features), expected)
    # the importance child was told of the all-rows file before the holdout was scored (the
    # scored blend is saved after), and explained it
    assert signals == [(run_dir / "final" / "all_rows" / "model.pkl", False), (None, True)]
    importance = json.loads((run_dir / "report" / "importance.json").read_text("utf-8"))
    assert importance["features"] and importance["metric"] == "log_loss"


def test_a_blend_that_did_not_lift_the_plateau_is_the_final_blend_not_selected_again(
    classification_csv, tmp_path, monkeypatch
):
    """The plateau's blend over the same successes is the end's blend: selected once."""
    import ml_autopilot.session as session_module

    calls = []
    real = session_module.ensemble_experiment

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(session_module, "ensemble_experiment", counted)
    planner = ScriptedPlanner(
        [
            spec("forest", "random_forest", {"n_estimators": 30}),
            spec("trees", "extra_trees", {"n_estimators": 30}),
        ]
    )
    config = run_config(
        classification_csv,
        "species",
        tmp_path / "run",
        metric="log_loss",
        plateau=1,
        min_improvement=0.99,  # no blend can lift the plateau
        max_iterations=3,
        workers=1,
    )
    state = Session.create(config, planner=planner).run()
    assert state.termination_reason.startswith("plateau")
    blends = [r for r in state.experiments if r.spec.model == "ensemble"]
    assert len(calls) == 1 and len(blends) == 1  # the end reused the plateau's blend
    assert blends[0].iteration == len(state.experiments) - 1


def test_a_gain_that_ends_after_the_plateau_was_reached_resumes_the_search(
    regression_csv, tmp_path
):
    """Two workers: the forest is still running when an invalid design reaches the plateau
    (failures count); when the forest ends as a clear gain, the count starts again and the
    search goes on instead of stopping with a result that refuted the plateau."""
    run_dir = tmp_path / "run"
    planner = ScriptedPlanner(
        [
            spec("forest", "random_forest", {"n_estimators": 200}),
            spec("bogus", "deep_forest_9000", {}),  # recorded at once, while the forest runs
            spec("after", "extra_trees", {"n_estimators": 50}),
        ]
    )
    config = run_config(
        regression_csv, "price", run_dir, plateau=1, max_iterations=5, workers=2, n_threads=2
    )
    state = Session.create(config, planner=planner).run()
    by_name = {r.spec.name: r for r in state.experiments}
    baseline, forest = by_name["baseline"], by_name["forest"]
    assert by_name["bogus"].iteration < forest.iteration  # the plateau came first
    assert forest.result.cv_score < baseline.result.cv_score * (1 - config.min_improvement)
    assert "after" in by_name, [r.spec.name for r in state.experiments]


def test_a_lost_ctrl_c_is_raised_again_at_the_next_turn_of_the_loop(regression_csv, tmp_path):
    """The CLI's Ctrl+C handler sets a flag as well as raising KeyboardInterrupt (which an
    import of a compiled module can swallow); the loop raises it again and the state is
    saved as interrupted, before any search experiment starts."""
    run_dir = tmp_path / "run"
    session = Session.create(run_config(regression_csv, "price", run_dir, workers=1))
    session.interrupted = threading.Event()
    session.interrupted.set()  # as if the KeyboardInterrupt had been lost during the baseline

    with pytest.raises(KeyboardInterrupt):
        session.run()

    state = load_state(run_dir)
    assert state.termination_reason == "interrupted" and state.phase != "done"
    assert [r.spec.name for r in state.experiments] == ["baseline"]


def test_a_result_keeps_only_size_overrides_for_the_refit(tmp_path: Path) -> None:
    """Rounds found by early stopping and trees a forest grew reach the refit; nothing else."""
    payload = {
        "cv_score": 0.9,
        "refit_params": {"n_estimators": 40, "iterations": 10, "max_depth": 3, "depth": 0},
    }
    outcome = ExecutionOutcome(status="success", payload=payload)
    result = result_from_outcome(outcome, tmp_path / "experiment.py")
    assert result.refit_params == {"n_estimators": 40, "iterations": 10}


@pytest.mark.parametrize(
    ("rows", "budget", "folds"), [(160, 60.0, 5), (25_000, 60.0, 3), (25_000, 240.0, 5)]
)
def test_folds_left_unset_are_chosen_from_the_search_rows_and_stored(rows, budget, folds, tmp_path):
    """5 folds, or 3 once 20,000 rows are left for the search (25,000 rows less the 20%
    holdout) and the budget is short for them; the choice is saved with the config, so a
    resumed run keeps it."""
    data = tmp_path / "table.csv"
    make_classification_frame(rows).to_csv(data, index=False)
    run_dir = tmp_path / "run"
    config = run_config(data, "species", run_dir, folds=None, time_budget=budget)
    session = Session.create(config)
    session._load()
    assert session.state.config.folds == folds
    assert load_state(run_dir).config.folds == folds


def test_a_pruned_payload_becomes_a_pruned_result_with_its_folds(tmp_path: Path) -> None:
    """A CV the script stopped early keeps the folds it scored and its model time, and has no
    CV score (a partial mean would not compare with the others)."""
    payload = {
        "status": "pruned",
        "error": "pruned after fold 1 of 3: log_loss 0.52 is worse than 0.4",
        "fold_scores": [0.52],
        "fit_time": 3.5,
        "predict_time": 0.2,
        "model_spans": [[1.0, 4.7]],
    }
    outcome = ExecutionOutcome(status="success", payload=payload, duration=5.0)
    result = result_from_outcome(outcome, tmp_path / "experiment.py")
    assert result.status == "pruned" and result.cv_score is None
    assert result.fold_scores == [0.52] and result.fit_time == 3.5
    assert result.model_spans == [(1.0, 4.7)]
    assert result.error.startswith("pruned after fold 1 of 3")
