"""The interactive dashboard: ``run_dir/report/dashboard.html``, one self-contained page.

plotly.js is embedded once in the page (no CDN, no server), so the file opens from disk with no
network. Text from the data or a planner is HTML-escaped before it reaches the page, both in the
HTML leaderboard and in the Plotly labels (which understand a few HTML tags).
"""

from __future__ import annotations

import html
from pathlib import Path

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from ml_autopilot.reporting import summary
from ml_autopilot.reporting.formatting import NA, metric_label, num, score_pm, seconds, shorten
from ml_autopilot.state import ExperimentRecord, SessionState

DASHBOARD_FILE = "dashboard.html"
FIGURE_HEIGHT = 420
BETTER, NEUTRAL, FAILED, HOLDOUT = "#2a9d8f", "#457b9d", "#d62828", "#e9c46a"
STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 1280px; padding: 1.5rem; color: #1d3557; background: #fafafa; }
h1 { margin-bottom: 0.2rem; } .sub { color: #555; margin-top: 0; }
.cards { display: flex; flex-wrap: wrap; gap: 0.8rem; margin: 1rem 0; }
.card { background: white; border: 1px solid #ddd; border-radius: 8px; padding: 0.6rem 1rem;
        min-width: 150px; }
.card .label { font-size: 0.8rem; color: #666; } .card .value { font-size: 1.3rem; }
section { background: white; border: 1px solid #ddd; border-radius: 8px; padding: 0.8rem 1rem;
          margin: 1rem 0; }
table { border-collapse: collapse; width: 100%; font-size: 0.85rem; }
th, td { border-bottom: 1px solid #eee; padding: 0.3rem 0.5rem; text-align: left;
         vertical-align: top; }
th { background: #f1f5f9; } td.num { text-align: right; white-space: nowrap; }
tr.best { background: #e8f6f3; font-weight: 600; } tr.bad td { color: #9d0208; }
.note { color: #555; font-size: 0.85rem; }
"""


def write_dashboard(state: SessionState, run_dir: Path) -> Path:
    """Write ``run_dir/report/dashboard.html`` and return its path."""
    path = Path(run_dir) / "report" / DASHBOARD_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_dashboard(state), encoding="utf-8")
    return path


def render_dashboard(state: SessionState) -> str:
    """The page's HTML."""
    title = f"ML Autopilot: {state.data.target}" if state.data else "ML Autopilot"
    sections = [
        _section("Leaderboard", _leaderboard(state)),
        _section("Best-so-far progression", _figure_html(_progression(state))),
        _section("Final model: CV vs holdout", _cv_vs_holdout_html(state)),
        _section("Model families (best experiment of each)", _figure_html(_families(state))),
    ]
    if summary.by_direction(state):
        sections.append(_section("Research directions", _directions_html(state)))
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        f"<title>{_esc(title)}</title>\n<style>{STYLE}</style>\n"
        f"<script type='text/javascript'>{get_plotlyjs()}</script>\n</head>\n<body>\n"
        f"<h1>{_esc(title)}</h1>\n{_subtitle(state)}\n{_cards(state)}\n"
        + "\n".join(sections)
        + "\n</body>\n</html>\n"
    )


# ---- header ----------------------------------------------------------------------------------


def _subtitle(state: SessionState) -> str:
    if state.data is None:
        return f"<p class='sub'>Run {_esc(state.run_id)}; phase {_esc(state.phase)}.</p>"
    label = metric_label(state.metric.name, state.metric.direction)
    return (
        f"<p class='sub'>Run {_esc(state.run_id)} &middot; {_esc(state.data.task)} &middot; "
        f"metric {_esc(label)} &middot; phase {_esc(state.phase)} &middot; stopped because: "
        f"{_esc(state.termination_reason or 'not stopped yet')}</p>"
    )


def _experiment_counts(counts: summary.Counts) -> str:
    text = f"{counts.success} ok / {counts.unsuccessful} failed"
    return f"{text} / {counts.pruned} pruned" if counts.pruned else text


def _cards(state: SessionState) -> str:
    best = state.best()
    final = state.final
    counts = summary.counts(state)
    metric = state.metric.name if state.data else ""
    cards = [
        (f"Best CV {metric}", score_pm(best.result.cv_score, best.result.cv_std) if best else NA),
        ("Best experiment", best.spec.name if best else NA),
        (f"Holdout {metric}", num(final.holdout_score) if final else NA),
        ("Experiments", _experiment_counts(counts)),
        ("Time used", seconds(state.elapsed_seconds)),
    ]
    items = "".join(
        f"<div class='card'><div class='label'>{_esc(label)}</div>"
        f"<div class='value'>{_esc(value)}</div></div>"
        for label, value in cards
    )
    return f"<div class='cards'>{items}</div>"


def _section(title: str, body: str) -> str:
    return f"<section>\n<h2>{_esc(title)}</h2>\n{body}\n</section>"


# ---- leaderboard -----------------------------------------------------------------------------


def _ranked(state: SessionState) -> list[ExperimentRecord]:
    """Scored experiments best first, then the unsuccessful ones by iteration."""
    sign = -1.0 if state.data and state.metric.direction == "maximize" else 1.0
    scored = [r for r in state.experiments if summary.score(r) is not None]
    scored.sort(key=lambda r: (sign * (summary.score(r) or 0.0), r.iteration))
    failed = sorted(
        (r for r in state.experiments if summary.score(r) is None), key=lambda r: r.iteration
    )
    return scored + failed


def _leaderboard(state: SessionState) -> str:
    if not state.experiments:
        return "<p class='note'>No experiment has run yet.</p>"
    best = state.best()
    with_directions = bool(summary.by_direction(state))
    headers = [
        "Rank",
        "#",
        "Experiment",
        "Model",
        "Direction",
        "CV ± std",
        "Time",
        "Status",
        "Hypothesis",
    ]
    if not with_directions:
        headers.remove("Direction")
    rows = []
    for rank, record in enumerate(_ranked(state), start=1):
        result = record.result
        css = "best" if record is best else ("bad" if result.status != "success" else "")
        status = (
            result.status
            if result.status == "success"
            else (f"{result.status}: {shorten(result.error or '', 80)}")
        )
        cells = [
            (str(rank) if summary.score(record) is not None else "", "num"),
            (str(record.iteration), "num"),
            (record.spec.name, ""),
            (summary.model_label(record.spec.model), ""),
            *([(record.spec.direction or "", "")] if with_directions else []),
            (score_pm(result.cv_score, result.cv_std) if result.status == "success" else NA, "num"),
            (seconds(result.duration), "num"),
            (status, ""),
            (shorten(record.spec.hypothesis, 160), ""),
        ]
        tds = "".join(f"<td class='{c}'>{_esc(v)}</td>" for v, c in cells)
        rows.append(f"<tr class='{css}'>{tds}</tr>")
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    return (
        f"<table id='leaderboard'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


# ---- figures ---------------------------------------------------------------------------------


def _progression(state: SessionState) -> go.Figure | str:
    records = sorted(state.experiments, key=lambda r: r.iteration)
    scored = [r for r in records if summary.score(r) is not None]
    if not scored:
        return "No experiment produced a CV score yet."
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[r.iteration for r in scored],
            y=[summary.score(r) for r in scored],
            mode="markers",
            name="experiment",
            marker={"size": 10, "color": NEUTRAL},
            text=[_hover(r) for r in scored],
            hoverinfo="text",
        )
    )
    steps = [(i, b) for i, b in summary.best_so_far(state) if b is not None]
    fig.add_trace(
        go.Scatter(
            x=[i for i, _ in steps],
            y=[b for _, b in steps],
            mode="lines",
            name="best so far",
            line={"shape": "hv", "color": BETTER, "width": 3},
        )
    )
    _add_failures(fig, state, records, dict(summary.best_so_far(state)))
    label = metric_label(state.metric.name, state.metric.direction)
    fig.update_layout(xaxis_title="iteration (0 = baseline)", yaxis_title=label)
    if len(records) <= 30:
        fig.update_xaxes(tickmode="linear", tick0=0, dtick=1)
    return fig


def _add_failures(
    fig: go.Figure,
    state: SessionState,
    records: list[ExperimentRecord],
    best_at: dict[int, float | None],
) -> None:
    failed = [r for r in records if summary.score(r) is None]
    if not failed:
        return
    fallback = min(s for r in records if (s := summary.score(r)) is not None)
    fig.add_trace(
        go.Scatter(
            x=[r.iteration for r in failed],
            y=[best_at.get(r.iteration) or fallback for r in failed],
            mode="markers",
            name="failed / timed out",
            marker={"symbol": "x", "size": 12, "color": FAILED},
            text=[_hover(r) for r in failed],
            hoverinfo="text",
        )
    )


def _cv_vs_holdout(state: SessionState) -> go.Figure | str:
    final, record = state.final, summary.final_record(state)
    if final is None or final.status != "success" or record is None:
        return "There is no successful final model, so there is no holdout score."
    names = [n for n in record.result.metrics if n in final.holdout_metrics]
    if not names:
        return "The final model has no metric scored both in CV and on the holdout."
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names)
    for col, name in enumerate(names, start=1):
        cv = record.result.metrics[name]
        holdout = final.holdout_metrics[name]
        fig.add_trace(
            go.Bar(
                x=["CV", "holdout"],
                y=[cv.mean, holdout],
                error_y={"type": "data", "array": [cv.std, 0.0]},
                marker_color=[NEUTRAL, HOLDOUT],
                showlegend=False,
                text=[num(cv.mean), num(holdout)],
                textposition="inside",
                insidetextanchor="start",
                hovertext=[f"CV {score_pm(cv.mean, cv.std)}", f"holdout {num(holdout)}"],
                hoverinfo="text",
            ),
            row=1,
            col=col,
        )
    return fig


def _cv_vs_holdout_html(state: SessionState) -> str:
    final, gap = state.final, summary.holdout_gap(state)
    lines = []
    if final is not None and final.status == "success":
        lines.append(
            f"Final model <b>{_esc(final.name)}</b> (iteration {final.iteration}), refit on all "
            "non-holdout rows and scored once on the private holdout. Error bars: CV std."
        )
    if gap is not None:
        lines.append(
            f"{_esc(state.metric.name)}: CV {_esc(score_pm(gap.cv_score, gap.cv_std))}, holdout "
            f"{_esc(num(gap.holdout))}; {_esc(gap.verdict())}."
        )
    notes = "".join(f"<p class='note'>{line}</p>" for line in lines)
    return notes + _figure_html(_cv_vs_holdout(state))


def _families(state: SessionState) -> go.Figure | str:
    groups = summary.best_per_model(state)
    if not groups:
        return "No experiment produced a CV score yet."
    return _group_bars(state, groups, [summary.model_label(g.group) for g in groups])


def _directions_html(state: SessionState) -> str:
    groups = summary.best_per_direction(state)
    figure = (
        _group_bars(state, groups, [g.group for g in groups])
        if groups
        else "No research direction has a successful experiment yet."
    )
    notes = "".join(
        f"<li><b>{_esc(d.name)}</b> ({_esc(d.status)}): {_esc(d.rationale)}"
        + "".join(f"<br>&rarr; {_esc(learning)}" for learning in d.learnings)
        + "</li>"
        for d in state.directions
    )
    listing = f"<ul class='note'>{notes}</ul>" if notes else ""
    return _figure_html(figure) + listing


def _group_bars(
    state: SessionState, groups: list[summary.GroupBest], labels: list[str]
) -> go.Figure:
    fig = go.Figure(
        go.Bar(
            x=[
                f"{_esc(label)}<br>{num(g.cv_score)}"
                for label, g in zip(labels, groups, strict=True)
            ],
            y=[g.cv_score for g in groups],
            error_y={"type": "data", "array": [g.cv_std for g in groups]},
            marker_color=NEUTRAL,
            hovertext=[
                f"best: {_esc(g.record.spec.name)} (#{g.record.iteration})<br>"
                f"CV {score_pm(g.cv_score, g.cv_std)}<br>"
                f"{g.n_successful} of {g.n_experiments} experiments succeeded"
                for g in groups
            ],
            hoverinfo="text",
        )
    )
    label = metric_label(state.metric.name, state.metric.direction)
    fig.update_layout(yaxis_title=f"best CV {label}", showlegend=False)
    limits = summary.zoomed_range([g.cv_score for g in groups], [g.cv_std for g in groups])
    if limits is not None:
        fig.update_yaxes(range=list(limits), title=f"best CV {label}; axis zoomed, not from 0")
    return fig


def _figure_html(figure: go.Figure | str) -> str:
    if isinstance(figure, str):
        return f"<p class='note'>{_esc(figure)}</p>"
    figure.update_layout(
        height=FIGURE_HEIGHT, margin={"l": 60, "r": 20, "t": 50, "b": 60}, template="plotly_white"
    )
    return figure.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})


def _hover(record: ExperimentRecord) -> str:
    result = record.result
    score_text = (
        score_pm(result.cv_score, result.cv_std)
        if result.status == "success"
        else f"{result.status}: {shorten(result.error or '', 80)}"
    )
    return (
        f"#{record.iteration} {_esc(record.spec.name)}<br>{_esc(record.spec.model)}"
        f"<br>{_esc(score_text)}"
    )


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)
