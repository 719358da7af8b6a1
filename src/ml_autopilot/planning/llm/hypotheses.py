"""HypothesisGenerator: two or three ranked hypotheses, each labelled explore or exploit.

The local strategy hint (explore early, on a plateau and late in the budget; exploit otherwise)
is given to the model with its reason. The answer becomes a ``HypothesisSet`` whose actions say
``{"mode": "explore" | "exploit", "source": "llm"}`` and, when the hypothesis names a catalog model
this run may use, ``"model"``. ``generate`` raises ``PlannerError`` on failure so that the planner
can use the optimizer's hypotheses instead.
"""

from __future__ import annotations

from typing import Any

from pydantic_ai import Agent, ToolOutput

from ml_autopilot.config import TaskType
from ml_autopilot.planning.base import PlanningContext
from ml_autopilot.planning.llm.client import LlmClient
from ml_autopilot.planning.llm.prompts import recent_results, results_table
from ml_autopilot.planning.llm.schemas import HypothesisList
from ml_autopilot.planning.llm.strategy import StrategyHint
from ml_autopilot.planning.llm.tools import catalog_tool
from ml_autopilot.planning.llm.untrusted import bounded, data_block
from ml_autopilot.state import Hypothesis, HypothesisSet

COMPONENT = "hypotheses"
TOOL = "submit_hypotheses"
TEXT_LIMIT = 400

RULES = (
    "Your job now: rank 2 or 3 hypotheses about what will improve the cross-validated score "
    "next, most promising first. Each is a testable claim about a catalog model, its "
    "hyperparameters or the preprocessing, with the evidence behind it, a confidence between 0 "
    "and 1, and a mode: 'explore' (something not tried yet) or 'exploit' (refine the best). "
    "Follow the strategy hint for the first hypothesis unless the results clearly argue against."
)


class HypothesisGenerator:
    """Ranks hypotheses with the model."""

    def __init__(
        self, client: LlmClient, instructions: str, models: list[str], task: TaskType
    ) -> None:
        self.client = client
        self.models = models
        self.agent: Agent[None, HypothesisList] = Agent(
            client.model,
            output_type=ToolOutput(HypothesisList, name=TOOL),
            retries={"output": client.settings.output_retries},
            instructions=f"{instructions}\n\n{RULES}",
            tools=[catalog_tool(models, task)],
            name=COMPONENT,
        )

    def generate(
        self, context: PlanningContext, hint: StrategyHint, deadline: float | None = None
    ) -> HypothesisSet:
        """The model's ranked hypotheses; ``PlannerError`` when it gave none."""
        extra = {"tool_choice": [TOOL]} if self.client.settings.force_output_tool else None
        answer = self.client.run(
            COMPONENT,
            self.agent,
            self._prompt(context, hint),
            memo=f"Rank hypotheses for experiment {context.iteration} (hint: {hint.mode}).",
            extra_settings=extra,  # type: ignore[arg-type]
            deadline=deadline,
        )
        return HypothesisSet(
            hypotheses=[
                Hypothesis(
                    rank=rank,
                    statement=bounded(draft.statement, TEXT_LIMIT) or "(no statement)",
                    rationale=bounded(draft.rationale, TEXT_LIMIT),
                    confidence=round(min(max(draft.confidence, 0.0), 1.0), 3),
                    action=self._action(draft.mode, draft.model),
                )
                for rank, draft in enumerate(answer.hypotheses[:3], start=1)
            ]
        )

    def _action(self, mode: str, model: str | None) -> dict[str, Any]:
        action: dict[str, Any] = {"mode": mode, "source": "llm"}
        key = (model or "").strip().lower()
        if key in self.models:
            action["model"] = key
        return action

    def _prompt(self, context: PlanningContext, hint: StrategyHint) -> str:
        facts = {
            "next_iteration": context.iteration,
            "strategy": {"mode": hint.mode, "reason": hint.reason},
            "results": results_table(
                context.history, context.metric, recent_results(self.client.settings)
            ),
        }
        return (
            f"Rank hypotheses for experiment {context.iteration}; the strategy hint is to "
            f"{hint.mode}.\n" + data_block("run_state", facts) + f"\nAnswer with the {TOOL} tool."
        )
