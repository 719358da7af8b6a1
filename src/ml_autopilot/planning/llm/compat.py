"""An ``OpenAIChatModel`` for OpenAI-compatible servers that follow the wire format strictly.

Two differences from talking to OpenAI itself: an assistant message that only calls tools is
sent with ``content: ""`` instead of ``null`` (llama-cpp-python's server rejects ``null`` there,
which breaks every repair round); a restricted ``tool_choice`` is sent as a named function rather
than OpenAI's newer ``allowed_tools`` form; and the output cap goes out as ``max_tokens``, not
``max_completion_tokens``, which such servers ignore. All three are harmless for servers that
accept the originals (Ollama, vLLM).
"""

from __future__ import annotations

from typing import Any

from openai.types import chat
from pydantic_ai.messages import ModelResponse
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider


class CompatibleChatModel(OpenAIChatModel):
    """Chat Completions for any OpenAI-compatible server given by base URL."""

    def __init__(self, model_name: str, *, provider: OpenAIProvider) -> None:
        profile: dict[str, Any] = dict(provider.model_profile(model_name) or {})
        profile["openai_chat_supports_allowed_tools"] = False
        profile["openai_chat_supports_max_completion_tokens"] = False  # send max_tokens
        super().__init__(model_name, provider=provider, profile=profile)  # type: ignore[arg-type]

    def _map_model_response(self, message: ModelResponse) -> chat.ChatCompletionMessageParam | None:
        mapped = super()._map_model_response(message)
        if mapped is not None and mapped["role"] == "assistant" and mapped.get("content") is None:
            mapped["content"] = ""
        return mapped
