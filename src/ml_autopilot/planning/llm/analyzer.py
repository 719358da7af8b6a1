"""ResultsAnalyzer: the model's reading of a finished experiment.

The comparisons with the baseline, the best and the previous experiment, and the trend, are
computed locally (``record.analysis``) and given to the model as facts; it adds three to five
observations and its reasoning. On any failure the analysis simply has no LLM observations.
"""

from __future__ import annotations

from pydantic_ai import Agent, ToolOutput

from ml_autopilot.config import TaskType
from ml_autopilot.errors import PlannerError
from ml_autopilot.log import get_logger
from ml_autopilot.planning.base import PlanningContext
from ml_autopilot.planning.llm.client import LlmClient
from ml_autopilot.planning.llm.prompts import experiment_row
from ml_autopilot.planning.llm.schemas import ResultReading
from ml_autopilot.planning.llm.tools import catalog_tool
from ml_autopilot.planning.llm.untrusted import bounded, data_block
from ml_autopilot.state import ExperimentRecord

logger = get_logger("planning.llm")

COMPONENT = "analyzer"
TOOL = "submit_observations"
OBSERVATION_CHARS = 300
MAX_OBSERVATIONS = 5

RULES = (
    "Your job now: read the experiment that just finished. The comparisons and the trend are "
    "already computed; do not restate them. Add 3 to 5 short observations a data scientist "
    "would note (what the result says about the model family, its settings, the preprocessing, "
    "stability across folds, cost in time) and your reasoning about what to do next."
)


class ResultsAnalyzer:
    """Adds the model's observations to a finished experiment."""

    def __init__(
        self, client: LlmClient, instructions: str, models: list[str], task: TaskType
    ) -> None:
        self.client = client
        self.agent: Agent[None, ResultReading] = Agent(
            client.model,
            output_type=ToolOutput(ResultReading, name=TOOL),
            retries={"output": client.settings.output_retries},
            instructions=f"{instructions}\n\n{RULES}",
            tools=[catalog_tool(models, task)],
            name=COMPONENT,
        )

    def observe(
        self, record: ExperimentRecord, context: PlanningContext, deadline: float | None = None
    ) -> list[str]:
        """Observations (and a last line of reasoning), or [] when the model gave none."""
        extra = {"tool_choice": [TOOL]} if self.client.settings.force_output_tool else None
        try:
            reading = self.client.run(
                COMPONENT,
                self.agent,
                self._prompt(record, context),
                extra_settings=extra,  # type: ignore[arg-type]
                deadline=deadline,
            )
        except PlannerError as exc:
            logger.info("no LLM observations for experiment %d: %s", record.iteration, exc)
            return []
        notes = [bounded(o, OBSERVATION_CHARS) for o in reading.observations if o.strip()]
        notes = notes[:MAX_OBSERVATIONS]
        if reading.reasoning.strip():
            notes.append(f"Reasoning: {bounded(reading.reasoning, OBSERVATION_CHARS)}")
        return notes

    @staticmethod
    def _prompt(record: ExperimentRecord, context: PlanningContext) -> str:
        facts = {
            "experiment": experiment_row(record),
            "hypothesis": record.spec.hypothesis,
            "comparisons": (
                [c.model_dump() for c in record.analysis.comparisons] if record.analysis else []
            ),
            "trend": record.analysis.trend if record.analysis else "initial",
            "is_new_best": bool(record.analysis and record.analysis.is_new_best),
            "computed_observations": record.analysis.observations if record.analysis else [],
            "experiments_so_far": len(context.history),
        }
        return (
            f"Experiment {record.iteration} finished.\n"
            + data_block("experiment", facts)
            + f"\nAnswer with the {TOOL} tool."
        )
