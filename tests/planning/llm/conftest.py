"""Fixtures of the LLM planner tests: no real model requests, scripted models, contexts.

Real model requests are disabled for the whole suite (``ALLOW_MODEL_REQUESTS = False``); the
tests that talk to a local HTTP server on 127.0.0.1 switch them back on for themselves.
"""

from __future__ import annotations

import pydantic_ai.models
import pytest

pydantic_ai.models.ALLOW_MODEL_REQUESTS = False


@pytest.fixture
def allow_local_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """For tests whose model is a real HTTP server on 127.0.0.1 (never a hosted provider)."""
    monkeypatch.setattr(pydantic_ai.models, "ALLOW_MODEL_REQUESTS", True)
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
