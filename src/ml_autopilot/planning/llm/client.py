"""Run one component's model call: budget check, timeout, retries with backoff, accounting.

``LlmClient`` is shared by the four components. It sends the shared conversation as history,
retries transient failures with exponential backoff, records one ``LlmCall`` per attempt (tokens,
estimated cost, duration, ok or the error), adds the finished turn to the conversation, and turns
every failure into a ``PlannerError`` so that the caller can fall back instead of crashing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic_ai import Agent, capture_run_messages
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import Model
from pydantic_ai.settings import ModelSettings
from pydantic_ai.usage import UsageLimits

from ml_autopilot.errors import PlannerError
from ml_autopilot.log import get_logger
from ml_autopilot.planning.llm.conversation import Conversation
from ml_autopilot.planning.llm.pricing import estimate_cost
from ml_autopilot.planning.llm.providers import request_settings
from ml_autopilot.planning.llm.retrying import backoff_delay, is_transient
from ml_autopilot.planning.llm.settings import LlmSettings
from ml_autopilot.planning.llm.untrusted import bounded
from ml_autopilot.state import LlmCall, LlmUsage

logger = get_logger("planning.llm")

OutputT = TypeVar("OutputT", bound=BaseModel)
MIN_ATTEMPT_SECONDS = 1.0
EXTRA_REQUESTS = 3  # requests a run may make beyond its output repair rounds (tool calls)


class LlmCallFailed(PlannerError):
    """A component's call failed for good (after any retries)."""


class BudgetExhausted(PlannerError):
    """The run's LLM token budget is used up."""


@dataclass
class LlmClient:
    """Calls the model for the components and keeps the books."""

    settings: LlmSettings
    model: Model
    conversation: Conversation
    usage: LlmUsage
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    # ---- budget ----------------------------------------------------------------------------
    def tokens_used(self) -> int:
        return self.usage.total_tokens

    def budget_left(self) -> int | None:
        """Tokens left in the run's budget, or None when there is no budget."""
        budget = self.settings.token_budget
        return None if budget is None else max(0, budget - self.tokens_used())

    def exhausted(self) -> bool:
        return self.budget_left() == 0

    # ---- calls -----------------------------------------------------------------------------
    def run(
        self,
        component: str,
        agent: Agent[Any, OutputT],
        prompt: str,
        *,
        deps: Any = None,
        memo: str | None = None,
        extra_settings: ModelSettings | None = None,
        deadline: float | None = None,
    ) -> OutputT:
        """The component's structured answer; ``LlmCallFailed`` or ``BudgetExhausted`` if none.

        ``memo`` is what the conversation keeps of the prompt (the prompt itself by default);
        ``deadline`` (a ``clock()`` value) bounds the call and its retries together.
        """
        history = self.conversation.messages()
        attempt = 0
        while True:
            if self.exhausted():
                raise BudgetExhausted(f"LLM token budget of {self.settings.token_budget} used")
            attempt += 1
            timeout = self._timeout(deadline)
            if timeout is None:
                raise LlmCallFailed(f"{component}: no time left for a model call")
            started = self.clock()
            try:
                with capture_run_messages() as captured:
                    try:
                        result = agent.run_sync(
                            prompt,
                            message_history=history,
                            deps=deps,
                            model_settings=request_settings(self.settings, timeout)
                            | (extra_settings or {}),
                            usage_limits=UsageLimits(
                                request_limit=self.settings.output_retries + EXTRA_REQUESTS
                            ),
                        )
                    finally:
                        messages = list(captured)
            except Exception as exc:  # the model boundary: nothing a model does may crash a run
                self._record_failure(component, messages, started, exc)
                if not self._retry(component, attempt, exc, deadline):
                    raise LlmCallFailed(f"{component}: {describe(exc)}") from exc
                continue
            self._record(component, result.usage.input_tokens, result.usage.output_tokens, started)
            output = result.output
            self.conversation.add(component, memo or prompt, output.model_dump_json())
            return output

    def _timeout(self, deadline: float | None) -> float | None:
        timeout = self.settings.timeout
        if deadline is not None:
            timeout = min(timeout, deadline - self.clock())
        return timeout if timeout >= MIN_ATTEMPT_SECONDS else None

    def _retry(self, component: str, attempt: int, exc: Exception, deadline: float | None) -> bool:
        if not is_transient(exc) or attempt > self.settings.max_retries:
            logger.warning("LLM %s call failed: %s", component, describe(exc))
            return False
        delay = backoff_delay(attempt, self.settings.backoff_base, self.settings.backoff_max, exc)
        if deadline is not None and self.clock() + delay + MIN_ATTEMPT_SECONDS > deadline:
            logger.warning("LLM %s call failed, no time to retry: %s", component, describe(exc))
            return False
        logger.info(
            "LLM %s call failed (%s); retry %d in %.1f s", component, describe(exc), attempt, delay
        )
        self.sleep(delay)
        return True

    # ---- accounting ------------------------------------------------------------------------
    def _record(
        self,
        component: str,
        input_tokens: int,
        output_tokens: int,
        started: float,
        error: str | None = None,
    ) -> None:
        settings = self.settings
        cost = (
            None
            if settings.is_local
            else estimate_cost(settings.provider, settings.model_name, input_tokens, output_tokens)
        )
        self.usage.calls.append(
            LlmCall(
                component=component,
                model=settings.model,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cost_usd=cost,
                duration=round(self.clock() - started, 3),
                ok=error is None,
                error=error,
            )
        )

    def _record_failure(
        self, component: str, messages: list[ModelMessage], started: float, exc: Exception
    ) -> None:
        responses = [m for m in messages if isinstance(m, ModelResponse)]
        tokens_in = sum(r.usage.input_tokens for r in responses)
        tokens_out = sum(r.usage.output_tokens for r in responses)
        self._record(component, tokens_in, tokens_out, started, error=describe(exc))


def describe(exc: BaseException) -> str:
    """A one-line, bounded description of a failure, for logs and the state file."""
    return f"{type(exc).__name__}: {bounded(exc, 300)}"
