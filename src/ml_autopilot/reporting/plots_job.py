"""The report's plots of the search, drawn in a child process of the run's executor.

The plots that read only the experiments (progress, model comparison, improvement, and the
out-of-fold plots of the best experiment) are drawn while the final refit runs. Drawn in the
session's own process they took 1-2 s of its interpreter lock, just when the MLflow logging
of the final model and the report needed it; as a child job (``child_job.run_job``) they take
the other core. The script draws them from the saved state and writes, beside itself,
``outcomes.json``: for each plot its title, caption, and the PNG (relative to the run folder)
or why there is none. When the job fails the session draws the plots itself.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from ml_autopilot.execution.base import Executor
from ml_autopilot.log import get_logger
from ml_autopilot.reporting.child_job import ChildJob, run_job
from ml_autopilot.reporting.plots import PlotOutcome, draw_search_plots
from ml_autopilot.state import SessionState

logger = get_logger("reporting")

JOB_FOLDER = "plots_job"  # under report/: the script, its output and outcomes.json
SCRIPT_NAME = "plots.py"
OUTCOMES_FILE = "outcomes.json"
TIMEOUT_SECONDS = 30.0  # a few seconds of drawing; the session draws them itself after this
SCRIPT = '''"""The report's plots of the search, not of the final model; by ML Autopilot."""

import json
from pathlib import Path

from ml_autopilot.reporting.plots_job import draw_search_plots_to_file
from ml_autopilot.state import load_state

run_dir = Path(__file__).resolve().parents[2]  # RUN_DIR/report/plots_job/plots.py
print(json.dumps({"plots": draw_search_plots_to_file(load_state(run_dir), run_dir)}))
'''
JOB = ChildJob(JOB_FOLDER, SCRIPT_NAME, SCRIPT)


def outcomes_path(run_dir: Path) -> Path:
    return Path(run_dir) / "report" / JOB_FOLDER / OUTCOMES_FILE


def draw_search_plots_to_file(state: SessionState, run_dir: Path) -> int:
    """Draw the search plots and write their outcomes (the child's side); how many drawn."""
    rows = [
        {**asdict(o), "path": None if o.path is None else o.path.relative_to(run_dir).as_posix()}
        for o in draw_search_plots(state, run_dir).values()
    ]
    path = outcomes_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return sum(row["path"] is not None for row in rows)


def read_outcomes(run_dir: Path) -> dict[str, PlotOutcome] | None:
    """The outcomes the child wrote, with paths under ``run_dir`` (None: none readable)."""
    try:
        rows = json.loads(outcomes_path(run_dir).read_text(encoding="utf-8"))
        for row in rows:
            row["path"] = None if row["path"] is None else Path(run_dir) / row["path"]
        return {row["key"]: PlotOutcome(**row) for row in rows}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.debug("plots: no outcomes from the child job: %s", exc)
        return None


def search_plots_in_child(
    executor: Executor, state: SessionState, run_dir: Path
) -> dict[str, PlotOutcome] | None:
    """Run the plots script through ``executor`` (it reads the saved state); the plots it
    drew, or None when it failed (the caller then draws them itself)."""
    outcomes_path(run_dir).unlink(missing_ok=True)  # never read a file from an earlier end
    outcome = run_job(executor, state, run_dir, JOB, TIMEOUT_SECONDS)
    if outcome.status != "success":
        logger.info("plots: the child job failed (%s); drawing them here", outcome.error)
        return None
    return read_outcomes(run_dir)
