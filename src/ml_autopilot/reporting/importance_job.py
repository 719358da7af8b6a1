"""The final model's feature importance, computed in a child process of the run's executor.

Permutation importance is a few seconds of predictions with the final model. In the session's
own process it shared the interpreter lock with the MLflow logging of the same moment, and
loading the model there cost the imports of its libraries; run through the executor (with the
default warm executor, a fork of the zygote that has those libraries loaded) it takes the
other core. The script is fixed text: no value in it comes from the data, a spec or a user. It
finds the run folder from its own location, computes the importances from the saved state
(``importance.write_importance``) and writes ``report/importance.json``, which the session
then reads; when the script fails, the session writes the reason there instead.
"""

from __future__ import annotations

from pathlib import Path

from ml_autopilot.execution.base import ExecutionRequest, Executor
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


def importance_in_child(
    executor: Executor, state: SessionState, run_dir: Path
) -> tuple[Path, ImportanceResult]:
    """Run the importance script through ``executor``; ``report/importance.json`` and the
    result the script wrote there, or why there is none (the script failed or timed out: the
    file then says so, and so does the report)."""
    folder = Path(run_dir) / "report" / JOB_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / SCRIPT_NAME
    script.write_text(SCRIPT, encoding="utf-8")
    outcome = executor.run(
        ExecutionRequest(
            script=script,
            workdir=folder,
            timeout=START_SECONDS + 5 * time_budget(state),
            n_threads=1,
            memory_limit_mb=state.config.memory_limit_mb,
        )
    )
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
