"""Time accounting: when models were being fitted or predicted, as wall-clock spans.

Every generated script reports the epoch ``[start, end]`` of each fold's fit + predict (CV) or of
its refit and holdout prediction (final); the permutation importance reports each prediction of
the final model, and ``autopilot predict`` logs the span of each prediction in the run folder's
``predictions.jsonl``. With several workers these spans overlap, so summed fit
times overstate the model time; the union of the spans is the wall time during which at least one
model was fitting or predicting. The rest of a run's wall time is overhead: start-up, planning,
code generation, process start, logging and the report.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

from ml_autopilot.state import SessionState

Span = tuple[float, float]
MAX_SPANS = 10_000  # a script reports one span per fold; more than this is not ours
SPANS_FILE = "model_spans.jsonl"  # a script's spans as they happen: [start], then [start, end]
PREDICTIONS_LOG = "predictions.jsonl"  # one line per ``autopilot predict`` of a run's model


def checked_spans(value: object) -> list[Span]:
    """Spans from a script's JSON payload: pairs of finite numbers with start <= end."""
    if not isinstance(value, list):
        return []
    spans: list[Span] = []
    for item in value[:MAX_SPANS]:
        if not isinstance(item, list | tuple) or len(item) != 2:
            continue
        start, end = item
        if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in (start, end)):
            continue
        if math.isfinite(start) and math.isfinite(end) and start <= end:
            spans.append((float(start), float(end)))
    return spans


def spans_until_stopped(workdir: Path, stopped_at: float) -> list[Span]:
    """The spans a script noted before it was killed or crashed; one still open (a model that
    was fitting when the script stopped) ends at ``stopped_at``."""
    try:
        lines = (workdir / SPANS_FILE).read_text(encoding="utf-8").splitlines()[: 2 * MAX_SPANS]
    except OSError:
        return []
    opened: list[float] = []
    closed: list[list[float]] = []
    for line in lines:
        try:
            item = json.loads(line)
        except ValueError:  # a line cut short by the kill
            continue
        if isinstance(item, list) and len(item) == 1:
            opened += [x for x in item if isinstance(x, int | float) and not isinstance(x, bool)]
        elif isinstance(item, list):
            closed.append(item)
    spans = checked_spans(closed)
    ends = {start for start, _ in spans}
    still_open = [[start, max(start, stopped_at)] for start in opened if start not in ends]
    return spans + checked_spans(still_open)


def covered_seconds(
    spans: Iterable[Span], lower: float = -math.inf, upper: float = math.inf
) -> float:
    """Length of the union of the spans, each clipped to ``[lower, upper]``."""
    total, reach = 0.0, -math.inf
    for start, end in sorted((max(a, lower), min(b, upper)) for a, b in spans):
        start = max(start, reach)  # the part already counted is skipped
        if end > start:
            total += end - start
            reach = end
    return total


def named_model_spans(state: SessionState) -> list[tuple[float, float, str]]:
    """Every model span of a session with what it belongs to: its experiments' CV (named as
    the experiment), its final refits ("final refit") and the final model's predictions for the
    permutation importance ("importance")."""
    spans = [
        (start, end, record.spec.name)
        for record in state.experiments
        for start, end in record.result.model_spans
    ]
    if state.final is not None:
        spans += [(start, end, "final refit") for start, end in state.final.model_spans]
        spans += [(start, end, "importance") for start, end in state.final.importance_spans]
    return spans


def session_model_spans(state: SessionState) -> list[Span]:
    """Every model span of a session (``named_model_spans`` without the names)."""
    return [(start, end) for start, end, _ in named_model_spans(state)]


def prediction_spans(run_dir: Path) -> list[Span]:
    """The model spans of every ``autopilot predict`` logged in a run folder."""
    try:
        lines = (Path(run_dir) / PREDICTIONS_LOG).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    spans: list[Span] = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            spans += checked_spans(entry.get("model_spans"))
    return spans[:MAX_SPANS]
