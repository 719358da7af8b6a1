"""Settings of the LLM planner, read once from the run configuration.

``LlmSettings`` gathers everything the LLM layer needs to talk to a model: which model and
where (a ``provider:model`` string, or an OpenAI-compatible server by base URL), sampling
temperature, thinking effort, the per-call timeout and retry policy, the run's token budget and
how many tokens of conversation history to keep.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ml_autopilot.config import RunConfig

DEFAULT_MODEL = "google-gla:gemini-3-flash-preview"
LOCAL_MODEL_NAME = "default"
DEFAULT_TIMEOUT = 90.0
LOCAL_TIMEOUT = 240.0  # CPU inference is slow, and a timed-out request still occupies the server
DEFAULT_HISTORY_TOKENS = 30_000
LOCAL_HISTORY_TOKENS = 3_000  # OpenAI-compatible servers often run with small contexts
# A local server keeps generating after a client gives up, so every answer is capped.
LOCAL_MAX_OUTPUT_TOKENS = 768
# Prefixes that only say "OpenAI wire format"; the rest of the string is the server's model id.
OPENAI_PREFIXES = ("openai:", "openai-chat:")

Thinking = Literal["off", "low", "medium", "high"]


@dataclass(frozen=True)
class LlmSettings:
    """How the LLM planner calls its model. Frozen; use ``dataclasses.replace`` to vary."""

    model: str = DEFAULT_MODEL
    base_url: str | None = None
    temperature: float = 1.0
    thinking: Thinking = "high"
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = 3
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    output_retries: int = 2
    token_budget: int | None = None
    history_tokens: int = DEFAULT_HISTORY_TOKENS
    max_output_tokens: int | None = None

    @property
    def is_local(self) -> bool:
        """True for an OpenAI-compatible server given by base URL (Ollama, vLLM, llama.cpp)."""
        return self.base_url is not None

    @property
    def provider(self) -> str:
        """``openai-compatible`` for a base URL, otherwise the prefix of the model string."""
        if self.is_local:
            return "openai-compatible"
        prefix, sep, _ = self.model.partition(":")
        return prefix if sep else ""

    @property
    def model_name(self) -> str:
        """The model id without its provider prefix."""
        if self.is_local:
            return self.model
        _, sep, name = self.model.partition(":")
        return name if sep else self.model

    @property
    def compact(self) -> bool:
        """Shorter prompts (catalog ranges only, fewer columns and results) for local servers."""
        return self.is_local

    @property
    def force_output_tool(self) -> bool:
        """Name the output tool in ``tool_choice``: local servers need it for structured output."""
        return self.is_local


def settings_from_config(config: RunConfig) -> LlmSettings:
    """The LLM settings a run asked for (``--llm-model``, ``--llm-base-url``, budget, ...)."""
    base_url = config.llm_base_url or None
    if base_url is None:
        model = config.llm_model or DEFAULT_MODEL
        history, timeout, max_output = DEFAULT_HISTORY_TOKENS, DEFAULT_TIMEOUT, None
    else:
        model = local_model_name(config.llm_model)
        history, timeout = LOCAL_HISTORY_TOKENS, LOCAL_TIMEOUT
        max_output = LOCAL_MAX_OUTPUT_TOKENS
    return LlmSettings(
        model=model,
        base_url=base_url,
        temperature=config.llm_temperature,
        thinking=config.llm_thinking,
        timeout=timeout,
        token_budget=config.llm_budget,
        history_tokens=history,
        max_output_tokens=max_output,
    )


def local_model_name(model: str | None) -> str:
    """The model id sent to an OpenAI-compatible server (``openai:`` prefixes removed)."""
    if not model or model == DEFAULT_MODEL:
        return LOCAL_MODEL_NAME
    for prefix in OPENAI_PREFIXES:
        if model.startswith(prefix):
            return model[len(prefix) :] or LOCAL_MODEL_NAME
    return model
