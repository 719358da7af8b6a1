"""Everything visible afterwards, checked against real (tiny) runs of the engine.

Two runs are built once per module: a classification run (baseline + 2 experiments) and a
regression run with the baseline only (so the improvement plot has nothing to draw and the
report must say why). Richer situations (directions, LLM usage, failures, hostile column names)
are checked on edited copies of the classification state, rendered without rerunning anything.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from ml_autopilot.execution.local import LocalExecutor
from ml_autopilot.reporting import build as build_module
from ml_autopilot.reporting import importance as importance_module
from ml_autopilot.reporting import plots as plots_module
from ml_autopilot.reporting import report_job
from ml_autopilot.reporting.build import build_all
from ml_autopilot.reporting.child_job import send_signal
from ml_autopilot.reporting.dashboard import render_dashboard, write_dashboard
from ml_autopilot.reporting.importance import compute_importance, read_importance
from ml_autopilot.reporting.importance_job import (
    READY_FILE,
    SCRIPT,
    clear_model_ready,
    importance_in_child,
    mark_model_ready,
)
from ml_autopilot.reporting.report import render_report
from ml_autopilot.reporting.report_job import report_in_child, search_plots_drawn
from ml_autopilot.reporting.summary import holdout_gap
from ml_autopilot.session import Session
from ml_autopilot.state import (
    Constraints,
    ExperimentRecord,
    ExperimentResult,
    ExperimentSpec,
    LlmCall,
    LlmUsage,
    ProfileWarning,
    ResearchDirection,
    SessionState,
    SteeringNote,
    load_state,
    save_state,
)
from tests.conftest import make_classification_frame, make_regression_frame, run_config

NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?")
UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class Run:
    state: SessionState
    run_dir: Path
    outputs: dict[str, Path]

    @property
    def report(self) -> str:
        return self.outputs["report"].read_text(encoding="utf-8")


def _run(root: Path, csv: Path, target: str, **overrides: object) -> Run:
    run_dir = root / "run"
    state = Session.create(run_config(csv, target, run_dir, **overrides)).run()
    return Run(state, run_dir, build_all(state, run_dir))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Both runs, built side by side (each experiment is its own single-threaded process)."""
    cls_root, reg_root = tmp_path_factory.mktemp("cls"), tmp_path_factory.mktemp("reg")
    make_classification_frame().to_csv(cls_root / "classes.csv", index=False)
    make_regression_frame().to_csv(reg_root / "prices.csv", index=False)
    with ThreadPoolExecutor(max_workers=2) as pool:
        cls = pool.submit(_run, cls_root, cls_root / "classes.csv", "species", max_iterations=2)
        reg = pool.submit(_run, reg_root, reg_root / "prices.csv", "price", max_iterations=0)
        return {"cls": cls.result(), "reg": reg.result()}


@pytest.fixture(scope="module")
def cls_run(runs: dict[str, Run]) -> Run:
    return runs["cls"]


@pytest.fixture(scope="module")
def reg_run(runs: dict[str, Run]) -> Run:
    return runs["reg"]


def section(text: str, title: str) -> str:
    """The body of one ``## title`` section."""
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def moved_state(run_dir: Path) -> SessionState:
    """The state of a run folder copied to ``run_dir``, pointing at the copy."""
    state = load_state(run_dir)
    state.config = state.config.model_copy(update={"output_dir": str(run_dir)})
    return state


# ---- the report ------------------------------------------------------------------------------


def test_build_all_writes_every_artifact(cls_run: Run) -> None:
    outputs = cls_run.outputs
    report_dir = cls_run.run_dir / "report"
    assert outputs["report"] == report_dir / "report.md"
    assert outputs["dashboard"] == report_dir / "dashboard.html"
    assert outputs["importance"] == report_dir / "importance.json"
    expected = {"progress", "models", "improvement", "importance", "confusion_matrix", "roc"}
    assert {k.removeprefix("plot:") for k in outputs if k.startswith("plot:")} == expected


def test_report_sections_come_in_order(cls_run: Run) -> None:
    titles = re.findall(r"^## (.+)$", cls_run.report, flags=re.MULTILINE)
    assert titles == [
        "Executive Summary",
        "Dataset Overview",
        "Methodology",
        "Experiment Results",
        "Best Model",
        "Key Insights",
        "Visualizations",
        "Recommendations",
        "Appendix",
    ]


def test_best_cv_and_holdout_numbers_match_state_json(cls_run: Run) -> None:
    raw = json.loads((cls_run.run_dir / "state.json").read_text(encoding="utf-8"))
    results = [e["result"] for e in raw["experiments"]]
    scores = [r["cv_score"] for r in results if r["status"] == "success"]
    best = max(scores)  # f1: higher is better
    holdout = raw["final"]["holdout_score"]
    summary_numbers = set(NUMBER.findall(section(cls_run.report, "Executive Summary")))
    best_model_numbers = set(NUMBER.findall(section(cls_run.report, "Best Model")))
    assert f"{best:.6g}" in summary_numbers
    assert f"{holdout:.6g}" in summary_numbers
    assert {f"{best:.6g}", f"{holdout:.6g}"} <= best_model_numbers
    for name, value in raw["final"]["holdout_metrics"].items():
        row = next(line for line in cls_run.report.splitlines() if line.startswith(f"| {name}"))
        assert f"{value:.6g}" in NUMBER.findall(row)


def test_experiment_table_lists_every_experiment_with_its_score(cls_run: Run) -> None:
    body = section(cls_run.report, "Experiment Results")
    for record in cls_run.state.experiments:
        row = next(line for line in body.splitlines() if f"| {record.spec.name} |" in line)
        assert f"{record.result.cv_score:.6g} ± {record.result.cv_std:.6g}" in row
        assert record.result.status in row


def test_dataset_and_methodology_describe_the_run(cls_run: Run) -> None:
    overview = section(cls_run.report, "Dataset Overview")
    for column in ("signal", "noise", "colour"):
        assert f"| {column} |" in overview
    noise = cls_run.state.profile.column("noise")  # type: ignore[union-attr]
    assert f"{noise.pct_missing:.6g}%" in overview
    methodology = section(cls_run.report, "Methodology")
    assert "3-fold" in methodology
    assert f"({cls_run.state.data.n_holdout} rows)" in methodology  # type: ignore[union-attr]
    assert cls_run.state.termination_reason in methodology
    assert "| Planner | optimizer |" in methodology


def test_insights_and_recommendations_are_derived_from_the_run(cls_run: Run) -> None:
    insights = section(cls_run.report, "Key Insights")
    assert "per model family" in insights
    assert f"All {len(cls_run.state.experiments)} experiments ran successfully" in insights
    assert section(cls_run.report, "Recommendations").count("\n- ") >= 1


def test_visualizations_embed_relative_pngs(cls_run: Run) -> None:
    body = section(cls_run.report, "Visualizations")
    images = re.findall(r"!\[[^\]]*\]\((plots/[a-z_]+\.png)\)", body)
    assert len(images) == 6
    for relative in images:
        assert (cls_run.run_dir / "report" / relative).is_file()
    assert "out-of-fold" in body


def test_plots_are_valid_non_trivial_pngs(cls_run: Run, reg_run: Run) -> None:
    paths = [
        p for run in (cls_run, reg_run) for k, p in run.outputs.items() if k.startswith("plot:")
    ]
    assert len(paths) >= 10
    for path in paths:
        width, height = png_size(path)
        assert width >= 500 and height >= 300, path
        assert path.stat().st_size > 15_000, path


def test_regression_report_draws_oof_plots_and_says_why_a_plot_is_missing(reg_run: Run) -> None:
    assert {"plot:predicted_vs_actual", "plot:residuals"} <= set(reg_run.outputs)
    assert "plot:improvement" not in reg_run.outputs
    body = section(reg_run.report, "Visualizations")
    assert "plots/improvement.png" not in body
    assert "*Not drawn: there is no successful baseline or no successful experiment" in body
    assert "rmse (lower is better)" in reg_run.report


def test_an_ensembles_oof_is_the_weighted_blend_of_its_members(cls_run: Run) -> None:
    state = cls_run.state.model_copy(deep=True)
    first, second = state.experiments[0], state.experiments[1]
    ensemble = ExperimentRecord(
        iteration=len(state.experiments),
        spec=ExperimentSpec(
            name="blend_test",
            model="ensemble",
            params={"members": [0, 1], "weights": [0.75, 0.25]},
            hypothesis="A blend beats both.",
            reasoning="Greedy selection.",
        ),
        result=ExperimentResult(status="success", cv_score=2.0, cv_std=0.0),
        started_at=first.started_at,
        finished_at=first.finished_at,
    )
    state.experiments.append(ensemble)
    record, blend = plots_module._best_oof(state, cls_run.run_dir)
    expected = 0.75 * np.load(plots_module.oof_path(cls_run.run_dir, first)) + 0.25 * np.load(
        plots_module.oof_path(cls_run.run_dir, second)
    )
    assert record is ensemble
    np.testing.assert_allclose(blend, expected)
    state.final = None
    best_model = section(render_report(state, cls_run.run_dir), "Best Model")
    assert "**Ensemble of:** `baseline` (iteration 0" in best_model
    assert "weight 0.75" in best_model and "weight 0.25" in best_model


# ---- feature importance --------------------------------------------------------------------


def test_importance_is_on_raw_columns_measured_on_training_rows(cls_run: Run) -> None:
    raw = json.loads(cls_run.outputs["importance"].read_text(encoding="utf-8"))
    columns = [f["column"] for f in raw["features"]]
    assert sorted(columns) == ["colour", "noise", "signal"]
    assert columns.index("signal") < columns.index("noise")
    assert raw["metric"] == "f1" and raw["n_repeats"] == 5
    assert raw["n_rows"] == raw["n_train_rows"] == cls_run.state.data.n_train  # type: ignore[union-attr]
    assert raw["seconds"] < 10
    # one span per prediction: 2 cost probes, the baseline and 3 columns x 5 repeats batched
    spans = raw["model_spans"]
    assert 3 <= len(spans) <= 4 + 15 and all(start <= end for start, end in spans)
    assert "not on the holdout" in raw["data_note"]
    best_model = section(cls_run.report, "Best Model")
    assert "not on the holdout" in best_model
    assert f"| 1 | {columns[0]} |" in best_model


def test_importance_falls_back_when_the_model_is_missing(cls_run: Run, tmp_path: Path) -> None:
    state = cls_run.state.model_copy(deep=True)
    state.final.model_path = str(tmp_path / "gone.pkl")  # type: ignore[union-attr]
    result = compute_importance(state, cls_run.run_dir)
    assert not result.ok and "missing" in (result.unavailable or "")
    state.final = None
    result = compute_importance(state, cls_run.run_dir)
    text = render_report(state, cls_run.run_dir, importance=result)
    assert "Not available: the run has no final model" in text


def test_importance_uses_fewer_rows_when_it_would_run_too_long(
    reg_run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importance_module, "TIME_BUDGET_SECONDS", 1e-6)
    monkeypatch.setattr(importance_module, "MIN_ROWS", 50)
    monkeypatch.setattr(importance_module, "OVERRUN", 1e12)  # never skipped here
    result = compute_importance(reg_run.state, reg_run.run_dir)
    assert result.ok and result.n_rows == 50 < result.n_train_rows
    assert result.n_repeats == 1  # a pass on fewer rows still costs its fixed overhead
    assert result.metric == "rmse"


def test_importance_in_a_child_process_writes_the_same_file(reg_run: Run, tmp_path: Path) -> None:
    run_dir = tmp_path / "copy"
    shutil.copytree(reg_run.run_dir, run_dir)
    (run_dir / "report" / "importance.json").unlink()
    path, result = importance_in_child(LocalExecutor(), reg_run.state, run_dir)
    assert path == run_dir / "report" / "importance.json"
    assert result.ok and result.metric == "rmse"
    assert read_importance(run_dir) == result
    script = run_dir / "report" / "importance_job" / "importance.py"
    assert str(tmp_path) not in script.read_text(encoding="utf-8")  # fixed text, no literals
    (run_dir / "state.json").unlink()  # the script fails: the report says why
    _, failed = importance_in_child(LocalExecutor(), reg_run.state, run_dir)
    assert failed.unavailable and failed.unavailable.startswith("it could not be computed")
    assert read_importance(run_dir) == failed  # the report reads the reason from the file


def test_an_importance_child_started_early_waits_for_the_final_model(
    reg_run: Run, tmp_path: Path
) -> None:
    """Started beside the final refit, the script loads its modules, then waits for the
    session's signal before it reads the state and the model."""
    run_dir = tmp_path / "copy"
    shutil.copytree(reg_run.run_dir, run_dir)
    (run_dir / "report" / "importance.json").unlink()
    (run_dir / "report" / "importance_job" / READY_FILE).touch()  # left by an earlier attempt
    clear_model_ready(run_dir)
    with ThreadPoolExecutor(max_workers=1) as pool:
        job = pool.submit(importance_in_child, LocalExecutor(), reg_run.state, run_dir, 60.0)
        time.sleep(3.0)  # long enough for the script to have finished, had it not waited
        assert not job.done() and not (run_dir / "report" / "importance.json").exists()
        mark_model_ready(run_dir)
        _, result = job.result(timeout=60)
    assert result.ok and read_importance(run_dir) == result
    assert READY_FILE in SCRIPT  # the script waits for the file this module writes


def test_an_importance_child_told_of_the_model_file_goes_on_before_the_state_names_it(
    reg_run: Run, tmp_path: Path
) -> None:
    """A blend's all-rows file is saved before the session records the final model: the
    signal names the file, and the child explains it with a state that has no final yet."""
    run_dir = tmp_path / "copy"
    shutil.copytree(reg_run.run_dir, run_dir)
    (run_dir / "report" / "importance.json").unlink()
    model = Path(reg_run.state.final.model_path)  # type: ignore[union-attr]
    model_file = run_dir / model.relative_to(reg_run.run_dir)
    state = moved_state(run_dir)
    state.final = None
    save_state(state, run_dir)
    clear_model_ready(run_dir)
    with ThreadPoolExecutor(max_workers=1) as pool:
        job = pool.submit(importance_in_child, LocalExecutor(), state, run_dir, 60.0)
        mark_model_ready(run_dir, model_file)
        mark_model_ready(run_dir)  # the usual signal once the state is saved keeps the file
        _, result = job.result(timeout=60)
    assert result.ok and result.metric == "rmse" and read_importance(run_dir) == result
    signal = run_dir / "report" / "importance_job" / READY_FILE
    assert signal.read_text(encoding="utf-8") == str(model_file.relative_to(run_dir))

    signal.unlink()  # a file outside the run folder is never named: the state will tell
    mark_model_ready(run_dir, tmp_path / "elsewhere.pkl")
    assert not signal.exists()
    outside = compute_importance(state, run_dir, "../elsewhere.pkl")
    assert outside.unavailable == "the model file ../elsewhere.pkl is not in the run folder"


def test_importance_stays_in_process_when_scripts_cannot_see_the_run_folder(
    reg_run: Run, tmp_path: Path
) -> None:
    from ml_autopilot.execution.dask_executor import DaskExecutor

    run_dir = tmp_path / "copy"
    shutil.copytree(reg_run.run_dir, run_dir)
    shutil.rmtree(run_dir / "report" / "importance_job")  # left by the session's own end
    state = moved_state(run_dir)
    executor = DaskExecutor(n_workers=1)  # its workers may not see the run folder
    try:
        _, result = Session(state, executor=executor)._timed_importance()
    finally:
        executor.close()
    assert result.ok and not (run_dir / "report" / "importance_job").exists()
    assert executor.stats.tasks == 0


def _wait_until(condition: Callable[[], bool], job: Future[object]) -> None:
    """Poll ``condition`` for up to a minute; fail if the job ends first."""
    deadline = time.monotonic() + 60
    while not condition():
        assert not job.done(), job.result()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_report_child_draws_ahead_then_waits_for_each_input(
    cls_run: Run, tmp_path: Path
) -> None:
    """It draws the search plots once the search is signalled over, the dashboard once the
    final model is, and the importance plot and report once the importance is; all as drawn
    in-process."""
    assert (cls_run.run_dir / "report" / "report_job" / "written.json").is_file()  # the session's
    run_dir = tmp_path / "copy"
    shutil.copytree(cls_run.run_dir, run_dir)
    report = run_dir / "report"
    shutil.rmtree(report / "plots")
    shutil.rmtree(report / "report_job")
    (report / "report.md").unlink()
    (report / "dashboard.html").unlink()
    report_job.clear_earlier_end(run_dir)
    with ThreadPoolExecutor(max_workers=1) as pool:
        job = pool.submit(report_in_child, LocalExecutor(), cls_run.state, run_dir, 120.0)
        time.sleep(3.0)
        assert not (report / "plots").exists()  # it waits for the search to end
        report_job.search_ready(run_dir)
        _wait_until((report / "report_job" / report_job.SEARCH_PLOTS_FILE).exists, job)
        time.sleep(1.0)
        assert not (report / "dashboard.html").exists()  # it waits for the final model
        report_job.final_ready(load_state(run_dir), run_dir)
        _wait_until((report / "dashboard.html").exists, job)
        time.sleep(1.0)
        assert not (report / "report.md").exists()  # and then for the importance
        send_signal(run_dir, report_job.JOB, report_job.IMPORTANCE_READY)
        written = job.result(timeout=120)
    assert written is not None and set(written) == set(cls_run.outputs)
    assert all(path.is_file() and path.is_relative_to(run_dir) for path in written.values())
    visuals = section(written["report"].read_text(encoding="utf-8"), "Visualizations")
    assert visuals == section(cls_run.report, "Visualizations")  # same plots, same order
    drawn = search_plots_drawn(run_dir)
    here = plots_module.draw_plots(
        cls_run.state, tmp_path / "here", None, only=plots_module.search_plot_keys(cls_run.state)
    )
    assert drawn is not None
    assert (
        list(drawn)
        == list(here)
        == ["progress", "models", "improvement", "confusion_matrix", "roc"]
    )
    for key, outcome in drawn.items():
        assert (outcome.title, outcome.caption, outcome.reason) == (
            here[key].title,
            here[key].caption,
            here[key].reason,
        )
        assert outcome.path == report / "plots" / f"{key}.png"
        assert png_size(outcome.path) == png_size(here[key].path)  # type: ignore[arg-type]
    script = report / "report_job" / "report.py"
    assert str(tmp_path) not in script.read_text(encoding="utf-8")  # fixed text, no literals
    (run_dir / "state.json").unlink()  # the script fails: None, and the session writes it
    report_job.clear_earlier_end(run_dir)
    assert report_in_child(LocalExecutor(), cls_run.state, run_dir, 5.0) is None


def test_search_plots_are_drawn_in_process_when_scripts_cannot_see_the_run_folder(
    cls_run: Run, tmp_path: Path
) -> None:
    from ml_autopilot.execution.dask_executor import DaskExecutor

    run_dir = tmp_path / "copy"
    shutil.copytree(cls_run.run_dir, run_dir)
    shutil.rmtree(run_dir / "report")
    executor = DaskExecutor(n_workers=1)  # its workers may not see the run folder
    try:
        drawn = Session(moved_state(run_dir), executor=executor)._search_plots()
    finally:
        executor.close()
    assert drawn is not None and all(
        o.path == run_dir / "report" / "plots" / f"{o.key}.png" and o.path.is_file()
        for o in drawn.values()
    )
    assert not (run_dir / "report" / "report_job").exists()
    assert executor.stats.tasks == 0


def test_importance_is_skipped_when_even_one_repeat_is_too_slow(
    reg_run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importance_module, "TIME_BUDGET_SECONDS", 1e-6)
    result = compute_importance(reg_run.state, reg_run.run_dir)
    assert not result.ok and "skipped" in (result.unavailable or "")
    text = render_report(reg_run.state, reg_run.run_dir, importance=result)
    assert "skipped: one shuffle of each column would take longer" in text


# ---- CV vs holdout verdict -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shift", "expected"),
    [(0.5, "consistent"), (3.0, "holdout is better"), (-3.0, "holdout is worse")],
)
def test_gap_verdict_compares_with_two_cv_std(cls_run: Run, shift: float, expected: str) -> None:
    state = cls_run.state.model_copy(deep=True)
    record = next(r for r in state.experiments if r.iteration == state.final.iteration)  # type: ignore[union-attr]
    record.result.cv_std = 0.01
    state.final.holdout_score = record.result.cv_score + shift * 0.01  # type: ignore[union-attr,operator]
    gap = holdout_gap(state)
    assert gap is not None and gap.beyond_noise == (abs(shift) > 2)
    assert expected in gap.verdict()
    assert expected in section(render_report(state, cls_run.run_dir), "Best Model")


# ---- richer sessions -------------------------------------------------------------------------


def _failed(iteration: int, status: str, direction: str) -> ExperimentRecord:
    tail = "\n".join(f"output line {i:02d}" for i in range(30)) + "\nMemoryError: boom"
    return ExperimentRecord(
        iteration=iteration,
        spec=ExperimentSpec(
            name=f"broken_{status}",
            model="svc",
            hypothesis="A kernel model | might help\nhere",
            reasoning="Kernels fit smooth boundaries.",
            planner="optimizer",
            direction=direction,
            fallback_reason="the LLM reply was not valid JSON",
        ),
        result=ExperimentResult(status=status, error="MemoryError: boom", output_tail=tail),  # type: ignore[arg-type]
        started_at="2024-01-01T00:00:00+00:00",
        finished_at="2024-01-01T00:00:01+00:00",
    )


def _enriched(state: SessionState) -> SessionState:
    """The classification state with directions, LLM use, failures and hostile names."""
    state = state.model_copy(deep=True)
    for record in state.experiments:
        update = {"direction": "linear" if record.iteration == 0 else "boosting"}
        if record.iteration == 1:
            update |= {"planner": "llm", "reasoning": "LLM-REASONING trees split colour."}
        record.spec = record.spec.model_copy(update=update)
    n = len(state.experiments)
    state.experiments += [_failed(n, "failed", "kernels"), _failed(n + 1, "timeout", "kernels")]
    state.directions = [
        ResearchDirection(
            name="boosting",
            rationale="Trees handle the colour category.",
            learnings=["LEARNING-1 boosting is close to the baseline"],
        ),
        ResearchDirection(name="kernels", rationale="Smooth boundaries.", status="closed"),
    ]
    state.llm_usage = LlmUsage(
        model="test-llm",
        calls=[
            LlmCall(
                component="planner",
                model="test-llm",
                input_tokens=1200,
                output_tokens=340,
                cost_usd=0.0123,
            )
        ],
    )
    state.narrative = {"executive_summary": "NARRATIVE-EXEC", "other": "NARRATIVE-OTHER"}
    state.steering = [SteeringNote(text="STEER-1 try | trees\nfirst")]
    state.constraints = Constraints(preferred_models=["lightgbm"], notes=["NOTE-1 no | SVC"])
    profile = state.profile
    assert profile is not None
    profile.columns[0] = profile.columns[0].model_copy(update={"name": "evil|col\n## injected"})
    profile.warnings.append(
        ProfileWarning(kind="leakage", column="signal", message="signal predicts the target")
    )
    return state


def test_report_groups_by_direction_and_shows_llm_use(cls_run: Run) -> None:
    text = render_report(_enriched(cls_run.state), cls_run.run_dir)
    results = section(text, "Experiment Results")
    assert "### Direction: boosting" in results and "### Direction: kernels" in results
    assert "Trees handle the colour category." in results
    assert "LEARNING-1" in results
    methodology = section(text, "Methodology")
    assert "### LLM usage" in methodology
    assert "| test-llm | 1 | 0 | 1200 | 340 | 1540 | $0.0123 |" in methodology
    assert 'STEER-1 try | trees first"' in methodology
    assert "NOTE-1 no \\| SVC" in methodology
    summary_text = section(text, "Executive Summary")
    assert "#### Planner's narrative" in summary_text and "> NARRATIVE-EXEC" in summary_text
    assert "NARRATIVE-OTHER" in section(text, "Appendix")
    appendix = section(text, "Appendix")
    assert "**Reasoning (LLM planner):** LLM-REASONING" in appendix
    assert (
        "Designed by the offline planner** instead of the LLM, because: the LLM reply" in appendix
    )


def test_failures_show_status_error_and_output_tail(cls_run: Run) -> None:
    text = render_report(_enriched(cls_run.state), cls_run.run_dir)
    results = section(text, "Experiment Results")
    assert "| failed: MemoryError: boom |" in results
    assert "| timeout: MemoryError: boom |" in results
    total = len(cls_run.state.experiments) + 2
    assert f"2 of {total} experiments did not finish successfully (1 failed, 1 timed out)" in text
    appendix = section(text, "Appendix")
    assert "MemoryError: boom" in appendix
    assert "output line 11" in appendix and "output line 10" not in appendix  # last 20 lines
    recommendations = section(text, "Recommendations")
    assert "Investigate column `signal` for target leakage" in recommendations
    assert f"2 of {total} experiments failed or timed out" in recommendations


def test_a_pruned_experiment_is_counted_apart_from_the_failures(cls_run: Run) -> None:
    """Pruned is a verdict on the model, not a failure: the report, the insight and the
    dashboard count it on its own and show why it stopped."""
    state = cls_run.state.model_copy(deep=True)
    error = "pruned after fold 1 of 3: f1 0.41 is worse than 0.62, the same fold of best"
    state.experiments.append(
        ExperimentRecord(
            iteration=len(state.experiments),
            spec=ExperimentSpec(name="slow_one", model="catboost", hypothesis="h", reasoning="r"),
            result=ExperimentResult(status="pruned", fold_scores=[0.41], error=error),
            started_at="2024-01-01T00:00:00+00:00",
            finished_at="2024-01-01T00:00:01+00:00",
        )
    )
    total = len(state.experiments)
    text = render_report(state, cls_run.run_dir)
    assert "0 failed, 0 timed out, 1 pruned after a fold that could not compete)" in text
    assert "| pruned: pruned after fold 1 of 3: f1 0.41" in section(text, "Experiment Results")
    assert f"All {total - 1} experiments that ran every fold succeeded. 1 stopped early" in text
    assert "failed or timed out" not in section(text, "Recommendations")
    assert "ok / 0 failed / 1 pruned" in render_dashboard(state)


def test_hostile_names_cannot_break_tables_or_headings(cls_run: Run) -> None:
    text = render_report(_enriched(cls_run.state), cls_run.run_dir)
    assert "\n## injected" not in text
    lines = text.splitlines()
    index = 0
    while index < len(lines):  # every table row has as many cells as its header
        if lines[index].startswith("|"):
            width = len(UNESCAPED_PIPE.findall(lines[index]))
            while index < len(lines) and lines[index].startswith("|"):
                assert len(UNESCAPED_PIPE.findall(lines[index])) == width, lines[index]
                index += 1
        index += 1
    assert "evil\\|col ## injected" in section(text, "Dataset Overview")


# ---- robustness ----------------------------------------------------------------------------


def test_a_failing_plot_is_reported_not_raised(
    cls_run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> Path:
        raise RuntimeError("kaput")

    monkeypatch.setattr(plots_module, "_progress", broken)
    outputs = build_all(cls_run.state, tmp_path)
    assert "plot:progress" not in outputs and "plot:roc" in outputs
    assert "*Not drawn: it could not be drawn (RuntimeError: kaput).*" in outputs[
        "report"
    ].read_text(encoding="utf-8")


def test_build_all_survives_when_every_plot_fails(
    cls_run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> dict[str, object]:
        raise RuntimeError("no plots today")

    monkeypatch.setattr(build_module, "draw_plots", broken)
    outputs = build_all(cls_run.state, tmp_path)
    assert {"report", "dashboard", "importance"} <= set(outputs)
    assert "*Not drawn: it has not been drawn" in outputs["report"].read_text(encoding="utf-8")


def test_search_plots_drawn_ahead_make_the_same_report(cls_run: Run, tmp_path: Path) -> None:
    """The session draws every plot but the importance while the final refit runs."""
    ahead = build_module.draw_search_plots(cls_run.state, tmp_path)
    assert ahead is not None and "importance" not in ahead
    assert all(outcome.path is not None for outcome in ahead.values())
    outputs = build_all(cls_run.state, tmp_path, lambda: ahead)
    assert {key for key in outputs if key.startswith("plot:")} == {
        key for key in cls_run.outputs if key.startswith("plot:")
    }
    visuals = section(outputs["report"].read_text(encoding="utf-8"), "Visualizations")
    assert visuals == section(cls_run.report, "Visualizations")  # same plots, same order


def test_a_fresh_state_still_gets_a_report(tmp_path: Path) -> None:
    from ml_autopilot.config import RunConfig

    state = SessionState(
        run_id="fresh",
        config=RunConfig(data_path=str(tmp_path / "x.csv"), target="y", output_dir=str(tmp_path)),
    )
    outputs = build_all(state, tmp_path)
    assert "No experiment has run yet." in outputs["report"].read_text(encoding="utf-8")
    assert outputs["dashboard"].is_file()


# ---- the dashboard -------------------------------------------------------------------------


def test_dashboard_is_self_contained_and_escapes_text(cls_run: Run) -> None:
    state = _enriched(cls_run.state)
    state.experiments[-1].spec = state.experiments[-1].spec.model_copy(
        update={"name": "</script><b>x</b>"}
    )
    page = render_dashboard(state)
    assert not re.search(r"<(script|link|img)\b[^>]*\b(src|href)=", page)  # nothing fetched
    assert "Plotly" in page and len(page) > 1_000_000  # plotly.js is inline
    assert "&lt;/script&gt;&lt;b&gt;x&lt;/b&gt;" in page
    assert "</script><b>x</b>" not in page
    assert "Research directions" in page and "Trees handle the colour category." in page


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if found := shutil.which(name):
            return found
    return None


def _load_in_browser(url: str, profile: Path) -> tuple[str, list[str]]:
    """The DOM after scripts ran, and the console lines chromium logged while loading."""
    browser = _chromium()
    assert browser is not None
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
        "--virtual-time-budget=5000", "--dump-dom", url,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    return done.stdout, console


needs_chromium = pytest.mark.skipif(
    _chromium() is None,
    reason="chromium not found (apt-get install chromium) - the dashboard browser test needs it",
)


@needs_chromium
def test_console_check_catches_a_script_error(tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text("<html><body><script>notDefined();</script></body></html>")
    _, console = _load_in_browser(page.as_uri(), tmp_path / "profile")
    assert any("Uncaught" in line for line in console)


@needs_chromium
def test_dashboard_renders_in_a_headless_browser(cls_run: Run, tmp_path: Path) -> None:
    state = _enriched(cls_run.state)
    page = write_dashboard(state, tmp_path)
    dom, console = _load_in_browser(page.as_uri(), tmp_path / "profile")
    assert console == []
    visible = re.sub(r"<script\b.*?</script>", "", dom, flags=re.DOTALL)
    for record in state.experiments:
        assert f">{record.spec.name}<" in visible
    assert visible.count('class="main-svg"') >= 8  # plotly drew every figure
