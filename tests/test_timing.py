"""Time accounting: spans from scripts are checked, and overlapping spans count once."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from ml_autopilot.codegen.render import RenderRequest, write_script
from ml_autopilot.config import RunConfig
from ml_autopilot.data.loading import prepare_data
from ml_autopilot.data.profiling import profile_data
from ml_autopilot.execution.base import ExecutionRequest
from ml_autopilot.execution.local import LocalExecutor
from ml_autopilot.session import result_from_outcome
from ml_autopilot.timing import (
    PREDICTIONS_LOG,
    SPANS_FILE,
    checked_spans,
    covered_seconds,
    prediction_spans,
    spans_until_stopped,
)
from tests.conftest import forest_spec, make_classification_frame


def test_overlapping_spans_count_once() -> None:
    assert covered_seconds([(0.0, 2.0), (1.0, 3.0), (5.0, 6.0)]) == 4.0
    assert covered_seconds([(0.0, 10.0), (1.0, 2.0)]) == 10.0
    assert covered_seconds([]) == 0.0


def test_spans_are_clipped_to_the_window() -> None:
    assert covered_seconds([(0.0, 2.0), (1.0, 3.0)], lower=1.5) == 1.5
    assert covered_seconds([(0.0, 2.0), (4.0, 9.0)], lower=1.0, upper=5.0) == 2.0
    assert covered_seconds([(6.0, 9.0)], upper=5.0) == 0.0


def test_only_well_formed_spans_are_kept() -> None:
    raw = [[1, 2], [3.5, 3.0], ["a", 4], [1, math.inf], [True, 2], [1, 2, 3], "x", [4.0, 5.5]]
    assert checked_spans(raw) == [(1.0, 2.0), (4.0, 5.5)]
    assert checked_spans({"a": 1}) == []
    assert checked_spans(None) == []


def test_spans_of_a_stopped_script_close_the_open_one_at_the_stop(tmp_path: Path) -> None:
    lines = ["[10.0]", "[10.0, 12.0]", "[12.5]", "[12.5, 14.0]", "[15.0]", "[15.5", "garbage"]
    (tmp_path / SPANS_FILE).write_text("\n".join(lines), encoding="utf-8")
    assert spans_until_stopped(tmp_path, stopped_at=20.0) == [
        (10.0, 12.0),
        (12.5, 14.0),
        (15.0, 20.0),
    ]
    assert spans_until_stopped(tmp_path / "missing", stopped_at=20.0) == []


def test_a_killed_experiment_keeps_the_time_its_model_was_fitting(tmp_path: Path) -> None:
    """A forest with no time limit is killed at its timeout; its spans still reach the result."""
    frame = make_classification_frame(3000, seed=1)
    frame.to_csv(tmp_path / "data.csv", index=False)
    config = RunConfig(
        data_path=str(tmp_path / "data.csv"), target="species", output_dir=str(tmp_path / "run")
    )
    info, train = prepare_data(config, tmp_path / "run")
    profile = profile_data(train, "species", "classification")
    spec = forest_spec("random_forest", 20_000, name="endless_forest")
    workdir = tmp_path / "run" / "experiments" / "001"
    script = write_script(RenderRequest(1, spec, info, profile, 3, 0, 1, workdir))
    outcome = LocalExecutor().run(ExecutionRequest(script=script, workdir=workdir, timeout=6.0))
    stopped = time.time()
    result = result_from_outcome(outcome, script)
    assert result.status == "timeout"
    assert result.model_spans, "the fold being fitted at the kill is a model span"
    end = result.model_spans[-1][1]
    assert end == pytest.approx(stopped, abs=1.0)
    assert covered_seconds(result.model_spans) > 2.0  # most of the 6 s went into fitting


def test_prediction_spans_are_read_from_every_logged_prediction(tmp_path: Path) -> None:
    assert prediction_spans(tmp_path) == []  # nothing predicted yet
    (tmp_path / PREDICTIONS_LOG).write_text(
        '{"rows": 3, "model_spans": [[10.0, 11.5]]}\n'
        "not json\n"
        '{"rows": 2, "model_spans": [[20.0, 19.0], [30.0, 30.25]]}\n',  # one span ends first
        encoding="utf-8",
    )
    assert prediction_spans(tmp_path) == [(10.0, 11.5), (30.0, 30.25)]
