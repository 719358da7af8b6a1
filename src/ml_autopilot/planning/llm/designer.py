"""ExperimentDesigner: the model designs the next experiment; the validator decides.

The model answers with a ``DesignedSpec`` through the ``submit_experiment`` tool. Inside the
same call, each answer is turned into an ``ExperimentSpec`` and checked by ``validate_spec`` (plus
the run's avoided models and a repeat check); a rejected answer goes back to the model with the
validator's message, for a bounded number of repair rounds. On the last round the engine tries
to repair the design itself. If nothing valid comes out, ``design`` raises ``PlannerError`` and
the planner lets the offline optimizer design this iteration instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic_ai import Agent, ModelRetry, RunContext, ToolOutput

from ml_autopilot.catalog.validation import safe_experiment_name, validate_spec
from ml_autopilot.config import TaskType
from ml_autopilot.errors import PlannerError, SpecValidationError
from ml_autopilot.planning.base import PlanningContext
from ml_autopilot.planning.llm.client import LlmClient
from ml_autopilot.planning.llm.prompts import best_record, recent_results, results_table
from ml_autopilot.planning.llm.repair import OPTION_NAME, repair_params, repair_preprocessing
from ml_autopilot.planning.llm.schemas import DesignedSpec, designed_spec_type
from ml_autopilot.planning.llm.strategy import StrategyHint
from ml_autopilot.planning.llm.tools import catalog_tool
from ml_autopilot.planning.llm.untrusted import bounded, data_block
from ml_autopilot.state import (
    Constraints,
    DataProfile,
    ExperimentRecord,
    ExperimentSpec,
    Hypothesis,
)

COMPONENT = "designer"
TOOL = "submit_experiment"
TEXT_LIMIT = 600

RULES = (
    "Your job now: design the next experiment. Choose one catalog model, only hyperparameters "
    "that model accepts with values inside the sane limits, and allowed preprocessing. Change "
    "something relative to earlier experiments so that the result tests the hypothesis. If the "
    "engine rejects your design it tells you why: fix exactly that and submit again."
)


@dataclass
class DesignDeps:
    """What the output check needs for one design call, and what it leaves behind."""

    task: TaskType
    profile: DataProfile
    constraints: Constraints
    history: list[ExperimentRecord]
    hypothesis: Hypothesis | None
    pending: list[ExperimentSpec] = field(default_factory=list)
    direction: str | None = None
    spec: ExperimentSpec | None = None
    errors: list[str] = field(default_factory=list)


class ExperimentDesigner:
    """Designs one experiment per call, validated before it leaves."""

    def __init__(
        self, client: LlmClient, instructions: str, models: list[str], task: TaskType
    ) -> None:
        self.client = client
        self.models = models
        self.agent: Agent[DesignDeps, DesignedSpec] = Agent(
            client.model,
            output_type=ToolOutput(designed_spec_type(models), name=TOOL),
            retries={"output": client.settings.output_retries},
            instructions=f"{instructions}\n\n{RULES}",
            deps_type=DesignDeps,
            tools=[catalog_tool(models, task)],
            name=COMPONENT,
        )
        self.agent.output_validator(self._check)

    def design(
        self,
        context: PlanningContext,
        hypothesis: Hypothesis | None,
        hint: StrategyHint,
        deadline: float | None = None,
    ) -> ExperimentSpec:
        """A validated spec designed by the model; ``PlannerError`` when there is none."""
        deps = DesignDeps(
            task=context.task,
            profile=context.profile,
            constraints=context.constraints,
            history=context.history,
            hypothesis=hypothesis,
            pending=context.pending,
            direction=f"LLM {hint.mode}",
        )
        extra = {"tool_choice": [TOOL]} if self.client.settings.force_output_tool else None
        try:
            self.client.run(
                COMPONENT,
                self.agent,
                self._prompt(context, hypothesis, hint),
                deps=deps,
                memo=self._memo(context, hypothesis, hint),
                extra_settings=extra,  # type: ignore[arg-type]
                deadline=deadline,
            )
        except PlannerError as exc:
            last = f"; last rejection: {deps.errors[-1]}" if deps.errors else ""
            raise PlannerError(f"{exc}{last}") from exc
        if deps.spec is None:  # pragma: no cover - the check always sets it on success
            raise PlannerError("the design was accepted without a spec")
        return deps.spec

    # ---- the output check ------------------------------------------------------------------
    def _check(self, ctx: RunContext[DesignDeps], draft: DesignedSpec) -> DesignedSpec:
        deps = ctx.deps
        try:
            deps.spec = self._accept(draft, deps, notes=[])
            return draft
        except SpecValidationError as exc:
            deps.errors.append(str(exc))
            if ctx.retry < ctx.max_retries:
                raise ModelRetry(f"The engine rejected this experiment: {exc}") from exc
        notes: list[str] = []
        try:  # last round: repair what can be repaired, then validate again
            repaired = self._repair(draft, deps, notes)
            deps.spec = self._accept(repaired, deps, notes)
            return repaired
        except (SpecValidationError, KeyError) as exc:
            deps.errors.append(str(exc))
            raise ModelRetry(f"The engine rejected this experiment: {exc}") from exc

    def _accept(self, draft: DesignedSpec, deps: DesignDeps, notes: list[str]) -> ExperimentSpec:
        if draft.model.strip().lower() in {m.lower() for m in deps.constraints.avoided_models}:
            raise SpecValidationError(f"the user's constraints avoid model '{draft.model}'")
        check_string_params(draft.params)
        reasoning = bounded(draft.reasoning, TEXT_LIMIT)
        if notes:
            reasoning += f" [Repaired by the engine: {'; '.join(notes)}.]"
        hypothesis = bounded(draft.hypothesis, TEXT_LIMIT) or (
            deps.hypothesis.statement if deps.hypothesis else "The model's design will improve."
        )
        spec = ExperimentSpec(
            name=unique_name(draft.name, draft.model, deps.history, deps.pending),
            model=draft.model,
            params=dict(draft.params),
            preprocessing=draft.preprocessing,
            hypothesis=hypothesis,
            reasoning=reasoning or "Designed by the LLM planner.",
            planner="llm",
            source="llm",
            direction=deps.direction,
        )
        validated = validate_spec(spec, deps.task, deps.profile).spec
        earlier = [r.spec for r in deps.history] + deps.pending
        repeat = repeated(validated, earlier)
        if repeat is not None:
            raise SpecValidationError(
                f"this repeats experiment '{repeat.name}' exactly; "
                "change the model, a hyperparameter or the preprocessing"
            )
        return validated

    def _repair(self, draft: DesignedSpec, deps: DesignDeps, notes: list[str]) -> DesignedSpec:
        model = draft.model.strip().lower()
        if model not in self.models:
            raise SpecValidationError(f"unknown model '{bounded(draft.model, 40)}'")
        params = repair_params(model, deps.task, dict(draft.params), notes)
        prep = repair_preprocessing(draft.preprocessing, model, deps.task, deps.profile, notes)
        return draft.model_copy(update={"model": model, "params": params, "preprocessing": prep})

    # ---- prompts ---------------------------------------------------------------------------
    def _prompt(
        self, context: PlanningContext, hypothesis: Hypothesis | None, hint: StrategyHint
    ) -> str:
        best = best_record(context.history, context.metric)
        facts: dict[str, Any] = {
            "iteration": context.iteration,
            "strategy": {"mode": hint.mode, "reason": hint.reason},
            "seconds_left": None if context.time_left == float("inf") else int(context.time_left),
            "best": None if best is None else {"iteration": best.iteration, "name": best.spec.name},
            "hypothesis": None if hypothesis is None else hypothesis.statement,
            "running_now": [
                {"name": p.name, "model": p.model, "params": p.params} for p in context.pending
            ],
            "results": results_table(
                context.history, context.metric, recent_results(self.client.settings)
            ),
        }
        return (
            f"Design experiment {context.iteration}. Test the top hypothesis if it is sound; "
            f"the strategy hint is to {hint.mode}.\n"
            + data_block("run_state", facts)
            + f"\nAnswer with the {TOOL} tool."
        )

    @staticmethod
    def _memo(context: PlanningContext, hypothesis: Hypothesis | None, hint: StrategyHint) -> str:
        statement = bounded(hypothesis.statement, 200) if hypothesis else "none"
        return (
            f"Design experiment {context.iteration} (strategy: {hint.mode}; "
            f"hypothesis: {statement})."
        )


def check_string_params(params: dict[str, Any]) -> None:
    """String hyperparameters must be plain option names ('balanced', 'gini'), nothing else.

    The validator already makes every value an inert literal; this planner asks more of a
    model's strings, since they are the one place text from the data could be echoed into a spec.
    """
    for name, value in params.items():
        if isinstance(value, str) and not OPTION_NAME.fullmatch(value):
            raise SpecValidationError(
                f"'{bounded(name, 40)}' must be a number, true/false or a plain option name "
                "such as 'balanced'"
            )


def unique_name(
    name: str, model: str, history: list[ExperimentRecord], pending: list[ExperimentSpec]
) -> str:
    """A file-safe name not used by an earlier or running experiment."""
    base = safe_experiment_name(name) or safe_experiment_name(model) or "experiment"
    taken = {r.spec.name for r in history} | {s.name for s in pending}
    candidate, n = base, 2
    while candidate in taken:
        candidate = f"{base[:55]}_{n}"
        n += 1
    return candidate


def repeated(spec: ExperimentSpec, earlier: list[ExperimentSpec]) -> ExperimentSpec | None:
    """An earlier (or running) experiment with the same model, parameters and preprocessing."""
    for other in earlier:
        same = (
            other.model == spec.model
            and other.params == spec.params
            and other.preprocessing == spec.preprocessing
        )
        if same:
            return other
    return None
