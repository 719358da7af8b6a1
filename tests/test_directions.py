"""Research directions: opened, filled, closed with learnings, mirrored to Markdown files."""

from __future__ import annotations

from ml_autopilot import directions
from ml_autopilot.config import RunConfig
from ml_autopilot.state import (
    Analysis,
    DataInfo,
    ExperimentRecord,
    ExperimentResult,
    ExperimentSpec,
    MetricInfo,
    SessionState,
)


def state(tmp_path) -> SessionState:
    config = RunConfig(data_path=str(tmp_path / "d.csv"), target="y", output_dir=str(tmp_path))
    data = DataInfo(
        source_path="d",
        source_sha256="0",
        task="regression",
        target="y",
        metric=MetricInfo(name="rmse", direction="minimize"),
        n_rows=10,
        n_train=8,
        n_holdout=2,
        feature_columns=["a"],
        train_path="t",
        holdout_path="h",
    )
    return SessionState(run_id="r", config=config, data=data)


def add(s: SessionState, name: str, direction: str, score: float, best: bool) -> None:
    record = ExperimentRecord(
        iteration=len(s.experiments),
        spec=ExperimentSpec(
            name=name, model="ridge", hypothesis=f"{name} helps", reasoning="r", direction=direction
        ),
        result=ExperimentResult(status="success", cv_score=score),
        analysis=Analysis(is_new_best=best),
        started_at="t",
        finished_at="t",
    )
    s.experiments.append(record)
    directions.note_experiment(s, record, f"why {direction}")


def test_directions_open_fill_and_close_when_idle(tmp_path):
    s = state(tmp_path)
    add(s, "a1", "proven configurations", 10.0, True)
    add(s, "a2", "proven configurations", 9.0, True)
    proven = directions.find(s, "proven configurations")
    assert proven.status == "open" and proven.iterations == [0, 1]
    assert proven.rationale == "why proven configurations"
    for i in range(3):
        add(s, f"t{i}", "broad search", 9.5, False)
    assert proven.status == "closed"
    assert any("9 rmse" in text for text in proven.learnings)
    assert "This direction holds the session's best model." in proven.learnings
    directions.close_all(s)
    broad = directions.find(s, "broad search")
    assert broad.status == "closed"
    assert "0 new best(s) came from this direction." in broad.learnings


def test_direction_files_mirror_the_state(tmp_path):
    s = state(tmp_path)
    add(s, "a1", "target transform", 10.0, True)
    directions.close_all(s)
    directions.write_files(s, tmp_path)
    text = (tmp_path / "research_directions" / "target_transform.md").read_text()
    assert "# Direction: target transform" in text
    assert "Intent: why target transform" in text
    assert "#0 a1 (ridge): success, CV 10 (new best)" in text
    assert "## Learnings" in text
