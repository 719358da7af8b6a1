"""ExperimentDesigner: valid designs, repair rounds with the validator's message, fallback."""

from __future__ import annotations

from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.test import TestModel

from ml_autopilot.catalog.models import CATALOG
from ml_autopilot.catalog.validation import validate_spec
from ml_autopilot.planning.base import baseline_spec
from ml_autopilot.state import Constraints, ExperimentSpec, Preprocessing
from tests.planning.llm.helpers import GOOD_DESIGN, Script, make_planner, planning_context, record


def design(**changes: object) -> dict[str, object]:
    return {**GOOD_DESIGN, **changes}


def test_a_valid_design_is_an_llm_spec() -> None:
    context = planning_context()
    script = Script()
    spec = make_planner(script.model(), context).propose(context)
    assert spec is not None
    assert spec.planner == "llm" and spec.source == "llm" and spec.fallback_reason is None
    assert spec.model == "random_forest"
    assert spec.params == {"n_estimators": 200, "max_depth": 6}
    assert validate_spec(spec, "classification", context.profile).spec == spec
    assert script.retries == []


def test_an_invalid_design_goes_back_with_the_validator_message() -> None:
    context = planning_context()
    bad = design(params={"n_estimators": 200, "max_dept": 6})
    script = Script(answers={"submit_experiment": [bad]})
    spec = make_planner(script.model(), context).propose(context)
    assert spec is not None and spec.planner == "llm"
    assert spec.params == {"n_estimators": 200, "max_depth": 6}
    assert len(script.retries) == 1
    assert "no hyperparameter 'max_dept'" in script.retries[0]
    assert "Did you mean 'max_depth'?" in script.retries[0]


def test_out_of_range_values_are_reported_then_fixed_by_the_model() -> None:
    context = planning_context()
    bad = design(params={"n_estimators": -5})
    script = Script(answers={"submit_experiment": [bad]})
    spec = make_planner(script.model(), context).propose(context)
    assert spec is not None and spec.planner == "llm"
    assert "outside the sane range" in script.retries[0]


def test_the_last_round_is_repaired_by_the_engine_when_it_can_be() -> None:
    context = planning_context()
    bad = design(params={"n_estimators": 99_999, "flux_capacitor": 3})
    script = Script(answers={"submit_experiment": [bad, bad, bad]})
    spec = make_planner(script.model(), context).propose(context)
    assert spec is not None and spec.planner == "llm"
    assert spec.params == {"n_estimators": 5000}
    assert "Repaired by the engine" in spec.reasoning
    assert len(script.retries) == 2


def test_always_invalid_falls_back_to_the_optimizer_with_the_reason() -> None:
    context = planning_context()
    history = [record(0, baseline_spec("classification"), 0.6)]
    context = planning_context(history=history)
    repeat = {
        "name": "again",
        "hypothesis": "h",
        "model": "logistic_regression",
        "params": {},
        "preprocessing": {},
        "reasoning": "r",
    }
    script = Script(answers={"submit_experiment": [repeat] * 3})
    planner = make_planner(script.model(), context)
    spec = planner.propose(context)
    assert spec is not None
    assert spec.planner == "fallback"
    assert spec.fallback_reason is not None
    assert "repeats experiment 'baseline'" in spec.fallback_reason
    assert spec.model in CATALOG
    validate_spec(spec, "classification", context.profile)
    failed = [c for c in planner.usage().calls if not c.ok]
    assert failed and failed[0].component == "designer"


def test_avoided_models_are_refused_even_if_the_model_insists() -> None:
    constraints = Constraints(avoided_models=["random_forest"])
    context = planning_context(constraints=constraints)
    script = Script(answers={"submit_experiment": [GOOD_DESIGN] * 3})
    spec = make_planner(script.model(), context).propose(context)
    assert spec is not None and spec.model != "random_forest"
    assert spec.planner == "fallback"


def test_the_catalog_is_in_the_instructions_and_model_is_an_enum() -> None:
    seen: dict[str, object] = {}

    def brain(messages, info: AgentInfo):
        seen["instructions"] = info.instructions
        seen["schema"] = info.output_tools[0].parameters_json_schema
        return Script()(messages, info)

    context = planning_context()
    make_planner(FunctionModel(brain), context).propose(context)
    instructions = str(seen["instructions"])
    for key in ("lightgbm", "catboost", "hist_gradient_boosting", "learning_rate"):
        assert key in instructions
    assert "linear_regression" not in instructions  # a regression model, not for this task
    schema = seen["schema"]
    assert isinstance(schema, dict)
    enum = schema["properties"]["model"]["enum"]
    assert "lightgbm" in enum and "linear_regression" not in enum


def test_test_model_answers_are_validated_like_any_other() -> None:
    """TestModel fills the schema with arbitrary values: whatever comes out is valid or fallback."""
    context = planning_context()
    spec = make_planner(TestModel(), context).propose(context)
    assert spec is not None
    assert spec.planner in ("llm", "fallback")
    validate_spec(spec, "classification", context.profile)


def test_names_are_file_safe_and_unique() -> None:
    history = [record(0, baseline_spec("classification"), 0.6)]
    first = design(name="../../etc/passwd; rm -rf /")
    context = planning_context(history=history)
    spec = make_planner(Script(answers={"submit_experiment": [first]}).model(), context).propose(
        context
    )
    assert spec is not None and "/" not in spec.name and " " not in spec.name
    history.append(record(1, spec, 0.7))
    context = planning_context(history=history)
    second = design(name=spec.name, params={"n_estimators": 300})
    again = make_planner(Script(answers={"submit_experiment": [second]}).model(), context)
    spec2 = again.propose(context)
    assert spec2 is not None and spec2.name != spec.name


def test_running_experiments_are_not_repeated_and_names_stay_unique() -> None:
    running = ExperimentSpec(
        name="rf_shallow",
        model="random_forest",
        params={"n_estimators": 200, "max_depth": 6},
        preprocessing=Preprocessing(imputation="median", scaling="none", encoding="onehot"),
        hypothesis="h",
        reasoning="r",
    )
    context = planning_context()
    context.pending = [running]
    other = design(params={"n_estimators": 400})
    script = Script(answers={"submit_experiment": [GOOD_DESIGN, other]})
    spec = make_planner(script.model(), context).propose(context)
    assert spec is not None and spec.planner == "llm"
    assert "repeats experiment 'rf_shallow'" in script.retries[0]
    assert spec.params == {"n_estimators": 400} and spec.name != "rf_shallow"
    assert "rf_shallow" in script.prompts[0]  # the model is told what is running
    assert spec.direction is not None and spec.direction.startswith("LLM ")
