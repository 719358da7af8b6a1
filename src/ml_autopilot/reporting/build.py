"""One entry point that writes everything visible after a run.

``build_all`` computes the feature importance, draws the plots, writes the Markdown report and
the HTML dashboard into ``run_dir/report``; ``draw_search_plots`` draws the plots that need no
final model ahead of it. A failing part is logged as a warning and the rest
still gets written; it never raises because a plot could not be drawn.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ml_autopilot.log import get_logger
from ml_autopilot.reporting.dashboard import write_dashboard
from ml_autopilot.reporting.importance import ImportanceResult, write_importance
from ml_autopilot.reporting.plots import (
    FINAL_MODEL_PLOTS,
    PlotOutcome,
    draw_plots,
    in_report_order,
)
from ml_autopilot.reporting.plots import draw_search_plots as draw_unguarded
from ml_autopilot.reporting.report import write_report
from ml_autopilot.state import SessionState

logger = get_logger("reporting")
T = TypeVar("T")


def draw_search_plots(state: SessionState, run_dir: Path) -> dict[str, PlotOutcome] | None:
    """The plots that read only the experiments, not the final model: the session draws them
    while the final refit runs and hands them to ``build_all`` (None: drawing failed)."""
    return _guard("plots", lambda: draw_unguarded(state, run_dir))


def build_all(
    state: SessionState,
    run_dir: Path,
    search_plots: Callable[[], dict[str, PlotOutcome] | None] | None = None,
    importance: Callable[[], tuple[Path, ImportanceResult]] | None = None,
) -> dict[str, Path]:
    """Write importance, plots, report and dashboard; returns {name: path} of what was written.

    ``search_plots`` gives the plots ``draw_search_plots`` drew already (it may wait for them);
    then only the importance plot is drawn here. ``importance`` gives the importances written
    elsewhere (``importance_job``) and their file; without it they are computed here. Keys:
    ``importance``, ``plot:<name>`` for each drawn plot, ``report``, ``dashboard``.
    """
    run_dir = Path(run_dir)
    written: dict[str, Path] = {}
    # the dashboard needs no importance: written while a child process may compute it
    dashboard = _guard("dashboard", lambda: write_dashboard(state, run_dir))
    importance_written = _guard(
        "feature importance", importance or (lambda: write_importance(state, run_dir))
    )
    result: ImportanceResult | None = None
    if importance_written is not None:
        written["importance"], result = importance_written
    plots: dict[str, PlotOutcome] | None
    if search_plots is None:
        plots = _guard("plots", lambda: draw_plots(state, run_dir, result))
    else:
        drawn = search_plots()
        final = _guard("plots", lambda: draw_plots(state, run_dir, result, only=FINAL_MODEL_PLOTS))
        # after a failure the report looks on disk for the plots, as when written alone
        plots = None if drawn is None or final is None else in_report_order(state, drawn, final)
    for key, outcome in (plots or {}).items():
        if outcome.path is not None:
            written[f"plot:{key}"] = outcome.path
    report = _guard("report", lambda: write_report(state, run_dir, plots=plots, importance=result))
    if report is not None:
        written["report"] = report
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
