"""The built-in offline planner: a proven portfolio first, then Optuna, steered by rules.

Every step is chosen by ranking candidate hypotheses (remaining portfolio entries, data-driven
variants of the best experiment, Optuna trials) by confidence; the top hypothesis is the next
design. Finished experiments, portfolio ones included, are told to one Optuna study over the
catalog's conditional space, so the TPE sampler starts from everything the session has learnt.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from typing import Any

import optuna

from ml_autopilot.catalog.models import CATALOG, models_for
from ml_autopilot.log import get_logger
from ml_autopilot.planning.base import Planner, PlanningContext
from ml_autopilot.planning.costs import estimate_duration
from ml_autopilot.planning.portfolio import PortfolioEntry, portfolio_for
from ml_autopilot.planning.rules import DataTraits, default_preprocessing, traits_from
from ml_autopilot.planning.search_space import SearchSpace
from ml_autopilot.state import (
    Constraints,
    ExperimentRecord,
    ExperimentSpec,
    Hypothesis,
    HypothesisSet,
    MetricInfo,
)

logger = get_logger("planning")
optuna.logging.set_verbosity(optuna.logging.WARNING)

# Models too slow to be worth sampling on large tables (their cost grows with rows squared).
SLOW_ON_LARGE = {"svc": 5_000, "svr": 5_000, "kneighbors": 50_000, "gradient_boosting": 50_000}
EXPLORE_EVERY = 3
MAX_ASKS = 10
PROVEN = "proven configurations"
BROAD = "broad search"
TIME_LIMITED = "time budget"
ENCODING = "categorical encoding"
# Tree models may split either encoding of a categorical column; which fits better depends on
# the table (5-fold CV log loss, XGBoost with the portfolio's sharp setting, one-hot vs
# ordinal: car 0.044 vs 0.032; credit-g's AUC 0.736 vs 0.725 and penguins' log loss 0.065 vs
# 0.069 go the other way), so the best tree model is tried once with the other one.
SWAPPED_ENCODING = {"onehot": "ordinal", "ordinal": "onehot"}
MOSTLY_CATEGORICAL = 0.5  # share of the features; below it the encoding matters less
TREE_FAMILIES = ("boosting", "bagging", "tree")
DIRECTION_RATIONALES = {
    "baseline": "A plain linear model in a standard pipeline: the bar every later model must beat.",
    PROVEN: "Start from configurations that win most often on tabular benchmarks, adapted "
    "to this data's size, missing values and categoricals.",
    BROAD: "Bayesian optimisation (TPE) over every model family, its hyperparameters and "
    "preprocessing, to find what the portfolio missed.",
    "target transform": "A skewed positive target may be easier to fit on a log scale; scores "
    "stay on the original scale.",
    ENCODING: "How categoricals are encoded changes what trees can split on: one column per "
    "level (one-hot), one column of codes per feature (ordinal), or the target's mean per level "
    "(target encoding, for many-level columns).",
    "ensembling": "A weighted blend of diverse good models usually beats the best one.",
    TIME_LIMITED: "Boosting ran out of time before early stopping: a higher learning rate "
    "reaches a better fit in the rounds the budget allows.",
}
STALE_AFTER = 3
FASTER = 3.0  # learning-rate factor for a booster that ran out of time
MAX_LEARNING_RATE = 0.3


@dataclass(frozen=True)
class Candidate:
    """A possible next experiment, stated as a hypothesis with a confidence."""

    statement: str
    rationale: str
    confidence: float
    action: dict[str, Any]


class OptimizerPlanner(Planner):
    """Portfolio, rule-driven variants and TPE search; needs no network and no key."""

    name = "optimizer"
    designs_before_baseline = True  # the portfolio's first entry needs no result

    def __init__(self, context: PlanningContext, seed: int = 42) -> None:
        self.task = context.task
        self.metric = context.metric
        self.constraints = context.constraints
        self.traits: DataTraits = traits_from(context.profile, context.task)
        self.models = self._allowed_models()
        self.portfolio = self._portfolio()
        self.space = SearchSpace(self.models, self.traits, self.constraints)
        direction = "maximize" if self.metric.direction == "maximize" else "minimize"
        with warnings.catch_warnings():  # multivariate/group TPE is marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.TPESampler(
                seed=seed,
                multivariate=True,
                group=True,
                n_startup_trials=4,
                constant_liar=True,
            )
        self.study = optuna.create_study(direction=direction, sampler=sampler)
        self._asked: dict[str, optuna.Trial] = {}
        self._done: list[ExperimentRecord] = []
        self._optuna_count = 0

    # ---- setup -------------------------------------------------------------------------
    def _allowed_models(self) -> list[str]:
        avoided = set(self.constraints.avoided_models)
        models = [m for m in models_for(self.task) if m not in avoided]
        models = [m for m in models if self.traits.n_rows <= SLOW_ON_LARGE.get(m, math.inf)]
        preferred = [m for m in self.constraints.preferred_models if m in models]
        return preferred + [m for m in models if m not in preferred]

    def _portfolio(self) -> list[PortfolioEntry]:
        traits = self.traits
        entries = portfolio_for(self.task, traits.n_rows, self.models, traits.categorical_share)
        preferred = self.constraints.preferred_models
        covered = {e.model for e in entries}
        for model in preferred:
            if model in self.models and model not in covered:
                entries.append(
                    PortfolioEntry(
                        f"{model}_default",
                        model,
                        dict(CATALOG[model].defaults),
                        f"{CATALOG[model].label}, which the constraints prefer, fits this data.",
                        "The user's constraints prefer this model family.",
                        prior=0.7,
                    )
                )
        rank = {m: i for i, m in enumerate(preferred)}
        bonus = [
            e if e.model not in rank else _with_prior(e, 0.8 - 0.01 * rank[e.model])
            for e in entries
        ]
        return sorted(bonus, key=lambda e: -e.prior)

    # ---- the planner interface ---------------------------------------------------------
    def observe(self, record: ExperimentRecord) -> None:
        self._done.append(record)
        trial = self._asked.pop(record.spec.name, None)
        value = record.result.cv_score if record.result.status == "success" else None
        finite = value is not None and math.isfinite(value)
        # a pruned CV is a verdict: TPE ranks it below every complete trial, by its last fold
        pruned = record.result.status == "pruned"
        folds = dict(enumerate(record.result.fold_scores)) if pruned else {}
        if trial is not None:
            if finite:
                self.study.tell(trial, value)
            elif pruned:
                for step, score in folds.items():
                    trial.report(score, step)
                self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            else:
                self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return
        params, distributions = self.space.encode(record.spec)
        if params and finite:
            self.study.add_trial(
                optuna.trial.create_trial(params=params, distributions=distributions, value=value)
            )
        elif params and pruned:
            self.study.add_trial(
                optuna.trial.create_trial(
                    params=params,
                    distributions=distributions,
                    state=optuna.trial.TrialState.PRUNED,
                    intermediate_values=folds,
                )
            )

    def propose(self, context: PlanningContext) -> ExperimentSpec | None:
        hypothesis = context.hypothesis or self.hypothesise(context).top
        if hypothesis is None:
            return None
        spec = self._realise(hypothesis.action, hypothesis.statement, context)
        if spec is None:  # the top idea went stale (e.g. already running): take the next one
            for candidate in self._candidates(context):
                if candidate.action == hypothesis.action:
                    continue  # the stale idea itself; the fresh list need not start with it
                spec = self._realise(candidate.action, candidate.statement, context)
                if spec is not None:
                    break
        return spec

    def hypothesise(self, context: PlanningContext) -> HypothesisSet:
        ranked = self._candidates(context)[:3]
        return HypothesisSet(
            hypotheses=[
                Hypothesis(
                    rank=i + 1,
                    statement=c.statement,
                    rationale=c.rationale,
                    confidence=round(c.confidence, 3),
                    action=c.action,
                )
                for i, c in enumerate(ranked)
            ]
        )

    def update_constraints(self, constraints: Constraints) -> None:
        self.constraints = constraints
        self.space.constraints = constraints

    def describe_direction(self, name: str) -> str:
        if name in DIRECTION_RATIONALES:
            return DIRECTION_RATIONALES[name]
        if name.endswith(" tuning"):
            return (
                f"{name.removesuffix(' tuning')} leads: concentrate Optuna TPE trials on its "
                "hyperparameters and preprocessing."
            )
        return ""

    def stop_reason(self, context: PlanningContext) -> str | None:
        if not self.models:
            return "the constraints leave no model to try"
        return None

    # ---- candidates --------------------------------------------------------------------
    def _candidates(self, context: PlanningContext) -> list[Candidate]:
        history = context.history
        best = _best(history, self.metric)
        best_text = (
            f"the current best {best.result.cv_score:.5g} {self.metric.name} ({best.spec.name})"
            if best
            else "the baseline"
        )
        names = _taken_names(context) | set(self._asked)
        avoided = set(self.constraints.avoided_models)
        candidates = [
            Candidate(
                f"{e.name} ({CATALOG[e.model].label}) will beat {best_text}.",
                f"{e.hypothesis} {e.reasoning}",
                e.prior,
                {"kind": "portfolio", "entry": e.name},
            )
            for e in self.portfolio
            if e.name not in names
            and e.model not in avoided
            and self._affordable(e.model, e.params, context)
            and not _slower_than_time_limited(e, history)
        ]
        variants = self._variants(history, best, names) + self._faster_variants(history, names)
        candidates += [v for v in variants if self._variant_affordable(v, context)]
        candidates += self._search_candidates(best, best_text)
        candidates = [_read_back(c, context) for c in candidates]
        return sorted(candidates, key=lambda c: -c.confidence)

    def _variants(
        self, history: list[ExperimentRecord], best: ExperimentRecord | None, names: set[str]
    ) -> list[Candidate]:
        if best is None or best.spec.source == "baseline" or len(_successes(history)) < 2:
            return []
        found: list[Candidate] = []
        prep = best.spec.preprocessing
        log_name = f"{best.spec.name}_log_target"
        if (
            self.traits.log_target_candidate
            and prep.target_transform == "none"
            and (log_name not in names and "target_transform" not in self.constraints.preprocessing)
        ):
            found.append(
                Candidate(
                    f"Fitting {best.spec.name} on log(1+target) will lower the error on the "
                    f"original scale.",
                    f"The target is positive and right-skewed "
                    f"(skew {self.traits.target_skew:.2f}); a log transform evens out "
                    "the loss across the range.",
                    0.62 if (self.traits.target_skew or 0) > 2 else 0.56,
                    {
                        "kind": "variant",
                        "base": best.spec.name,
                        "name": log_name,
                        "preprocessing": {"target_transform": "log"},
                        "direction": "target transform",
                    },
                )
            )
        te_name = f"{best.spec.name}_target_encoding"
        if (
            self.traits.high_cardinality
            and prep.encoding in ("onehot", "ordinal")
            and (te_name not in names and "encoding" not in self.constraints.preprocessing)
        ):
            cols = ", ".join(self.traits.high_cardinality[:3])
            found.append(
                Candidate(
                    f"Target encoding for high-cardinality columns ({cols}) will improve "
                    f"{best.spec.name}.",
                    "One-hot and ordinal codes waste or scramble the signal of many-level columns.",
                    0.5,
                    {
                        "kind": "variant",
                        "base": best.spec.name,
                        "name": te_name,
                        "preprocessing": {"encoding": "target"},
                        "direction": ENCODING,
                    },
                )
            )
        found += self._encoding_variant(best, names)
        return found

    def _encoding_variant(self, best: ExperimentRecord, names: set[str]) -> list[Candidate]:
        """The best tree model with the other of one-hot and ordinal codes, tried once, where
        most features are categorical."""
        encoding = best.spec.preprocessing.encoding
        other = SWAPPED_ENCODING.get(encoding)
        name = f"{best.spec.name}_{other}"
        if (
            other is None
            or best.spec.direction == ENCODING  # already the swap of a model tried before
            or self.traits.categorical_share < MOSTLY_CATEGORICAL
            or CATALOG[best.spec.model].family not in TREE_FAMILIES
            or "encoding" in self.constraints.preprocessing
            or name in names
        ):
            return []
        share = self.traits.categorical_share
        return [
            Candidate(
                f"{best.spec.name} with {other} codes for its {self.traits.n_categorical} "
                f"categorical column(s) will beat it with {encoding} codes.",
                f"{share:.0%} of the features are categorical, so how they are encoded shapes "
                "the trees: one-hot gives a column per level, ordinal codes one column per "
                "feature that a single split can cut in two groups of levels.",
                0.5,
                {
                    "kind": "variant",
                    "base": best.spec.name,
                    "name": name,
                    "preprocessing": {"encoding": other},
                    "direction": ENCODING,
                },
            )
        ]

    def _faster_variants(self, history: list[ExperimentRecord], names: set[str]) -> list[Candidate]:
        """A booster whose folds hit their time limit while still improving: the same with a
        higher learning rate, so the rounds the budget allows go further."""
        limited = [
            r
            for r in _out_of_time(history)
            if (_learning_rate(r.spec.params) or 0.0) < MAX_LEARNING_RATE
            and r.spec.model not in self.constraints.avoided_models
        ]
        base = _best(limited, self.metric)
        if base is None:
            return []
        name = f"{base.spec.name.removesuffix('_faster')}_faster"
        if name in names:
            return []
        rate = min(MAX_LEARNING_RATE, (_learning_rate(base.spec.params) or 0.0) * FASTER)
        folds = base.result.time_limited_folds
        return [
            Candidate(
                f"{base.spec.name} with learning rate {rate:.3g} will beat it in the same time.",
                f"{base.spec.name} stopped at its time limit in {folds} fold(s) while still "
                "improving; a higher learning rate gets further in the rounds the budget allows.",
                0.7,
                {
                    "kind": "variant",
                    "base": base.spec.name,
                    "name": name,
                    "params": {"learning_rate": round(rate, 4)},
                    "direction": TIME_LIMITED,
                },
            )
        ]

    def _search_candidates(self, best: ExperimentRecord | None, best_text: str) -> list[Candidate]:
        focus = best.spec.model if best and best.spec.model in self.models else None
        explore = Candidate(
            f"A TPE-sampled configuration across {len(self.models)} model families will beat "
            f"{best_text}.",
            "Bayesian optimisation (Optuna TPE) over the conditional space of models, "
            "hyperparameters and preprocessing, informed by every finished experiment.",
            0.36 if self._optuna_count % EXPLORE_EVERY == EXPLORE_EVERY - 1 else 0.3,
            {"kind": "optuna", "direction": BROAD},
        )
        if focus is None:
            return [explore]
        tune = Candidate(
            f"Tuning {CATALOG[focus].label} around its best settings will beat {best_text}.",
            f"{CATALOG[focus].label} leads; TPE concentrates trials on its hyperparameters "
            "and preprocessing.",
            0.34,
            {"kind": "optuna", "model": focus, "direction": f"{CATALOG[focus].label} tuning"},
        )
        return [tune, explore]

    @staticmethod
    def _variant_affordable(candidate: Candidate, context: PlanningContext) -> bool:
        """A variant costs about what its base took (a booster with a higher learning rate
        needs fewer rounds): skipped when that exceeds the time left."""
        base = _variant_base(candidate.action, context.history)
        if base is None:
            return True
        estimate = base.result.duration
        if candidate.action.get("direction") == TIME_LIMITED:
            estimate /= FASTER
        return estimate < context.time_left

    def _affordable(self, model: str, params: dict[str, Any], context: PlanningContext) -> bool:
        estimate = estimate_duration(model, params, context.history)
        return estimate is None or estimate < context.time_left

    # ---- turning an action into a spec -------------------------------------------------
    def _realise(
        self, action: dict[str, Any], statement: str, context: PlanningContext
    ) -> ExperimentSpec | None:
        kind = action.get("kind")
        names = _taken_names(context) | set(self._asked)
        if kind == "portfolio":
            entry = next((e for e in self.portfolio if e.name == action.get("entry")), None)
            if entry is None or entry.name in names:
                return None
            return ExperimentSpec(
                name=entry.name,
                model=entry.model,
                params=dict(entry.params),
                preprocessing=default_preprocessing(entry.model, self.traits, self.constraints),
                hypothesis=statement,
                reasoning=entry.reasoning,
                planner=self.name,
                source="portfolio",
                direction=PROVEN,
            )
        if kind == "variant":
            base = _variant_base(action, context.history)
            if base is None or action["name"] in names:
                return None
            updates = {**action.get("params", {}), **action.get("preprocessing", {})}
            prep = base.spec.preprocessing.model_copy(update=action.get("preprocessing", {}))
            changed = ", ".join(f"{k}={v}" for k, v in updates.items())
            return ExperimentSpec(
                name=action["name"],
                model=base.spec.model,
                params={**base.spec.params, **action.get("params", {})},
                preprocessing=prep,
                hypothesis=statement,
                reasoning=f"Same as {base.spec.name} with {changed}.",
                planner=self.name,
                source="rule",
                direction=action.get("direction"),
            )
        if kind == "optuna":
            return self._ask(action.get("model"), statement, names)
        return None

    def _ask(self, focus: str | None, statement: str, names: set[str]) -> ExperimentSpec | None:
        avoided = set(self.constraints.avoided_models)
        if focus in avoided:
            return None
        for _ in range(MAX_ASKS):
            trial = self.study.ask()
            model, params, prep = self.space.sample(trial, focus)
            if model not in avoided:
                break
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)  # steered away from it
        else:
            return None
        self._optuna_count += 1
        name = f"tpe_{trial.number:03d}_{model}"
        while name in names:
            name += "_"
        self._asked[name] = trial
        return ExperimentSpec(
            name=name,
            model=model,
            params=params,
            preprocessing=prep,
            hypothesis=statement,
            reasoning=(
                f"Optuna TPE trial {trial.number}: "
                + ", ".join(f"{k}={_short(v)}" for k, v in params.items())
            ),
            planner=self.name,
            source="optuna",
            direction=f"{CATALOG[focus].label} tuning" if focus else BROAD,
        )


def _slower_than_time_limited(entry: PortfolioEntry, history: list[ExperimentRecord]) -> bool:
    """A portfolio entry with a lower learning rate than a run of its model that ran out of
    time: it would run out of time too, further from a good fit."""
    rate = _learning_rate(entry.params)
    return rate is not None and any(
        r.spec.model == entry.model and rate <= (_learning_rate(r.spec.params) or 0.0)
        for r in _out_of_time(history)
    )


def _learning_rate(params: dict[str, Any]) -> float | None:
    rate = params.get("learning_rate")
    return float(rate) if isinstance(rate, int | float) and not isinstance(rate, bool) else None


def _variant_base(
    action: dict[str, Any], history: list[ExperimentRecord]
) -> ExperimentRecord | None:
    """The experiment a variant action changes, if it is in the history."""
    return next((r for r in history if r.spec.name == action.get("base")), None)


def _out_of_time(history: list[ExperimentRecord]) -> list[ExperimentRecord]:
    """Successful boosting runs that stopped at their time limit, with a learning rate."""
    return [
        r
        for r in _successes(history)
        if r.result.time_limited_folds and _learning_rate(r.spec.params) is not None
    ]


def _taken_names(context: PlanningContext) -> set[str]:
    """Names already run or running: never proposed twice."""
    return {r.spec.name for r in context.history} | {s.name for s in context.pending}


def _read_back(candidate: Candidate, context: PlanningContext) -> Candidate:
    """Directions that have produced nothing for a while get less confidence."""
    name = candidate.action.get("direction") or (
        PROVEN if candidate.action.get("kind") == "portfolio" else None
    )
    direction = next((d for d in context.directions if d.name == name), None)
    if direction is None or len(direction.iterations) < STALE_AFTER:
        return candidate
    records = {r.iteration: r for r in context.history}
    produced = any(
        records[i].analysis and records[i].analysis.is_new_best  # type: ignore[union-attr]
        for i in direction.iterations[-STALE_AFTER:]
        if i in records
    )
    if produced:
        return candidate
    return replace(candidate, confidence=candidate.confidence * 0.8)


def _with_prior(entry: PortfolioEntry, prior: float) -> PortfolioEntry:
    return replace(entry, prior=prior)


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _successes(history: list[ExperimentRecord]) -> list[ExperimentRecord]:
    """Successful single-model experiments (ensembles are not a base for variants)."""
    return [
        r
        for r in history
        if r.result.status == "success"
        and r.spec.model in CATALOG
        and r.result.cv_score is not None
        and math.isfinite(r.result.cv_score)
    ]


def _best(history: list[ExperimentRecord], metric: MetricInfo) -> ExperimentRecord | None:
    done = _successes(history)
    if not done:
        return None
    sign = 1.0 if metric.direction == "maximize" else -1.0
    return max(done, key=lambda r: sign * (r.result.cv_score or 0.0))


__all__ = ["OptimizerPlanner"]
