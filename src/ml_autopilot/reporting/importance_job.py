"""The final model's feature importance, computed in a child process of the run's executor.

Permutation importance is a few seconds of predictions with the final model. In the session's
own process it shared the interpreter lock with the MLflow logging of the same moment, and
loading the model there cost the imports of its libraries; run as a child job
(``child_job.run_job``) it takes the other core. The script computes the importances from the
saved state (``importance.write_importance``) and writes ``report/importance.json``, which the
session then reads; when the script fails, the session writes the reason there instead.

The child can be started before the final model exists (``wait_seconds``): it imports its
modules beside the final refit, then waits for ``mark_model_ready`` (a file in its folder)
before it reads the state and the model. Its start-up then costs nothing after the refit but
loading the model: 0.5-0.8 s less between the refit and the first prediction. The signal may
name the model file (a path inside the run folder): a blend's all-rows file is saved before the
session scores the holdout and records the final model, and the child loads it meanwhile.
"""

from __future__ import annotations

from pathlib import Path

from ml_autopilot.execution.base import Executor
from ml_autopilot.reporting.child_job import ChildJob, clear_signals, run_job, send_signal
from ml_autopilot.reporting.importance import (
    ImportanceResult,
    importance_path,
    read_importance,
    save_importance,
    time_budget,
)
from ml_autopilot.state import SessionState

JOB_FOLDER = "importance_job"  # under report/: the script and its captured output
SCRIPT_NAME = "importance.py"
READY_FILE = "model_ready"  # written once the final model and the state that names it are saved
START_SECONDS = 15.0  # loading the state, the data and the model, beyond the compute budget
SCRIPT = '''"""Permutation importance of this run's final model; written by ML Autopilot."""

import json
from pathlib import Path

from ml_autopilot.reporting.child_job import wait_for_signal
from ml_autopilot.reporting.importance import write_importance
from ml_autopilot.state import load_state

job_dir = Path(__file__).resolve().parent
run_dir = job_dir.parents[1]  # RUN_DIR/report/importance_job/importance.py
model_file = wait_for_signal(job_dir, "model_ready")  # started beside the final refit
_, result = write_importance(load_state(run_dir), run_dir, model_file or None)
print(json.dumps({"available": result.unavailable is None}))
'''
JOB = ChildJob(JOB_FOLDER, SCRIPT_NAME, SCRIPT, signals=(READY_FILE,))


def importance_in_child(
    executor: Executor, state: SessionState, run_dir: Path, wait_seconds: float | None = None
) -> tuple[Path, ImportanceResult]:
    """Run the importance script through ``executor``; ``report/importance.json`` and the
    result the script wrote there, or why there is none (the script failed or timed out: the
    file then says so, and so does the report).

    With ``wait_seconds`` the final model is not saved yet: the caller has called
    ``clear_model_ready`` first (in its own thread, so that it cannot undo the signal), and
    the script waits (at most that long, beyond its own time) until ``mark_model_ready`` is
    called; without it, it starts at once."""
    if wait_seconds is None:
        mark_model_ready(run_dir)
    timeout = run_seconds(state) + (wait_seconds or 0.0)
    outcome = run_job(executor, state, run_dir, JOB, timeout)
    if outcome.status != "success":
        why = outcome.error or outcome.status
        return save_importance(
            ImportanceResult(unavailable=f"it could not be computed ({why})"), run_dir
        )
    result = read_importance(run_dir)
    if result is None:
        return save_importance(
            ImportanceResult(unavailable="its result could not be read"), run_dir
        )
    return importance_path(run_dir), result


def run_seconds(state: SessionState) -> float:
    """How long the script may take once the final model is ready."""
    return START_SECONDS + 5 * time_budget(state)


def clear_model_ready(run_dir: Path) -> None:
    """Remove the signal an earlier attempt left (a resumed run), before a waiting start."""
    clear_signals(run_dir, JOB)


def mark_model_ready(run_dir: Path, model_file: Path | None = None) -> None:
    """Let a waiting importance script go on: the final model and the state are saved, or
    ``model_file`` (inside ``run_dir``) is saved and will be the final model once the state
    records it (not signalled when that file is outside ``run_dir``: the state then tells).
    Sent again, the signal keeps the file it first named."""
    text = ""
    if model_file is not None:
        try:
            text = str(Path(model_file).resolve().relative_to(Path(run_dir).resolve()))
        except ValueError:
            return
    send_signal(run_dir, JOB, READY_FILE, text)
