"""Settings from the run configuration, and turning them into a pydantic-ai model."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_ai.models.google import GoogleModel
from pydantic_ai.models.openai import OpenAIChatModel

from ml_autopilot.errors import PlannerError
from ml_autopilot.planning.llm.providers import build_model, request_settings
from ml_autopilot.planning.llm.settings import (
    DEFAULT_MODEL,
    LOCAL_HISTORY_TOKENS,
    LlmSettings,
    settings_from_config,
)
from tests.conftest import run_config


def config(tmp_path: Path, **overrides: object):
    return run_config(tmp_path / "d.csv", "y", tmp_path / "run", **overrides)


def test_defaults_follow_the_run_config(tmp_path: Path) -> None:
    settings = settings_from_config(config(tmp_path, llm_budget=5000))
    assert settings.model == DEFAULT_MODEL
    assert settings.temperature == 1.0
    assert settings.thinking == "high"
    assert settings.token_budget == 5000
    assert settings.provider == "google-gla"
    assert settings.model_name == "gemini-3-flash-preview"
    assert not settings.is_local


def test_base_url_means_an_openai_compatible_server(tmp_path: Path) -> None:
    settings = settings_from_config(
        config(tmp_path, llm_base_url="http://127.0.0.1:9/v1", llm_model="openai:qwen3")
    )
    assert settings.is_local and settings.force_output_tool
    assert settings.model == "qwen3"
    assert settings.history_tokens == LOCAL_HISTORY_TOKENS
    assert request_settings(settings, 5.0)["max_tokens"] == settings.max_output_tokens
    model = build_model(settings, env={})
    assert isinstance(model, OpenAIChatModel)
    assert model.model_name == "qwen3"


def test_ollama_style_model_names_keep_their_tag(tmp_path: Path) -> None:
    settings = settings_from_config(
        config(tmp_path, llm_base_url="http://127.0.0.1:9/v1", llm_model="llama3.2:3b")
    )
    assert settings.model == "llama3.2:3b"


def test_gemini_key_from_either_variable() -> None:
    for variable in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        model = build_model(LlmSettings(), env={variable: "k"})
        assert isinstance(model, GoogleModel)
        assert model.model_name == "gemini-3-flash-preview"


@pytest.mark.parametrize(
    ("model", "variable"),
    [
        ("google-gla:gemini-3-flash-preview", "GEMINI_API_KEY or GOOGLE_API_KEY"),
        ("openai:gpt-5-mini", "OPENAI_API_KEY"),
        ("anthropic:claude-sonnet-4-5", "ANTHROPIC_API_KEY"),
    ],
)
def test_a_missing_key_is_one_clear_planner_error(model: str, variable: str) -> None:
    with pytest.raises(PlannerError, match=variable) as info:
        build_model(LlmSettings(model=model), env={})
    assert "--planner optimizer" in str(info.value)


def test_a_model_string_without_provider_is_refused() -> None:
    with pytest.raises(PlannerError, match="provider:model"):
        build_model(LlmSettings(model="gpt-5"), env={"OPENAI_API_KEY": "k"})


def test_request_settings_map_thinking_per_provider() -> None:
    hosted = request_settings(LlmSettings(), timeout=12.0)
    assert hosted["thinking"] == "high" and "max_tokens" not in hosted
    assert hosted["timeout"] == hosted["request_timeout"] == 12.0
    assert hosted["max_retries"] == 0  # the planner's client retries, with its own backoff
    assert request_settings(LlmSettings(thinking="off"), 5.0)["thinking"] is False
    local = request_settings(LlmSettings(model="m", base_url="http://x/v1"), 5.0)
    assert "thinking" not in local and local["temperature"] == 1.0
    claude = request_settings(LlmSettings(model="anthropic:claude-sonnet-4-5"), 5.0)
    assert "temperature" not in claude and claude["thinking"] == "high"
