"""LLMPlanner: four model-backed components over one conversation, with the optimizer as net.

``ExperimentDesigner``, ``ResultsAnalyzer``, ``HypothesisGenerator`` and ``ReportGenerator``
share one ``LlmClient`` (model, conversation, usage, budget). Whatever the model does wrong, the
run goes on: an invalid or missing design is replaced by the offline optimizer's for that
iteration (recorded as ``planner="fallback"`` with the reason), failed hypotheses by the
optimizer's, failed observations by none and a failed report by the template. Every finished
experiment is also told to the optimizer, so it is current whenever it is needed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

from ml_autopilot.catalog.models import models_for
from ml_autopilot.config import TaskType
from ml_autopilot.errors import PlannerError
from ml_autopilot.log import get_logger
from ml_autopilot.planning.base import Planner, PlanningContext
from ml_autopilot.planning.llm.analyzer import ResultsAnalyzer
from ml_autopilot.planning.llm.client import LlmClient
from ml_autopilot.planning.llm.conversation import Conversation
from ml_autopilot.planning.llm.designer import ExperimentDesigner
from ml_autopilot.planning.llm.hypotheses import HypothesisGenerator
from ml_autopilot.planning.llm.prompts import shared_instructions
from ml_autopilot.planning.llm.providers import build_model
from ml_autopilot.planning.llm.reporter import ReportGenerator
from ml_autopilot.planning.llm.settings import settings_from_config
from ml_autopilot.planning.llm.strategy import RunLimits, strategy_hint
from ml_autopilot.planning.llm.untrusted import bounded
from ml_autopilot.state import (
    Constraints,
    ExperimentRecord,
    ExperimentSpec,
    HypothesisSet,
    LlmUsage,
    SessionState,
)

logger = get_logger("planning.llm")

MIN_CALL_SECONDS = 20.0
CALL_SHARE = 0.2  # of the time left that one component call (with its retries) may take
REASON_CHARS = 500
DIRECTIONS = {  # the research directions LLM designs are filed under (see ``directions``)
    "LLM explore": "The LLM planner tries model families and settings not explored yet.",
    "LLM exploit": "The LLM planner refines the best experiment so far.",
}


class LLMPlanner(Planner):
    """Plans with a language model; falls back to ``fallback`` step by step."""

    name = "llm"

    def __init__(
        self,
        client: LlmClient,
        fallback: Planner,
        context: PlanningContext,
        limits: RunLimits | None = None,
    ) -> None:
        self.client = client
        self.fallback = fallback
        self.limits = limits or RunLimits()
        self.clock: Callable[[], float] = client.clock
        self.context = context
        self._build(context.constraints)

    def _build(self, constraints: Constraints) -> None:
        """The four components, with instructions for the current constraints."""
        context = self.context
        models = allowed_models(context.task, constraints)
        instructions = shared_instructions(
            context.task,
            context.metric,
            context.profile,
            constraints,
            models,
            compact=self.client.settings.compact,
        )
        client, task = self.client, context.task
        self.designer = ExperimentDesigner(client, instructions, models, task)
        self.analyzer = ResultsAnalyzer(client, instructions, models, task)
        self.generator = HypothesisGenerator(client, instructions, models, task)
        self.reporter = ReportGenerator(client, instructions, models, task)

    # ---- the planner interface -------------------------------------------------------------
    def propose(self, context: PlanningContext) -> ExperimentSpec | None:
        if self.client.exhausted():
            return self._fallback_design(context, self._budget_reason())
        hint = strategy_hint(context, self.limits)
        try:
            return self.designer.design(context, context.hypothesis, hint, self._deadline(context))
        except PlannerError as exc:
            return self._fallback_design(context, str(exc))

    def observe(self, record: ExperimentRecord) -> None:
        self.fallback.observe(record)  # keeps the optimizer's study current for any fallback

    def observations(self, record: ExperimentRecord, context: PlanningContext) -> list[str]:
        if self.client.exhausted():
            return []
        return self.analyzer.observe(record, context, self._deadline(context))

    def hypothesise(self, context: PlanningContext) -> HypothesisSet:
        if self.client.exhausted():
            return self.fallback.hypothesise(context)
        hint = strategy_hint(context, self.limits)
        try:
            return self.generator.generate(context, hint, self._deadline(context))
        except PlannerError as exc:
            logger.warning("LLM hypotheses failed, using the optimizer's: %s", exc)
            return self.fallback.hypothesise(context)

    def stop_reason(self, context: PlanningContext) -> str | None:
        reason = self.fallback.stop_reason(context)
        if reason is None and self.client.exhausted():
            return self._budget_reason()
        return reason

    def update_constraints(self, constraints: Constraints) -> None:
        self.fallback.update_constraints(constraints)
        self._build(constraints)  # the model sees the steered constraints from the next call

    def describe_direction(self, name: str) -> str:
        return DIRECTIONS.get(name) or self.fallback.describe_direction(name)

    def export_memory(self) -> dict[str, object]:
        return {"conversation": self.client.conversation.to_json()}

    def usage(self) -> LlmUsage:
        return self.client.usage.model_copy(deep=True)

    def narrative(self, state: SessionState) -> dict[str, str]:
        if self.client.exhausted():
            return {}
        return self.reporter.write(state)

    # ---- helpers ---------------------------------------------------------------------------
    def _fallback_design(self, context: PlanningContext, reason: str) -> ExperimentSpec | None:
        logger.warning("LLM design failed, the optimizer designs this one: %s", reason)
        hypothesis = context.hypothesis
        if hypothesis is not None and "kind" not in hypothesis.action:
            context = replace(context, hypothesis=None)  # an LLM idea: let it pick its own
        spec = self.fallback.propose(context)
        if spec is None:
            return None
        return spec.model_copy(
            update={"planner": "fallback", "fallback_reason": bounded(reason, REASON_CHARS)}
        )

    def _deadline(self, context: PlanningContext) -> float | None:
        if not math.isfinite(context.time_left):
            return None
        return self.clock() + max(MIN_CALL_SECONDS, CALL_SHARE * context.time_left)

    def _budget_reason(self) -> str:
        used, budget = self.client.tokens_used(), self.client.settings.token_budget
        return f"LLM token budget used ({used} of {budget} tokens)"


def allowed_models(task: TaskType, constraints: Constraints) -> list[str]:
    """Catalog models for the task that the constraints do not avoid, preferred ones first."""
    avoided = {m.lower() for m in constraints.avoided_models}
    models = [m for m in models_for(task) if m not in avoided]
    preferred = [m for m in constraints.preferred_models if m in models]
    return preferred + [m for m in models if m not in preferred]


def build_llm_planner(context: PlanningContext, state: SessionState, fallback: Planner) -> Planner:
    """The session's LLM planner, with its conversation and usage restored from ``state``."""
    settings = settings_from_config(state.config)
    model = build_model(settings)
    conversation = Conversation.from_json(
        state.planner_memory.get("conversation"), settings.history_tokens
    )
    calls = list(state.llm_usage.calls) if state.llm_usage else []
    client = LlmClient(
        settings=settings,
        model=model,
        conversation=conversation,
        usage=LlmUsage(model=settings.model, calls=calls),
    )
    logger.info("LLM planner: %s%s", settings.model, f" at {settings.base_url}" * settings.is_local)
    return LLMPlanner(client, fallback, context, RunLimits.from_state(state))


__all__ = ["LLMPlanner", "allowed_models", "build_llm_planner"]
