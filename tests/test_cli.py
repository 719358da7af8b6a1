"""The `autopilot` command as a user meets it: errors, predict, status, kill -9 and resume."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_autopilot.cli import _quiet_lost_interrupts
from ml_autopilot.state import load_state
from ml_autopilot.timing import PREDICTIONS_LOG, prediction_spans
from tests.conftest import autopilot_command, make_classification_frame

ENV = {**os.environ, "COLUMNS": "200"}


def autopilot(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        autopilot_command(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
    )


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        (None, ["missing.csv", "--target", "y"], "Data file not found"),
        ("ok", ["data.csv", "--target", "specie"], "did you mean 'species'"),
        ("constant", ["data.csv", "--target", "species"], "constant"),
        ("all_missing", ["data.csv", "--target", "species"], "missing"),
        ("ok", ["data.csv", "--target", "species", "--metric", "rmse"], "is for regression"),
        ("ok", ["data.csv", "--target", "species", "--folds", "1"], "--folds"),
        ("ok", ["data.csv", "--target", "species", "--time-budget", "10"], "--time-budget"),
    ],
)
def test_bad_input_gets_one_line_and_exit_2(tmp_path, setup, args, message):
    frame = make_classification_frame(40)
    if setup == "constant":
        frame["species"] = "Adelie"
    if setup == "all_missing":
        frame["species"] = np.nan
    if setup:
        frame.to_csv(tmp_path / "data.csv", index=False)
    args = [str(tmp_path / a) if a.endswith(".csv") else a for a in args]
    done = autopilot("run", *args, "--output-dir", str(tmp_path / "run"), timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message.lower() in done.stderr.lower()
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_run_predict_and_status(classification_csv, tmp_path):
    run_dir = tmp_path / "run"
    done = autopilot(
        "run",
        str(classification_csv),
        "--target",
        "species",
        "--output-dir",
        str(run_dir),
        "--max-iterations",
        "1",
        "--folds",
        "3",
    )
    assert done.returncode == 0, done.stderr
    assert "new best" in done.stdout and "Holdout score" in done.stdout
    status = json.loads(autopilot("status", str(run_dir), "--json").stdout)
    assert status["phase"] == "done"
    assert status["metric"] == {"name": "f1", "direction": "maximize"}
    iterations = [e["iteration"] for e in status["experiments"]]
    assert iterations == list(range(len(iterations))) and len(iterations) >= 2
    assert status["experiments"][0]["planner"] == "baseline"
    assert status["best"]["cv_score"] == max(e["cv_score"] for e in status["experiments"])
    assert status["holdout"]["score"] == load_state(run_dir).final.holdout_score
    assert status["termination_reason"]
    test_x = make_classification_frame(30, seed=5).drop(columns=["species"])
    test_x.to_csv(tmp_path / "test_X.csv", index=False)
    out = tmp_path / "preds.csv"
    before = time.time()
    assert (
        autopilot(
            "predict", str(run_dir), str(tmp_path / "test_X.csv"), "--out", str(out)
        ).returncode
        == 0
    )
    after = time.time()
    preds = pd.read_csv(out)
    assert list(preds.columns) == ["prediction", "Adelie", "Chinstrap", "Gentoo"]
    assert len(preds) == 30
    assert np.allclose(preds[["Adelie", "Chinstrap", "Gentoo"]].sum(axis=1), 1.0)
    assert set(preds["prediction"]) <= {"Adelie", "Chinstrap", "Gentoo"}
    # the prediction is logged in the run folder, with the span of the model's prediction
    [logged] = [json.loads(line) for line in (run_dir / PREDICTIONS_LOG).read_text().splitlines()]
    assert logged["rows"] == 30 and logged["output"] == str(out.resolve())
    assert logged["experiment"] == load_state(run_dir).final.name
    [(start, end)] = prediction_spans(run_dir)
    assert before < start <= end < after


def test_plateau_zero_searches_until_the_budget_is_nearly_used(classification_csv, tmp_path):
    """With the plateau rule off and a high cap, the time budget ends the search."""
    run_dir = tmp_path / "run"
    started = time.monotonic()
    done = autopilot(
        "run", str(classification_csv), "--target", "species", "--output-dir", str(run_dir),
        "--time-budget", "20", "--folds", "3", "--plateau", "0", "--max-iterations", "1000",
    )  # fmt: skip
    wall = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    state = load_state(run_dir)
    assert state.config.plateau is None
    assert state.termination_reason.startswith("time budget of 20 s")
    assert wall < 20 * 1.1 + 15


def test_predict_on_unfinished_run_is_a_clear_error(tmp_path):
    done = autopilot("predict", str(tmp_path), str(tmp_path / "x.csv"))
    assert done.returncode == 2 and "No run found" in done.stderr


def _run_command(
    data: Path, run_dir: Path, iterations: int, plateau: int, *extra: str
) -> list[str]:
    """``autopilot run`` on the classification table with 3 folds."""
    return autopilot_command(
        "run",
        str(data),
        "--target",
        "species",
        "--output-dir",
        str(run_dir),
        "--max-iterations",
        str(iterations),
        "--folds",
        "3",
        "--plateau",
        str(plateau),
        *extra,
    )


def _start(data: Path, run_dir: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        _run_command(data, run_dir, 4, 10, *extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        start_new_session=True,
        preexec_fn=_interruptible,
    )


def _interruptible() -> None:
    """Ctrl+C reaches the run as it does in a terminal: a suite started as a background job
    (``make test &``) hands its children SIGINT ignored, and the run would never see it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_kill_9_at_a_random_moment_then_resume(classification_csv, tmp_path):
    run_dir = tmp_path / "run"
    process = _start(classification_csv, run_dir)
    time.sleep(random.uniform(4.0, 16.0))
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    before = load_state(run_dir) if (run_dir / "state.json").exists() else None
    if before is None:  # killed before the first save: the run never started
        return
    resumed = autopilot("run", "--resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stderr
    after = load_state(run_dir)
    assert after.phase == "done"
    assert [r.iteration for r in after.experiments] == list(range(len(after.experiments)))
    assert len([r for r in after.experiments if r.spec.model != "ensemble"]) == 5
    assert after.experiments[: len(before.experiments)] == before.experiments
    assert len({r.spec.name for r in after.experiments}) == len(after.experiments)


def test_ctrl_c_saves_and_exits_cleanly(classification_csv, tmp_path):
    run_dir = tmp_path / "run"
    process = _start(classification_csv, run_dir)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (run_dir / "state.json").exists() and load_state(run_dir).experiments:
            break
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Resume with" in stderr and "Traceback" not in stderr
    state = load_state(run_dir)
    assert state.experiments and state.phase != "done"


def _wait_for(run_dir: Path, check, timeout: float = 180.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (run_dir / "state.json").exists():
            state = load_state(run_dir)
            if check(state):
                return state
        time.sleep(0.3)
    raise AssertionError("the running session never reached the expected state")


def test_steer_and_stop_act_on_a_running_session(classification_csv, tmp_path):
    run_dir = tmp_path / "run"
    process = subprocess.Popen(
        _run_command(classification_csv, run_dir, 40, 50, "--workers", "1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        _wait_for(run_dir, lambda s: len(s.experiments) >= 2)
        assert autopilot("steer", str(run_dir), "avoid CatBoost and XGBoost").returncode == 0
        steered = _wait_for(run_dir, lambda s: s.steering and s.steering[0].acknowledged_at)
        note = steered.steering[0]
        assert note.applied_as == "avoid catboost, xgboost"
        seen = len(steered.experiments)
        _wait_for(run_dir, lambda s: len(s.experiments) >= seen + 2)
        assert autopilot("stop", str(run_dir)).returncode == 0
        stdout, stderr = process.communicate(timeout=240)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert "Steering received" in stdout
    state = load_state(run_dir)
    assert state.termination_reason == "stop requested (autopilot stop)"
    assert state.phase == "done" and state.final.status == "success"
    assert len(state.experiments) < 30
    later = [r for r in state.experiments[seen + 1 :] if r.spec.source != "ensemble"]
    assert later and all(r.spec.model not in ("catboost", "xgboost") for r in later)
    assert "avoid CatBoost and XGBoost" in (run_dir / "report" / "report.md").read_text()
    assert not (run_dir / "control" / "stop").exists()
    assert list((run_dir / "research_directions").glob("*.md"))


def test_interactive_prompt_after_a_direction_closes(classification_csv, tmp_path):
    import pty
    import select

    run_dir = tmp_path / "run"
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        _run_command(classification_csv, run_dir, 30, 50, "--workers", "1", "--interactive"),
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=ENV,
        close_fds=True,
    )
    os.close(secondary)
    seen = b""
    deadline = time.monotonic() + 240
    try:
        while b"continue / stop" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 1.0)
            if ready:
                seen += os.read(primary, 4096)
        assert b"Direction closed" in seen, seen[-2000:]
        os.write(primary, b"stop\n")
        assert process.wait(timeout=240) == 0
    finally:
        process.kill()
        os.close(primary)
    state = load_state(run_dir)
    assert state.termination_reason == "stop requested (autopilot stop)"
    assert state.phase == "done"


def test_a_swallowed_ctrl_c_is_logged_not_printed(monkeypatch, capsys):
    """Cython writes a KeyboardInterrupt that hits its import-time patch off as unraisable; the
    run's hook keeps that traceback off the console (the session raises the interrupt again)
    and hands every other unraisable exception to the default hook. Driven through Python's
    own unraisable path: an exception raised in ``__del__``."""
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", _quiet_lost_interrupts(seen.append))

    for error in (KeyboardInterrupt(), ValueError("kept")):
        _RaisesWhenCollected(error)  # dropped at once: __del__ runs and its error is unraisable

    assert [type(u.exc_value) for u in seen] == [ValueError]
    assert capsys.readouterr().err == ""


class _RaisesWhenCollected:
    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __del__(self) -> None:
        raise self.error


def test_run_help_states_how_the_folds_are_chosen():
    """The help is Rich markup: a default written in square brackets was taken for a tag and
    dropped, so `--folds` showed no default at all."""
    done = subprocess.run(
        [*autopilot_command(), "run", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "250"},
        timeout=60,
    )
    assert done.returncode == 0
    folds = next(line for line in done.stdout.splitlines() if "--folds" in line)
    rule = "(default 5; 3 from 20,000 search rows when the budget is under 4 s per 1,000 of them)"
    assert rule in folds
