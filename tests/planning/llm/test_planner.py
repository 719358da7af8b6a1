"""LLMPlanner as a whole: observations, report, usage and cost, budget, memory, resume."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_ai.models.function import AgentInfo, FunctionModel

from ml_autopilot.planning.base import baseline_spec
from ml_autopilot.planning.llm import planner as planner_module
from ml_autopilot.planning.llm.planner import LLMPlanner, build_llm_planner
from ml_autopilot.planning.llm.pricing import estimate_cost
from ml_autopilot.planning.optimizer import OptimizerPlanner
from ml_autopilot.state import Analysis, Constraints, LlmUsage, SessionState
from tests.conftest import run_config
from tests.planning.llm.helpers import (
    FAST,
    Script,
    make_planner,
    planning_context,
    record,
)


def two_records():
    base = record(0, baseline_spec("classification"), 0.6)
    base.analysis = Analysis(is_new_best=True, observations=["Baseline set."])
    return [base]


def test_observations_are_bounded_and_end_with_the_reasoning() -> None:
    history = two_records()
    context = planning_context(history=history)
    script = Script(
        answers={
            "submit_observations": [
                {
                    "observations": ["a " * 500, "b is b", "c is c", "d is d", "e is e"],
                    "reasoning": "go on tuning",
                }
            ]
        }
    )
    notes = make_planner(script.model(), context).observations(history[0], context)
    assert len(notes) == 6 and notes[-1] == "Reasoning: go on tuning"
    assert len(notes[0]) <= 300
    assert "Baseline set." in script.prompts[0]  # the local analysis is given as facts


def test_failed_observations_are_empty_not_an_error() -> None:
    history = two_records()
    context = planning_context(history=history)
    script = Script(answers={"submit_observations": [{"observations": []}] * 3})
    assert make_planner(script.model(), context).observations(history[0], context) == []


def state_for(tmp_path: Path, **overrides: object) -> SessionState:
    config = run_config(tmp_path / "d.csv", "species", tmp_path / "run", planner="llm", **overrides)
    context = planning_context(history=two_records())
    state = SessionState(run_id="r", config=config, profile=context.profile)
    state.experiments = context.history
    return state


def test_narrative_has_the_four_sections_and_falls_back_to_empty(tmp_path: Path) -> None:
    context = planning_context(history=two_records())
    state = state_for(tmp_path)
    sections = make_planner(Script().model(), context).narrative(state)
    assert set(sections) == {"executive_summary", "methodology", "insights", "recommendations"}
    broken = Script(answers={"submit_report": [{"nope": 1}] * 3})
    assert make_planner(broken.model(), context).narrative(state) == {}


def test_usage_has_one_call_per_attempt_with_tokens_and_cost() -> None:
    context = planning_context(history=two_records())
    script = Script(tokens=(1000, 200))
    planner = make_planner(script.model(), context, model="google-gla:gemini-3-flash-preview")
    planner.hypothesise(context)
    planner.propose(context)
    usage = planner.usage()
    assert [c.component for c in usage.calls] == ["hypotheses", "designer"]
    assert usage.input_tokens == 2000 and usage.output_tokens == 400
    expected = estimate_cost("google-gla", "gemini-3-flash-preview", 1000, 200)
    assert expected is not None and usage.calls[0].cost_usd == pytest.approx(expected)
    assert usage.cost_usd == pytest.approx(2 * expected)
    assert all(c.ok and c.duration >= 0 for c in usage.calls)
    local = make_planner(Script().model(), context, base_url="http://127.0.0.1:1/v1")
    local.hypothesise(context)
    assert local.usage().calls[0].cost_usd is None  # unknown price


def test_repair_rounds_count_in_one_call() -> None:
    context = planning_context()
    bad = {
        "name": "x",
        "hypothesis": "h",
        "model": "lightgbm",
        "params": {"zz": 1},
        "reasoning": "r",
    }
    script = Script(answers={"submit_experiment": [bad]}, tokens=(10, 5))
    planner = make_planner(script.model(), context)
    planner.propose(context)
    (call,) = planner.usage().calls
    assert call.ok and call.input_tokens == 20 and call.output_tokens == 10


def test_the_token_budget_stops_the_run_and_the_calls() -> None:
    context = planning_context(history=two_records())
    script = Script(tokens=(300, 100))
    planner = make_planner(script.model(), context, token_budget=500)
    assert planner.stop_reason(context) is None
    planner.hypothesise(context)
    assert planner.stop_reason(context) is None
    planner.hypothesise(context)
    reason = planner.stop_reason(context)
    assert reason is not None and "budget" in reason
    calls = len(script.prompts)
    assert planner.hypothesise(context).top is not None  # the optimizer's
    spec = planner.propose(context)
    assert (
        spec is not None and spec.planner == "fallback" and "budget" in (spec.fallback_reason or "")
    )
    assert len(script.prompts) == calls  # no more model calls


def test_observe_keeps_the_fallback_current() -> None:
    context = planning_context()
    fallback = OptimizerPlanner(context, seed=0)
    planner = LLMPlanner(make_planner(Script().model(), context).client, fallback, context)
    spec = planner.propose(context)
    assert spec is not None
    planner.observe(record(1, spec, 0.8))
    assert len(fallback._done) == 1
    assert len(fallback.study.trials) == 1


def test_the_conversation_is_shared_and_survives_a_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = Script()
    monkeypatch.setattr(planner_module, "build_model", lambda settings: script.model())
    state = state_for(tmp_path, llm_model="openai:gpt-5-mini")
    context = planning_context(history=state.experiments)
    first = build_llm_planner(context, state, OptimizerPlanner(context, seed=0))
    first.hypothesise(context)
    first.propose(context)
    assert script.histories == [0, 2]  # the designer saw the hypotheses turn
    state.planner_memory = first.export_memory()
    state.llm_usage = first.usage()
    state = SessionState.model_validate_json(state.model_dump_json())  # through state.json

    second = build_llm_planner(context, state, OptimizerPlanner(context, seed=0))
    second.hypothesise(context)
    assert script.histories[-1] == 4  # two restored turns before the new prompt
    usage = second.usage()
    assert isinstance(usage, LlmUsage) and len(usage.calls) == 3
    assert usage.model == "openai:gpt-5-mini"


def test_history_is_trimmed_within_its_budget() -> None:
    context = planning_context(history=two_records())
    planner = make_planner(Script().model(), context, settings=FAST, history_tokens=400)
    for _ in range(8):
        planner.hypothesise(context)
    conversation = planner.client.conversation
    assert conversation.tokens <= 400 and conversation.dropped > 0


def test_steered_constraints_reach_the_model_and_the_fallback() -> None:
    context = planning_context()
    seen: list[list[str]] = []

    def brain(messages, info: AgentInfo):
        seen.append(info.output_tools[0].parameters_json_schema["properties"]["model"]["enum"])
        return Script()(messages, info)

    planner = make_planner(FunctionModel(brain), context)
    planner.propose(context)
    steered = Constraints(avoided_models=["random_forest"])
    planner.update_constraints(steered)
    context.constraints = steered
    spec = planner.propose(context)
    assert "random_forest" in seen[0] and "random_forest" not in seen[-1]
    assert spec is not None and spec.model != "random_forest"
    assert planner.fallback.constraints == steered  # type: ignore[attr-defined]


def test_directions_are_described() -> None:
    context = planning_context()
    planner = make_planner(Script().model(), context)
    assert "LLM planner" in planner.describe_direction("LLM explore")
    assert planner.describe_direction("nothing known") == ""
