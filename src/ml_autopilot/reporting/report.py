"""The Markdown report of a session: ``run_dir/report/report.md``.

Rendered from ``templates/report.md.j2``. Values from the data, the constraints file or a
planner are Markdown text here, not code: the template escapes them where they could break the
structure (``cell`` in tables, ``inline`` in headings and lists, ``fenced`` for free output).
Every number is formatted from the state by ``formatting.num``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, Template

from ml_autopilot.codegen.render import FOREST_MODELS
from ml_autopilot.reporting import insights, summary
from ml_autopilot.reporting.formatting import (
    NA,
    cell,
    fenced,
    inline,
    metric_label,
    num,
    params_text,
    pct,
    quote,
    score_pm,
    seconds,
    shorten,
    tail_lines,
)
from ml_autopilot.reporting.importance import ImportanceResult, read_importance
from ml_autopilot.reporting.plots import PLOTS_DIR, PlotOutcome, plot_specs
from ml_autopilot.state import ColumnProfile, ExperimentRecord, SessionState

REPORT_DIR = "report"
REPORT_FILE = "report.md"
TEMPLATE = "report.md.j2"
NARRATIVE_KEYS = ("executive_summary", "dataset", "methodology", "insights", "recommendations")
ERROR_TAIL_LINES = 20
TOP_IMPORTANCES = 10


def write_report(
    state: SessionState,
    run_dir: Path,
    *,
    plots: Mapping[str, PlotOutcome] | None = None,
    importance: ImportanceResult | None = None,
) -> Path:
    """Write ``run_dir/report/report.md``; plots and importance are read from disk if not given."""
    run_dir = Path(run_dir)
    path = run_dir / REPORT_DIR / REPORT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render_report(state, run_dir, plots=plots, importance=importance)
    path.write_text(text, encoding="utf-8")
    return path


def render_report(
    state: SessionState,
    run_dir: Path,
    *,
    plots: Mapping[str, PlotOutcome] | None = None,
    importance: ImportanceResult | None = None,
) -> str:
    """The report's Markdown text."""
    if importance is None:
        importance = read_importance(run_dir)
    if plots is None:
        plots = plots_on_disk(state, run_dir)
    context = report_context(state, plots, importance)
    return tidy_markdown(report_template().render(**context))


def report_template() -> Template:
    """The report's template, compiled once per process (0.06 s): the report child compiles
    it while it waits for the importance, not after."""
    return _environment().get_template(TEMPLATE)  # the environment keeps it compiled


def tidy_markdown(text: str) -> str:
    """At most one blank line in a row outside code fences; one newline at the end."""
    lines: list[str] = []
    fence: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if fence is None and stripped.startswith("```"):
            fence = stripped[: len(stripped) - len(stripped.lstrip("`"))]
        elif fence is not None and stripped == fence:
            fence = None
        elif fence is None and not stripped and (not lines or not lines[-1].strip()):
            continue
        lines.append(line)
    return "\n".join(lines).rstrip() + "\n"


def plots_on_disk(state: SessionState, run_dir: Path) -> dict[str, PlotOutcome]:
    """The report's plots as found in ``run_dir/report/plots`` (for a report written alone)."""
    folder = Path(run_dir) / REPORT_DIR / PLOTS_DIR
    outcomes: dict[str, PlotOutcome] = {}
    for key, title, caption in plot_specs(state):
        path = folder / f"{key}.png"
        found = path.is_file()
        reason = None if found else "it has not been drawn (build_all draws every plot)"
        outcomes[key] = PlotOutcome(key, title, caption, path if found else None, reason)
    return outcomes


@functools.cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("ml_autopilot.reporting", "templates"),
        autoescape=False,  # Markdown text; escaping is explicit through the filters below
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        num=num,
        cell=cell,
        inline=inline,
        fenced=fenced,
        pct=pct,
        seconds=seconds,
        pm=score_pm,
        shorten=shorten,
        params=params_text,
        quote=quote,
    )
    return env


# ---- context -------------------------------------------------------------------------------


def report_context(
    state: SessionState,
    plots: Mapping[str, PlotOutcome],
    importance: ImportanceResult | None,
) -> dict[str, Any]:
    """Everything the template shows, computed from the state."""
    best = state.best()
    final_record = summary.final_record(state)
    return {
        "state": state,
        "data": state.data,
        "profile": state.profile,
        "metric": state.metric if state.data else None,
        "metric_label": metric_label(state.metric.name, state.metric.direction)
        if state.data
        else NA,
        "best": best,
        "baseline": summary.baseline_record(state),
        "final": state.final,
        "final_record": final_record,
        "best_gain": _best_gain(state),
        "gap": summary.holdout_gap(state),
        "counts": summary.counts(state),
        "columns": [_column_row(c) for c in (state.profile.columns if state.profile else [])],
        "target_stats": _target_stats(state),
        "constraints": _constraints(state),
        "llm": _llm_usage(state),
        "groups": _experiment_groups(state),
        "metric_rows": _metric_rows(state, final_record),
        "members": [
            {"name": m.spec.name, "iteration": m.iteration, "model": m.spec.model, "weight": w}
            for m, w in (summary.ensemble_members(state, final_record) if final_record else [])
        ],
        "importance": importance,
        "top_importances": importance.features[:TOP_IMPORTANCES] if importance else [],
        "plots": list(plots.values()),
        "plots_dir": PLOTS_DIR,
        "insights": insights.insights(state),
        "recommendations": insights.recommendations(state),
        "narrative": {k: v for k, v in state.narrative.items() if v and v.strip()},
        "narrative_keys": NARRATIVE_KEYS,
        "appendix": [_appendix_entry(r) for r in _ordered(state)],
    }


def _ordered(state: SessionState) -> list[ExperimentRecord]:
    return sorted(state.experiments, key=lambda r: r.iteration)


def _best_gain(state: SessionState) -> float | None:
    baseline, best = summary.baseline_record(state), state.best()
    if baseline is None or best is None:
        return None
    return summary.gain_over(
        summary.score(best) or 0.0, summary.score(baseline) or 0.0, state.metric.direction
    )


def _column_row(column: ColumnProfile) -> dict[str, str]:
    return {
        "name": column.name,
        "kind": column.kind,
        "dtype": column.dtype,
        "missing": f"{num(column.pct_missing)}%",
        "unique": str(column.n_unique),
        "stats": _column_stats(column),
    }


def _column_stats(column: ColumnProfile) -> str:
    if column.numeric is not None:
        n = column.numeric
        return (
            f"mean {num(n.mean)}, std {num(n.std)}, min {num(n.min)}, median {num(n.median)}, "
            f"max {num(n.max)}"
        )
    if column.categorical is not None:
        top = ", ".join(
            f"{shorten(v.value, 30)} ({v.count})" for v in column.categorical.top_values[:3]
        )
        return f"top: {top}" if top else ""
    return ""


def _target_stats(state: SessionState) -> str:
    if state.profile is None:
        return NA
    target = state.profile.target
    if target.task == "regression":
        return (
            f"mean {num(target.mean)}, std {num(target.std)}, skew {num(target.skew)}, "
            f"min {num(target.min)}, max {num(target.max)}"
        )
    counts = ", ".join(f"{inline(k)}: {v}" for k, v in target.class_counts.items())
    balance = f"; balance (smallest/largest) {num(target.balance)}" if target.balance else ""
    return f"{target.n_unique} classes ({counts}){balance}"


def _constraints(state: SessionState) -> list[tuple[str, str]]:
    c = state.constraints
    rows: list[tuple[str, str | None]] = [
        ("metric", c.metric),
        ("preferred models", ", ".join(c.preferred_models) or None),
        ("avoided models", ", ".join(c.avoided_models) or None),
        ("preprocessing", ", ".join(f"{k}: {v}" for k, v in c.preprocessing.items()) or None),
        ("plateau", None if c.plateau is None else str(c.plateau)),
        ("target score", None if c.target_score is None else num(c.target_score)),
        ("max iterations", None if c.max_iterations is None else str(c.max_iterations)),
    ]
    rows += [("note", note) for note in c.notes]
    return [(k, v) for k, v in rows if v]


def _llm_usage(state: SessionState) -> dict[str, Any] | None:
    usage = state.llm_usage
    if usage is None:
        return None
    failed = sum(1 for c in usage.calls if not c.ok)
    return {
        "model": usage.model,
        "calls": len(usage.calls),
        "failed": failed,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "cost": NA if usage.cost_usd is None else f"${usage.cost_usd:.4f}",
    }


def _experiment_row(record: ExperimentRecord, best: ExperimentRecord | None) -> dict[str, str]:
    result = record.result
    if result.status == "success":
        outcome = "success (best)" if best is not None and record is best else "success"
    else:
        outcome = f"{result.status}: {shorten(result.error or 'no error message', 80)}"
    return {
        "iteration": str(record.iteration),
        "name": record.spec.name,
        "model": summary.model_label(record.spec.model),
        "params": params_text(record.spec.params, limit=60),
        "score": score_pm(result.cv_score, result.cv_std) if result.status == "success" else NA,
        "time": seconds(result.duration),
        "status": outcome,
        "hypothesis": shorten(record.spec.hypothesis, 140),
    }


def _experiment_groups(state: SessionState) -> list[dict[str, Any]]:
    """One group with every experiment, or one per research direction when there are any."""
    if not state.experiments:
        return []
    best = state.best()
    grouped = summary.by_direction(state)
    if not grouped:
        rows = [_experiment_row(r, best) for r in _ordered(state)]
        return [{"name": None, "direction": None, "rows": rows}]
    directions = {d.name: d for d in state.directions}
    return [
        {
            "name": name,
            "direction": directions.get(name),
            "rows": [_experiment_row(r, best) for r in records],
        }
        for name, records in grouped.items()
    ]


def _metric_rows(state: SessionState, record: ExperimentRecord | None) -> list[dict[str, str]]:
    if record is None:
        return []
    holdout = state.final.holdout_metrics if state.final else {}
    names = list(dict.fromkeys([*record.result.metrics, *holdout]))
    primary = state.metric.name
    return [
        {
            "name": f"{name} (primary)" if name == primary else name,
            "cv": score_pm(m.mean, m.std) if (m := record.result.metrics.get(name)) else NA,
            "folds": ", ".join(num(v) for v in m.folds) if m else NA,
            "holdout": num(holdout.get(name)),
        }
        for name in names
    ]


def _appendix_entry(record: ExperimentRecord) -> dict[str, Any]:
    spec, result = record.spec, record.result
    top = record.hypotheses.hypotheses[:3] if record.hypotheses else []
    failed = result.status != "success"
    return {
        "record": record,
        "params": params_text(spec.params),
        "preprocessing": "each member's own"
        if spec.model == summary.ENSEMBLE
        else ", ".join(f"{k}={v}" for k, v in spec.preprocessing.model_dump().items()),
        "llm": spec.planner == "llm",
        "forest": spec.model in FOREST_MODELS,
        "observations": record.analysis.observations if record.analysis else [],
        "hypotheses": top,
        "folds": ", ".join(num(v) for v in result.fold_scores),
        "error_tail": tail_lines(result.output_tail, ERROR_TAIL_LINES) if failed else "",
    }
