"""ReportGenerator: the written sections of the final report, from the run's real numbers.

The model gets the numbers of the run (baseline, best, holdout, every experiment, why it
stopped, who designed what) and writes an executive summary, the methodology, insights and
recommendations. Any failure returns ``{}``, and the template report stands in.
"""

from __future__ import annotations

from typing import Any

from pydantic_ai import Agent, ToolOutput

from ml_autopilot.config import TaskType
from ml_autopilot.errors import PlannerError
from ml_autopilot.log import get_logger
from ml_autopilot.planning.llm.client import LlmClient
from ml_autopilot.planning.llm.prompts import experiment_row
from ml_autopilot.planning.llm.schemas import ReportSections
from ml_autopilot.planning.llm.tools import catalog_tool
from ml_autopilot.planning.llm.untrusted import data_block
from ml_autopilot.state import SessionState

logger = get_logger("planning.llm")

COMPONENT = "reporter"
TOOL = "submit_report"
SECTION_CHARS = 3000
MAX_ROWS = 40

RULES = (
    "Your job now: write the final report of this run for a data scientist. Use only the "
    "numbers given below (scores, iterations, durations); do not invent any. Be concrete: name "
    "the best model and its CV and holdout scores, the gain over the baseline, what helped, "
    "what failed, and what to try next."
)


class ReportGenerator:
    """Writes the report sections with the model."""

    def __init__(
        self, client: LlmClient, instructions: str, models: list[str], task: TaskType
    ) -> None:
        self.client = client
        self.agent: Agent[None, ReportSections] = Agent(
            client.model,
            output_type=ToolOutput(ReportSections, name=TOOL),
            retries={"output": client.settings.output_retries},
            instructions=f"{instructions}\n\n{RULES}",
            tools=[catalog_tool(models, task)],
            name=COMPONENT,
        )

    def write(self, state: SessionState, deadline: float | None = None) -> dict[str, str]:
        """The four sections, or {} when the model could not write them."""
        extra = {"tool_choice": [TOOL]} if self.client.settings.force_output_tool else None
        try:
            sections = self.client.run(
                COMPONENT,
                self.agent,
                "Write the final report.\n" + data_block("run", run_facts(state)),
                memo="Write the final report.",
                extra_settings=extra,  # type: ignore[arg-type]
                deadline=deadline,
            )
        except PlannerError as exc:
            logger.warning("LLM report not written: %s", exc)
            return {}
        return {key: value.strip()[:SECTION_CHARS] for key, value in sections.model_dump().items()}


def run_facts(state: SessionState) -> dict[str, Any]:
    """The numbers the report may use."""
    best = state.best() if state.data else None
    baseline = state.experiments[0] if state.experiments else None
    final = state.final
    designers: dict[str, int] = {}
    for record in state.experiments:
        designers[record.spec.planner] = designers.get(record.spec.planner, 0) + 1
    return {
        "task": state.data.task if state.data else state.config.task,
        "metric": state.metric.model_dump() if state.data else None,
        "rows_for_search": state.data.n_train if state.data else None,
        "baseline_cv": baseline.result.cv_score if baseline else None,
        "best": None
        if best is None
        else {
            "iteration": best.iteration,
            "name": best.spec.name,
            "model": best.spec.model,
            "params": best.spec.params,
            "cv_score": best.result.cv_score,
            "cv_std": best.result.cv_std,
        },
        "holdout_score": final.holdout_score if final else None,
        "holdout_metrics": final.holdout_metrics if final else {},
        "stopped_because": state.termination_reason,
        "time_used_seconds": round(state.elapsed_seconds, 1),
        "designed_by": designers,
        "experiments": [experiment_row(r) for r in state.experiments[-MAX_ROWS:]],
    }
