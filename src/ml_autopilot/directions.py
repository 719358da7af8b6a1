"""Research directions: named lines of inquiry that group experiments, with a file each.

The planner labels every proposal with a direction; the session opens a direction at its first
experiment, appends each result as it lands, and closes it (with learnings) once the planner
has moved on for a while or the session ends. ``research_directions/<name>.md`` mirrors each
direction for people (and for planners that read them back).
"""

from __future__ import annotations

import re
from pathlib import Path

from ml_autopilot.catalog.metrics import relative_improvement
from ml_autopilot.state import ExperimentRecord, ResearchDirection, SessionState, utc_now

DIRECTIONS_DIR = "research_directions"
CLOSE_AFTER = 3


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:60] or "direction"


def find(state: SessionState, name: str) -> ResearchDirection | None:
    return next((d for d in state.directions if d.name == name), None)


def open_direction(state: SessionState, name: str, rationale: str) -> ResearchDirection:
    """The open direction called ``name``, opened now if needed."""
    direction = find(state, name)
    if direction is None:
        direction = ResearchDirection(name=name, rationale=rationale or name)
        state.directions.append(direction)
    elif direction.status == "closed":
        direction.status, direction.closed_at = "open", None
    return direction


def note_experiment(state: SessionState, record: ExperimentRecord, rationale: str) -> list[str]:
    """File a finished experiment under its direction; returns the directions it closed."""
    name = record.spec.direction
    if name:
        direction = open_direction(state, name, rationale)
        direction.iterations.append(record.iteration)
    closed = [d.name for d in state.directions if d.status == "open" and _idle(state, d)]
    for name in closed:
        close_direction(state, find(state, name))  # type: ignore[arg-type]
    return closed


def _idle(state: SessionState, direction: ResearchDirection) -> bool:
    recent = state.experiments[-CLOSE_AFTER:]
    return len(state.experiments) - 1 - max(
        direction.iterations, default=-1
    ) >= CLOSE_AFTER and all(r.spec.direction != direction.name for r in recent)


def close_direction(state: SessionState, direction: ResearchDirection) -> None:
    direction.status = "closed"
    direction.closed_at = utc_now()
    direction.learnings = learnings(state, direction)


def close_all(state: SessionState) -> None:
    for direction in state.directions:
        if direction.status == "open":
            close_direction(state, direction)


def learnings(state: SessionState, direction: ResearchDirection) -> list[str]:
    """Plain findings from the numbers: best result, effect on the best, failures."""
    records = [state.experiments[i] for i in direction.iterations if i < len(state.experiments)]
    done = [r for r in records if r.result.status == "success" and r.result.cv_score is not None]
    found = [f"{len(records)} experiment(s), {len(records) - len(done)} failed."]
    if not done or state.data is None:
        return found
    metric = state.metric
    sign = 1.0 if metric.direction == "maximize" else -1.0
    best_here = max(done, key=lambda r: sign * (r.result.cv_score or 0.0))
    found.append(f"Best: {best_here.spec.name} with {best_here.result.cv_score:.6g} {metric.name}.")
    overall = state.best()
    if overall is not None and overall.result.cv_score is not None:
        if overall.iteration in direction.iterations:
            found.append("This direction holds the session's best model.")
        else:
            gap = 100 * relative_improvement(
                best_here.result.cv_score or 0.0, overall.result.cv_score, metric.direction
            )
            found.append(
                f"{abs(gap):.2f}% {'better' if gap > 0 else 'worse'} than the best "
                f"overall ({overall.spec.name})."
            )
    new_bests = sum(1 for r in done if r.analysis and r.analysis.is_new_best)
    found.append(f"{new_bests} new best(s) came from this direction.")
    return found


def write_files(state: SessionState, run_dir: Path) -> None:
    """Rewrite every direction's Markdown file from the state."""
    folder = Path(run_dir) / DIRECTIONS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for direction in state.directions:
        (folder / f"{slug(direction.name)}.md").write_text(
            render(state, direction), encoding="utf-8"
        )


def render(state: SessionState, direction: ResearchDirection) -> str:
    lines = [
        f"# Direction: {direction.name}",
        "",
        f"- Status: {direction.status} (opened {direction.opened_at}"
        + (f", closed {direction.closed_at})" if direction.closed_at else ")"),
        f"- Intent: {direction.rationale}",
        "",
        "## Results as they landed",
        "",
    ]
    for i in direction.iterations:
        if i >= len(state.experiments):
            continue
        r = state.experiments[i]
        score = "-" if r.result.cv_score is None else f"{r.result.cv_score:.6g}"
        mark = " (new best)" if r.analysis and r.analysis.is_new_best else ""
        lines.append(
            f"- #{r.iteration} {r.spec.name} ({r.spec.model}): {r.result.status}, "
            f"CV {score}{mark}. Hypothesis: {r.spec.hypothesis}"
        )
    if direction.learnings:
        lines += ["", "## Learnings", ""] + [f"- {text}" for text in direction.learnings]
    return "\n".join(lines) + "\n"
