"""The final model's feature importance, computed in a child process of the run's executor.

Permutation importance is a few seconds of predictions with the final model. In the session's
own process it shared the interpreter lock with the MLflow logging of the same moment, and
loading the model there cost the imports of its libraries; run as a child job
(``child_job.run_job``) it takes the other core. The script computes the importances from the
saved state (``importance.write_importance``) and writes ``report/importance.json``, which the
session then reads; when the script fails, the session writes the reason there instead.
"""

from __future__ import annotations

from pathlib import Path

from ml_autopilot.execution.base import Executor
from ml_autopilot.reporting.child_job import ChildJob, run_job
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
START_SECONDS = 15.0  # loading the state, the data and the model, beyond the compute budget
SCRIPT = '''"""Permutation importance of this run's final model; written by ML Autopilot."""

import json
from pathlib import Path

from ml_autopilot.reporting.importance import write_importance
from ml_autopilot.state import load_state

run_dir = Path(__file__).resolve().parents[2]  # RUN_DIR/report/importance_job/importance.py
_, result = write_importance(load_state(run_dir), run_dir)
print(json.dumps({"available": result.unavailable is None}))
'''
JOB = ChildJob(JOB_FOLDER, SCRIPT_NAME, SCRIPT)


def importance_in_child(
    executor: Executor, state: SessionState, run_dir: Path
) -> tuple[Path, ImportanceResult]:
    """Run the importance script through ``executor``; ``report/importance.json`` and the
    result the script wrote there, or why there is none (the script failed or timed out: the
    file then says so, and so does the report)."""
    outcome = run_job(executor, state, run_dir, JOB, START_SECONDS + 5 * time_budget(state))
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
