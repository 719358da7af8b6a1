"""Builders shared by the LLM planner tests: contexts, records, clients and scripted models."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import Model
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage

from ml_autopilot.data.profiling import profile_data
from ml_autopilot.planning.base import PlanningContext
from ml_autopilot.planning.llm.client import LlmClient
from ml_autopilot.planning.llm.conversation import Conversation
from ml_autopilot.planning.llm.planner import LLMPlanner
from ml_autopilot.planning.llm.settings import LlmSettings
from ml_autopilot.planning.llm.strategy import RunLimits
from ml_autopilot.planning.optimizer import OptimizerPlanner
from ml_autopilot.state import (
    Constraints,
    ExperimentRecord,
    ExperimentResult,
    ExperimentSpec,
    LlmUsage,
    MetricInfo,
)
from tests.conftest import make_classification_frame, make_regression_frame

F1 = MetricInfo(name="f1", direction="maximize")
RMSE = MetricInfo(name="rmse", direction="minimize")
FAST = LlmSettings(model="test:scripted", backoff_base=0.01, backoff_max=0.05, timeout=10.0)


def planning_context(
    task: str = "classification",
    history: list[ExperimentRecord] | None = None,
    constraints: Constraints | None = None,
    frame: Any = None,
    time_left: float = float("inf"),
) -> PlanningContext:
    if frame is None:
        frame = make_classification_frame() if task == "classification" else make_regression_frame()
    target = "species" if task == "classification" else "price"
    history = history or []
    return PlanningContext(
        task=task,  # type: ignore[arg-type]
        metric=F1 if task == "classification" else RMSE,
        profile=profile_data(frame, target, task),  # type: ignore[arg-type]
        constraints=constraints or Constraints(),
        history=history,
        time_left=time_left,
        iteration=len(history),
    )


def record(
    iteration: int, spec: ExperimentSpec, score: float | None, error: str | None = None
) -> ExperimentRecord:
    return ExperimentRecord(
        iteration=iteration,
        spec=spec,
        result=ExperimentResult(
            status="success" if score is not None else "failed",
            cv_score=score,
            cv_std=0.01 if score is not None else None,
            duration=1.0,
            fit_time=0.5,
            error=error if score is None else None,
        ),
        started_at="t",
        finished_at="t",
    )


def make_client(
    brain: Model,
    settings: LlmSettings = FAST,
    sleep: Callable[[float], None] | None = None,
    **changes: Any,
) -> LlmClient:
    """A client over the model ``brain``; ``sleep`` records backoff delays instead of sleeping."""
    settings = replace(settings, **changes)
    return LlmClient(
        settings=settings,
        model=brain,
        conversation=Conversation(max_tokens=settings.history_tokens),
        usage=LlmUsage(model=settings.model),
        sleep=sleep or (lambda _seconds: None),
    )


def make_planner(
    brain: Model,
    context: PlanningContext,
    settings: LlmSettings = FAST,
    limits: RunLimits | None = None,
    **changes: Any,
) -> LLMPlanner:
    client = make_client(brain, settings, **changes)
    fallback = OptimizerPlanner(context, seed=0)
    return LLMPlanner(client, fallback, context, limits)


# ---- scripted models ------------------------------------------------------------------------
GOOD_DESIGN = {
    "name": "rf_shallow",
    "hypothesis": "A shallower random forest will generalise better.",
    "model": "random_forest",
    "params": {"n_estimators": 200, "max_depth": 6},
    "preprocessing": {"imputation": "median", "scaling": "none", "encoding": "onehot"},
    "reasoning": "Trees handle the interaction between signal and colour.",
}
OBSERVATIONS = {
    "observations": [
        "Trees beat the linear baseline.",
        "The folds agree closely.",
        "It was fast to fit.",
    ],
    "reasoning": "Tune the forest next.",
}
HYPOTHESES = {
    "hypotheses": [
        {
            "statement": "LightGBM will beat the forest.",
            "rationale": "Boosting usually wins on tabular data.",
            "confidence": 0.7,
            "mode": "explore",
            "model": "lightgbm",
        },
        {
            "statement": "A deeper forest will help.",
            "rationale": "The forest is underfitting.",
            "confidence": 0.5,
            "mode": "exploit",
            "model": "random_forest",
        },
    ]
}
REPORT = {
    "executive_summary": "The forest won.",
    "methodology": "Baseline, then trees.",
    "insights": "Trees fit the interaction.",
    "recommendations": "Try gradient boosting next.",
}
DEFAULTS = {
    "submit_experiment": GOOD_DESIGN,
    "submit_observations": OBSERVATIONS,
    "submit_hypotheses": HYPOTHESES,
    "submit_report": REPORT,
}


@dataclass
class Script:
    """A FunctionModel brain: per output tool, a queue of answers (then the default)."""

    answers: dict[str, list[Any]] = field(default_factory=dict)
    prompts: list[str] = field(default_factory=list)
    retries: list[str] = field(default_factory=list)
    histories: list[int] = field(default_factory=list)
    tokens: tuple[int, int] = (100, 20)

    def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        tool = info.output_tools[0].name
        last = messages[-1]
        for part in last.parts if isinstance(last, ModelRequest) else []:
            if isinstance(part, UserPromptPart) and isinstance(part.content, str):
                self.prompts.append(part.content)
                self.histories.append(len(messages) - 1)
            if isinstance(part, RetryPromptPart | ToolReturnPart):
                self.retries.append(str(part.content))
        queue = self.answers.get(tool, [])
        answer = queue.pop(0) if queue else DEFAULTS[tool]
        if isinstance(answer, Exception):
            raise answer
        usage = RequestUsage(input_tokens=self.tokens[0], output_tokens=self.tokens[1])
        if isinstance(answer, str):
            return ModelResponse(parts=[TextPart(answer)], usage=usage)
        return ModelResponse(parts=[ToolCallPart(tool, json.dumps(answer))], usage=usage)

    def model(self) -> FunctionModel:
        return FunctionModel(self, model_name="scripted")
