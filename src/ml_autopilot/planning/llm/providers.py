"""Turn ``LlmSettings`` into a pydantic-ai model and the request settings for one call.

Gemini (``google-gla:`` / ``google:``), OpenAI (``openai:``) and Anthropic (``anthropic:``)
are built here with their keys read from the environment, so a missing key is one clear
``PlannerError``; any other ``provider:model`` string goes to pydantic-ai's own inference. With a
base URL, the model is an ``OpenAIChatModel`` (see ``compat``) for any OpenAI-compatible server.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic_ai.exceptions import UserError as PydanticAIUserError
from pydantic_ai.models import Model, infer_model
from pydantic_ai.settings import ModelSettings

from ml_autopilot.errors import PlannerError
from ml_autopilot.planning.llm.settings import LlmSettings

KEYS: dict[str, tuple[str, ...]] = {
    "google": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
}
# Older provider names pydantic-ai 2 no longer accepts, mapped to the current ones.
ALIASES = {"google-gla": "google", "google-vertex": "google-cloud", "gemini": "google"}
LOCAL_API_KEY = "not-needed"


def build_model(settings: LlmSettings, env: Mapping[str, str] | None = None) -> Model:
    """The pydantic-ai model for these settings; ``PlannerError`` when it cannot be built."""
    env = os.environ if env is None else env
    if settings.base_url is not None:
        return _openai_compatible(settings, env)
    provider = ALIASES.get(settings.provider, settings.provider)
    name = settings.model_name
    if not provider or not name:
        raise PlannerError(
            f"--llm-model '{settings.model}' must look like provider:model, e.g. "
            "google-gla:gemini-3-flash-preview, openai:gpt-5-mini or anthropic:claude-sonnet-4-5."
        )
    try:
        if provider in KEYS:
            return _hosted(provider, name, _key(provider, settings.model, env))
        return infer_model(f"{provider}:{name}")
    except (PydanticAIUserError, ImportError, ValueError) as exc:
        raise PlannerError(f"Cannot use LLM model '{settings.model}': {exc}") from exc


def request_settings(settings: LlmSettings, timeout: float) -> ModelSettings:
    """Settings for one request: sampling, thinking, and a timeout with no SDK retries.

    Retrying is done by the planner's caller (with backoff it controls), so the provider SDK
    makes a single attempt. Thinking maps onto each provider's own setting through pydantic-ai's
    unified ``thinking`` field; it is left out for OpenAI-compatible servers, whose support is
    unknown, and providers without a thinking setting ignore it.
    """
    result = ModelSettings(
        timeout=timeout,
        request_timeout=timeout,
        max_retries=0,
        temperature=settings.temperature,
    )
    if settings.max_output_tokens is not None:
        result["max_tokens"] = settings.max_output_tokens
    if not settings.is_local:
        result["thinking"] = False if settings.thinking == "off" else settings.thinking
        if settings.provider == "anthropic" and settings.thinking != "off":
            del result["temperature"]  # Anthropic accepts only the default with thinking on
    return result


def _key(provider: str, model: str, env: Mapping[str, str]) -> str:
    names = KEYS[provider]
    for name in names:
        if env.get(name):
            return env[name]
    wanted = " or ".join(names)
    raise PlannerError(
        f"The LLM planner needs an API key for {model}: set {wanted}, pass --llm-base-url for "
        "an OpenAI-compatible server, or use --planner optimizer to run offline."
    )


def _hosted(provider: str, name: str, key: str) -> Model:
    if provider == "google":
        from pydantic_ai.models.google import GoogleModel
        from pydantic_ai.providers.google import GoogleProvider

        return GoogleModel(name, provider=GoogleProvider(api_key=key))
    if provider == "openai":
        from pydantic_ai.models.openai import OpenAIResponsesModel
        from pydantic_ai.providers.openai import OpenAIProvider

        return OpenAIResponsesModel(name, provider=OpenAIProvider(api_key=key))
    from pydantic_ai.models.anthropic import AnthropicModel
    from pydantic_ai.providers.anthropic import AnthropicProvider

    return AnthropicModel(name, provider=AnthropicProvider(api_key=key))


def _openai_compatible(settings: LlmSettings, env: Mapping[str, str]) -> Model:
    from pydantic_ai.providers.openai import OpenAIProvider

    from ml_autopilot.planning.llm.compat import CompatibleChatModel

    key = env.get("OPENAI_API_KEY") or LOCAL_API_KEY
    provider = OpenAIProvider(base_url=settings.base_url, api_key=key)
    return CompatibleChatModel(settings.model, provider=provider)
