"""Prompt pieces: results tables, catalog text, compact mode."""

from __future__ import annotations

from ml_autopilot.catalog.models import models_for
from ml_autopilot.planning.base import baseline_spec
from ml_autopilot.planning.llm.prompts import (
    catalog_text,
    experiment_row,
    results_table,
    shared_instructions,
)
from ml_autopilot.state import ExperimentSpec
from tests.planning.llm.helpers import F1, planning_context, record


def spec(name: str) -> ExperimentSpec:
    return ExperimentSpec(name=name, model="random_forest", hypothesis="h", reasoning="r")


def test_results_keep_the_baseline_the_best_and_the_latest() -> None:
    history = [record(0, baseline_spec("classification"), 0.6)]
    history += [record(i, spec(f"e{i}"), 0.9 if i == 2 else 0.7) for i in range(1, 12)]
    rows = results_table(history, F1, limit=3)
    assert [r["iteration"] for r in rows] == [0, 2, 9, 10, 11]


def test_error_rows_show_the_last_line_only() -> None:
    trace = "Traceback (most recent call last):\n  File x\nValueError: bad " + "x" * 500
    row = experiment_row(record(1, spec("e1"), None, error=trace))
    assert row["error"].startswith("ValueError: bad") and len(row["error"]) <= 200
    assert "error" not in experiment_row(record(2, spec("e2"), None, error="  \n "))


def test_compact_instructions_are_shorter_and_keep_every_model() -> None:
    context = planning_context()
    models = models_for("classification")
    args = (context.task, context.metric, context.profile, context.constraints, models)
    full, compact = shared_instructions(*args), shared_instructions(*args, compact=True)
    assert len(compact) < 0.8 * len(full)
    for key in models:
        assert f"- {key}:" in compact
    assert "learning_rate float [0.005, 0.3]" in catalog_text(["lightgbm"], "classification", True)
