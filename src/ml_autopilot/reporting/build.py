"""One entry point that writes everything visible after a run.

``build_all`` computes the feature importance, draws the plots, writes the Markdown report and
the HTML dashboard into ``run_dir/report``. A failing part is logged as a warning and the rest
still gets written; it never raises because a plot could not be drawn.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ml_autopilot.log import get_logger
from ml_autopilot.reporting.dashboard import write_dashboard
from ml_autopilot.reporting.importance import ImportanceResult, write_importance
from ml_autopilot.reporting.plots import PlotOutcome, draw_plots
from ml_autopilot.reporting.report import write_report
from ml_autopilot.state import SessionState

logger = get_logger("reporting")
T = TypeVar("T")


def build_all(state: SessionState, run_dir: Path) -> dict[str, Path]:
    """Write importance, plots, report and dashboard; returns {name: path} of what was written.

    Keys: ``importance``, ``plot:<name>`` for each drawn plot, ``report``, ``dashboard``.
    """
    run_dir = Path(run_dir)
    written: dict[str, Path] = {}
    importance_written = _guard("feature importance", lambda: write_importance(state, run_dir))
    importance: ImportanceResult | None = None
    if importance_written is not None:
        written["importance"], importance = importance_written
    plots: dict[str, PlotOutcome] = _guard("plots", lambda: draw_plots(state, run_dir, importance))
    for key, outcome in (plots or {}).items():
        if outcome.path is not None:
            written[f"plot:{key}"] = outcome.path
    report = _guard(
        "report", lambda: write_report(state, run_dir, plots=plots, importance=importance)
    )
    if report is not None:
        written["report"] = report
    dashboard = _guard("dashboard", lambda: write_dashboard(state, run_dir))
    if dashboard is not None:
        written["dashboard"] = dashboard
    return written


def _guard(what: str, step: Callable[[], T]) -> T | None:
    """Run one step; a failure is a warning in the log, not an error of the run."""
    try:
        return step()
    except Exception as exc:
        logger.warning("reporting: %s failed: %s", what, exc, exc_info=True)
        return None
