"""The shared conversation: history as messages, trimming, and the memory round trip."""

from __future__ import annotations

import json

from pydantic_ai.messages import ModelRequest, ModelResponse

from ml_autopilot.planning.llm.conversation import SUMMARY_HEADER, Conversation


def test_turns_become_alternating_messages() -> None:
    conversation = Conversation(max_tokens=10_000)
    conversation.add("designer", "design one", '{"model": "lightgbm"}')
    conversation.add("analyzer", "read it", '{"observations": []}')
    messages = conversation.messages()
    assert [type(m) for m in messages] == [ModelRequest, ModelResponse] * 2
    assert messages[0].parts[0].content == "design one"


def test_trimming_drops_the_oldest_turns_into_a_summary() -> None:
    conversation = Conversation(max_tokens=300)
    for i in range(20):
        conversation.add("designer", f"prompt {i} " + "x" * 200, f'{{"answer": {i}}}')
    assert conversation.tokens <= 300
    assert conversation.dropped > 0
    assert conversation.turns[-1].prompt.startswith("prompt 19")
    assert conversation.summary[-1].startswith("[designer]")
    first = conversation.messages()[0]
    assert isinstance(first, ModelRequest)
    assert first.parts[0].content.startswith(SUMMARY_HEADER)


def test_memory_round_trip_is_plain_json() -> None:
    conversation = Conversation(max_tokens=250)
    for i in range(6):
        conversation.add("hypotheses", f"rank {i} " + "y" * 150, f'{{"rank": {i}}}')
    saved = json.loads(json.dumps(conversation.to_json()))
    restored = Conversation.from_json(saved, max_tokens=250)
    assert [t.prompt for t in restored.turns] == [t.prompt for t in conversation.turns]
    assert [t.component for t in restored.turns] == [t.component for t in conversation.turns]
    assert restored.summary == conversation.summary
    assert restored.dropped == conversation.dropped


def test_unreadable_memory_starts_afresh() -> None:
    for junk in ({"version": 99}, {"version": 1, "messages": [{"kind": "nonsense"}]}, None):
        assert Conversation.from_json(junk, max_tokens=100).turns == []


def test_restoring_into_a_smaller_budget_trims() -> None:
    conversation = Conversation(max_tokens=10_000)
    for i in range(10):
        conversation.add("designer", "p" * 400, f'{{"i": {i}}}')
    restored = Conversation.from_json(conversation.to_json(), max_tokens=300)
    assert restored.tokens <= 300 and restored.dropped > 0
