"""The report, written in a child process of the run's executor while the end phase goes on.

The child starts with the search (or, in a run resumed at its end, with the final refit) and
loads its modules (matplotlib, plotly, the report's template) at a low priority. It then waits
for the session's signals: once the search is over and saved (``SEARCH_READY``) it draws the
plots that read only the experiments (progress, model comparison, improvement, the best
experiment's out-of-fold plots); once the final model is saved (``FINAL_READY``) it writes the
dashboard; once the importance is known (``IMPORTANCE_READY``) it draws the importance plot and
writes the report (``build.build_all``). Started with the final refit, its imports alone took
0.4-0.9 s, and where the refit and importance are short (penguins: 0.2 s and 0.5 s) the child
was what the run's end waited for. Written in the session's own process, these took
1-2 s of its interpreter lock just when the MLflow logging of the final model needed it; here
they take the other core, with matplotlib and plotly loaded during the search.

The script is fixed text: it finds the run folder from its own location
(``RUN_DIR/report/report_job/report.py``), reads the saved state (for the dashboard and report,
the finished session's copy ``final_ready`` puts beside it), and writes, beside itself,
``search_plots.json`` (each search plot's title, caption, and PNG relative to the run folder,
or why there is none) and at the end ``written.json`` (what it wrote). When the job fails, the
session writes what is missing itself, with the search plots the child drew if there are any.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from ml_autopilot.atomic_file import write_text_atomically
from ml_autopilot.execution.base import Executor
from ml_autopilot.log import get_logger
from ml_autopilot.reporting.child_job import (
    ChildJob,
    clear_signals,
    job_dir,
    run_job,
    send_signal,
    wait_for_signal,
)
from ml_autopilot.state import STATE_FILE, SessionState, load_state, save_state

if TYPE_CHECKING:  # matplotlib and plotly load in the child, not in the session's process
    from ml_autopilot.reporting.importance import ImportanceResult
    from ml_autopilot.reporting.plots import PlotOutcome

logger = get_logger("reporting")

JOB_FOLDER = "report_job"  # under report/: the script, its output, and its result files
SCRIPT_NAME = "report.py"
SEARCH_PLOTS_FILE = "search_plots.json"
WRITTEN_FILE = "written.json"
SEARCH_READY = "search_ready"  # the search is over and saved (its ensemble included)
FINAL_READY = "final_ready"  # the final model and the finished session's state are saved
IMPORTANCE_READY = "importance_ready"  # report/importance.json holds the importance, or why not
DRAW_SECONDS = 60.0  # drawing and writing, beyond the waits
# The child's scheduling priority is lowered by this much: its imports run during the search,
# its plots beside the final refit and its dashboard beside the importance's loading of the
# model, none of which should wait for it. (No effect of its own was measurable in one cpu_act
# run: loading that 148 MB blend takes 0.52-0.57 s alone, 0.84-0.88 s with two other loads.)
NICENESS = 10
SCRIPT = '''"""This run's report, plots and dashboard; written by ML Autopilot."""

import json
from pathlib import Path

from ml_autopilot.reporting.report_job import write_report_when_ready

folder = Path(__file__).resolve().parent  # RUN_DIR/report/report_job/
print(json.dumps({"written": write_report_when_ready(folder)}))
'''
JOB = ChildJob(
    JOB_FOLDER, SCRIPT_NAME, SCRIPT, signals=(SEARCH_READY, FINAL_READY, IMPORTANCE_READY)
)
SEARCH_POLL_SECONDS = 0.1  # the wait through a whole search looks less often


def clear_earlier_end(run_dir: Path) -> None:
    """Remove what an earlier end left (a resumed run): signals, result files, state copy."""
    clear_signals(run_dir, JOB)
    for name in (SEARCH_PLOTS_FILE, WRITTEN_FILE, STATE_FILE):
        (job_dir(run_dir, JOB) / name).unlink(missing_ok=True)


def search_ready(run_dir: Path) -> None:
    """Let the child draw the search's plots: every experiment is in the saved state."""
    send_signal(run_dir, JOB, SEARCH_READY)


def final_ready(state: SessionState, run_dir: Path) -> None:
    """Give the child the finished session's state (a copy beside it: the run's own state
    file says "done" only once the report and the MLflow logging are done too) and let it go
    on past ``FINAL_READY``."""
    save_state(state, job_dir(run_dir, JOB))
    send_signal(run_dir, JOB, FINAL_READY)


def report_in_child(
    executor: Executor, state: SessionState, run_dir: Path, wait_seconds: float
) -> dict[str, Path] | None:
    """Run the report script through ``executor`` (the caller has called ``clear_earlier_end``
    first, and signals ``SEARCH_READY``, ``FINAL_READY`` and ``IMPORTANCE_READY`` in turn,
    within ``wait_seconds``); what it wrote, as ``build_all`` returns it, or None when it
    failed."""
    outcome = run_job(executor, state, run_dir, JOB, DRAW_SECONDS + wait_seconds)
    if outcome.status != "success":
        logger.info("report: the child job failed (%s); writing it here", outcome.error)
        return None
    return _read_paths(job_dir(run_dir, JOB) / WRITTEN_FILE, run_dir)


def search_plots_drawn(run_dir: Path) -> dict[str, PlotOutcome] | None:
    """The search plots the child drew, with paths under ``run_dir`` (None: none readable)."""
    from ml_autopilot.reporting.plots import PlotOutcome

    try:
        rows = json.loads((job_dir(run_dir, JOB) / SEARCH_PLOTS_FILE).read_text(encoding="utf-8"))
        for row in rows:
            row["path"] = None if row["path"] is None else Path(run_dir) / row["path"]
        return {row["key"]: PlotOutcome(**row) for row in rows}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.debug("report: no search plots from the child job: %s", exc)
        return None


# ---- the child's side ------------------------------------------------------------------------


def write_report_when_ready(folder: Path) -> int:
    """The script's work (see the module docstring); how many files it wrote."""
    from ml_autopilot.reporting.build import build_all, draw_search_plots
    from ml_autopilot.reporting.importance import importance_path, read_importance
    from ml_autopilot.reporting.report import report_template

    with contextlib.suppress(OSError):  # lower priority: nothing waits for the report
        os.nice(NICENESS)  # until the importance is done; the refit and importance go first
    run_dir = folder.parents[1]
    report_template()  # compiled now, while the search or the refit runs
    wait_for_signal(folder, SEARCH_READY, SEARCH_POLL_SECONDS)
    search = draw_search_plots(load_state(run_dir), run_dir)
    if search is not None:
        rows = [{**asdict(o), "path": _relative(o.path, run_dir)} for o in search.values()]
        _write_json(folder / SEARCH_PLOTS_FILE, rows)
    wait_for_signal(folder, FINAL_READY)
    state = load_state(folder)  # the finished session (final_ready)

    def importance() -> tuple[Path, ImportanceResult]:
        wait_for_signal(folder, IMPORTANCE_READY)
        result = read_importance(run_dir)
        if result is None:
            raise RuntimeError("report/importance.json could not be read")
        return importance_path(run_dir), result

    written = build_all(state, run_dir, lambda: search, importance)
    _write_json(folder / WRITTEN_FILE, {k: _relative(p, run_dir) for k, p in written.items()})
    return len(written)


def _relative(path: Path | None, run_dir: Path) -> str | None:
    return None if path is None else Path(path).relative_to(run_dir).as_posix()


def _write_json(path: Path, value: object) -> None:
    write_text_atomically(path, json.dumps(value, indent=1))  # the session never reads half


def _read_paths(path: Path, run_dir: Path) -> dict[str, Path] | None:
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
        return {str(key): Path(run_dir) / value for key, value in rows.items()}
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        logger.info("report: the child job wrote no list of its files (%s)", exc)
        return None
