"""HypothesisGenerator and the local explore/exploit hint."""

from __future__ import annotations

from ml_autopilot.planning.base import baseline_spec
from ml_autopilot.planning.llm.strategy import RunLimits, experiments_without_gain, strategy_hint
from ml_autopilot.state import ExperimentSpec
from tests.planning.llm.helpers import F1, Script, make_planner, planning_context, record


def spec(name: str, model: str = "random_forest") -> ExperimentSpec:
    return ExperimentSpec(name=name, model=model, hypothesis="h", reasoning="r")


def history(*scores: float | None):
    records = [record(0, baseline_spec("classification"), 0.6)]
    records += [record(i, spec(f"e{i}"), s) for i, s in enumerate(scores, start=1)]
    return records


def test_hypotheses_are_ranked_and_labelled() -> None:
    context = planning_context(history=history(0.7))
    script = Script()
    result = make_planner(script.model(), context).hypothesise(context)
    assert [h.rank for h in result.hypotheses] == [1, 2]
    assert result.top is not None
    assert result.top.action == {"mode": "explore", "source": "llm", "model": "lightgbm"}
    assert result.hypotheses[1].action["mode"] == "exploit"
    assert "strategy hint is to explore" in script.prompts[0]


def test_unknown_models_in_hypotheses_are_not_kept_as_actions() -> None:
    answer = {
        "hypotheses": [
            {
                "statement": "Skynet will win here.",
                "rationale": "It always does so.",
                "confidence": 0.9,
                "mode": "exploit",
                "model": "skynet",
            },
            {
                "statement": "Trees will help here.",
                "rationale": "They did so before.",
                "confidence": 0.2,
                "mode": "explore",
            },
        ]
    }
    context = planning_context()
    result = make_planner(Script(answers={"submit_hypotheses": [answer]}).model(), context)
    top = result.hypothesise(context).top
    assert top is not None and "model" not in top.action


def test_fragments_are_sent_back_for_sentences() -> None:
    fragments = {
        "hypotheses": [
            {"statement": "explore", "rationale": "r", "confidence": 0.5, "mode": "explore"},
            {"statement": "exploit", "rationale": "r", "confidence": 0.5, "mode": "exploit"},
        ]
    }
    context = planning_context()
    script = Script(answers={"submit_hypotheses": [fragments]})
    top = make_planner(script.model(), context).hypothesise(context).top
    assert top is not None and top.statement == "LightGBM will beat the forest."
    assert "full sentence" in script.retries[0]


def test_failure_falls_back_to_the_optimizer_hypotheses() -> None:
    context = planning_context(history=history(0.7))
    broken = Script(answers={"submit_hypotheses": [{"hypotheses": []}] * 3})
    result = make_planner(broken.model(), context).hypothesise(context)
    assert result.top is not None and "kind" in result.top.action  # the optimizer's own


def test_fallback_design_ignores_an_llm_hypothesis() -> None:
    context = planning_context(history=history(0.7))
    planner = make_planner(Script(answers={"submit_experiment": [{"bad": 1}] * 3}).model(), context)
    context.hypothesis = planner.hypothesise(context).top
    assert context.hypothesis is not None and "kind" not in context.hypothesis.action
    spec = planner.propose(context)
    assert spec is not None and spec.planner == "fallback"


def test_strategy_explores_early_on_a_plateau_and_late() -> None:
    limits = RunLimits(max_iterations=20, time_budget=1000, plateau=3, min_improvement=0.005)
    early = planning_context(history=history(0.7), time_left=900)
    assert strategy_hint(early, limits).mode == "explore"
    improving = planning_context(history=history(0.7, 0.75, 0.8), time_left=900)
    assert strategy_hint(improving, limits).mode == "exploit"
    flat = planning_context(history=history(0.8, 0.8, 0.8001), time_left=900)
    hint = strategy_hint(flat, limits)
    assert hint.mode == "explore" and "plateau" in hint.reason
    late = planning_context(history=history(0.7, 0.75, 0.8), time_left=100)
    hint = strategy_hint(late, limits)
    assert hint.mode == "explore" and "late" in hint.reason


def test_experiments_without_gain_counts_failures_and_small_gains() -> None:
    assert experiments_without_gain(history(0.7, None, 0.7001), F1, 0.005) == 2
    assert experiments_without_gain(history(0.7, 0.8), F1, 0.005) == 0
