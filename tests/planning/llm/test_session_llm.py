"""A whole session with the LLM planner (a scripted model), through the real loop."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_autopilot.planning.llm import planner as planner_module
from ml_autopilot.session import Session
from ml_autopilot.state import load_state
from ml_autopilot.status import status_dict
from tests.conftest import run_config
from tests.planning.llm.helpers import GOOD_DESIGN, Script

pytestmark = pytest.mark.slow


def test_session_records_llm_and_fallback_designs(
    classification_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    invalid = {**GOOD_DESIGN, "model": "no_such_model"}
    second = {**GOOD_DESIGN, "name": "rf_more", "params": {"n_estimators": 300}}
    script = Script(answers={"submit_experiment": [GOOD_DESIGN, invalid, invalid, invalid, second]})
    monkeypatch.setattr(planner_module, "build_model", lambda settings: script.model())
    run_dir = tmp_path / "run"
    config = run_config(
        classification_csv,
        "species",
        run_dir,
        planner="llm",
        llm_base_url="http://127.0.0.1:9/v1",
        max_iterations=3,
        workers=1,
    )
    state = Session.create(config).run()

    assert state.phase == "done"
    designed = [r for r in state.experiments if r.spec.source != "ensemble"]
    planners = [r.spec.planner for r in designed]
    assert planners == ["baseline", "llm", "fallback", "llm"]
    assert state.experiments[2].spec.fallback_reason
    assert state.experiments[1].analysis is not None
    assert "Reasoning: Tune the forest next." in state.experiments[1].analysis.observations
    top = state.experiments[1].hypotheses.top if state.experiments[1].hypotheses else None
    assert top is not None and top.action["mode"] in ("explore", "exploit")
    assert set(state.narrative) == {
        "executive_summary",
        "methodology",
        "insights",
        "recommendations",
    }
    assert state.llm_usage is not None and state.llm_usage.total_tokens > 0
    components = {c.component for c in state.llm_usage.calls}
    assert components == {"designer", "analyzer", "hypotheses", "reporter"}
    saved = load_state(run_dir)
    assert saved.planner_memory["conversation"]["messages"]
    listed = [e for e in status_dict(saved)["experiments"] if e["source"] != "ensemble"]
    assert [e["planner"] for e in listed] == planners
