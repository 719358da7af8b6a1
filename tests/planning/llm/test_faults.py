"""Fault injection against a local OpenAI-compatible HTTP server on 127.0.0.1.

The server answers 429, 500, a malformed body or slowly, as scripted. Transient failures are
retried with growing backoff, a 400 is not retried, the per-call timeout fires, and when nothing
works the planner falls back to the optimizer instead of crashing.
"""

from __future__ import annotations

import time

import pytest

from ml_autopilot.planning.llm.planner import LLMPlanner
from ml_autopilot.planning.llm.providers import build_model
from ml_autopilot.planning.llm.settings import LlmSettings
from ml_autopilot.planning.optimizer import OptimizerPlanner
from tests.planning.llm.fake_openai import answer, fake_openai_server, malformed, slow, status
from tests.planning.llm.helpers import GOOD_DESIGN, make_client, planning_context, record

pytestmark = pytest.mark.usefixtures("allow_local_requests")


def planner_for(base_url: str, delays: list[float] | None = None, **changes: object):
    values: dict[str, object] = {
        "model": "fake",
        "base_url": base_url,
        "timeout": 2.0,
        "max_retries": 3,
        "backoff_base": 0.05,
        "backoff_max": 1.0,
        **changes,
    }
    settings = LlmSettings(**values)  # type: ignore[arg-type]
    client = make_client(
        build_model(settings, env={}), settings, sleep=delays.append if delays is not None else None
    )
    context = planning_context()
    return LLMPlanner(client, OptimizerPlanner(context, seed=0), context), context


def test_transient_failures_are_retried_with_growing_backoff() -> None:
    delays: list[float] = []
    with fake_openai_server(status(429), status(500), malformed()) as server:
        planner, context = planner_for(server.base_url, delays)
        spec = planner.propose(context)
    assert spec is not None and spec.planner == "llm"
    assert len(server.requests) == 4
    assert len(delays) == 3 and delays[0] < delays[1] < delays[2]
    calls = planner.usage().calls
    assert [c.ok for c in calls] == [False, False, False, True]
    assert "429" in (calls[0].error or "") and "500" in (calls[1].error or "")
    assert "decode" in (calls[2].error or "")
    assert calls[-1].input_tokens == 50 and calls[-1].output_tokens == 10


def test_backoff_really_waits_between_attempts() -> None:
    with fake_openai_server(status(429), status(503)) as server:
        settings = LlmSettings(
            model="fake", base_url=server.base_url, timeout=2.0, backoff_base=0.2, backoff_max=1
        )
        client = make_client(build_model(settings, env={}), settings, sleep=time.sleep)
        context = planning_context()
        planner = LLMPlanner(client, OptimizerPlanner(context, seed=0), context)
        assert planner.propose(context) is not None
        gaps = [b - a for a, b in zip(server.times, server.times[1:], strict=False)]
    assert len(gaps) == 2
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4


def test_a_bad_request_is_not_retried_and_falls_back() -> None:
    delays: list[float] = []
    with fake_openai_server(status(400)) as server:
        planner, context = planner_for(server.base_url, delays)
        spec = planner.propose(context)
    assert len(server.requests) == 1 and delays == []
    assert spec is not None and spec.planner == "fallback"
    assert spec.fallback_reason is not None and "400" in spec.fallback_reason


def test_the_timeout_fires_and_the_call_is_retried() -> None:
    with fake_openai_server(slow(5.0)) as server:
        planner, context = planner_for(server.base_url, timeout=1.0)
        started = time.monotonic()
        spec = planner.propose(context)
        took = time.monotonic() - started
    assert spec is not None and spec.planner == "llm"
    assert len(server.requests) == 2
    assert took < 4.5
    first = planner.usage().calls[0]
    assert not first.ok and "timed out" in (first.error or "")
    assert 0.9 <= first.duration < 3.0


def test_nothing_works_so_every_component_falls_back() -> None:
    failures = [status(500)] * 40
    with fake_openai_server(*failures) as server:
        planner, context = planner_for(server.base_url, max_retries=1)
        hypotheses = planner.hypothesise(context)
        spec = planner.propose(context)
        assert spec is not None
        observations = planner.observations(record(1, spec, 0.7), context)
    assert hypotheses.top is not None and "kind" in hypotheses.top.action
    assert spec is not None and spec.planner == "fallback"
    assert observations == []
    assert all(not c.ok for c in planner.usage().calls)
    assert len(server.requests) == 6  # three components, two attempts each


def test_the_model_can_repair_its_design_over_the_wire() -> None:
    bad = {**GOOD_DESIGN, "params": {"n_estimators": 200, "max_dept": 6}}
    with fake_openai_server(answer(bad)) as server:
        planner, context = planner_for(server.base_url, max_output_tokens=300)
        spec = planner.propose(context)
    assert spec is not None and spec.planner == "llm"
    retry_round = server.requests[1]["messages"]
    assistant = next(m for m in retry_round if m["role"] == "assistant")
    assert assistant["content"] == ""  # strict servers (llama-cpp-python) reject null here
    tool = next(m for m in retry_round if m["role"] == "tool")
    assert "max_dept" in tool["content"]
    assert server.requests[0]["max_tokens"] == 300
    assert server.requests[0]["tool_choice"] == {
        "type": "function",
        "function": {"name": "submit_experiment"},
    }
