"""The conditional search space Optuna samples: model family -> hyperparameters, preprocessing.

One define-by-run space for the whole catalog. Parameter names carry the model key as a prefix
(``lightgbm.num_leaves``) so that each name always has the same distribution, which lets
finished experiments (portfolio ones included) be told to the study as completed trials.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from ml_autopilot.catalog.models import CATALOG, ParamSpec
from ml_autopilot.planning.rules import (
    DataTraits,
    encoding_choices,
    fixed_by_constraints,
    imputation_choices,
)
from ml_autopilot.state import Constraints, ExperimentSpec, Preprocessing

MODEL_PARAM = "model"


class SearchSpace:
    """The space for one session: the allowed models and the data's traits fix it."""

    def __init__(self, models: list[str], traits: DataTraits, constraints: Constraints) -> None:
        self.models = list(models)
        self.traits = traits
        self.constraints = constraints

    def model_distribution(self) -> CategoricalDistribution:
        return CategoricalDistribution(tuple(self.models))

    def distributions(self, model: str) -> dict[str, BaseDistribution]:
        """Every distribution sampled for one model family (hyperparameters, then prep)."""
        entry = CATALOG[model]
        found: dict[str, BaseDistribution] = {
            f"{model}.{p.name}": _distribution(p) for p in entry.space
        }
        for key, choices in self._prep_choices(model).items():
            if len(choices) > 1:
                found[f"{model}.prep.{key}"] = CategoricalDistribution(choices)
        return found

    def _prep_choices(self, model: str) -> dict[str, tuple[str, ...]]:
        traits, constraints = self.traits, self.constraints
        choices = {
            "encoding": encoding_choices(model, traits),
            "imputation": imputation_choices(model, traits),
            "target_transform": ("none", "log") if traits.log_allowed else ("none",),
        }
        for key in list(choices):
            if fixed_by_constraints(key, model, traits, constraints):
                choices[key] = (constraints.preprocessing[key],)
        return choices

    def sample(
        self, trial: optuna.Trial, model: str | None = None
    ) -> tuple[str, dict, Preprocessing]:
        """Sample (model, params, preprocessing); ``model`` fixes the family when given."""
        if model is None:
            model = trial.suggest_categorical(MODEL_PARAM, self.models)
        else:
            trial.set_user_attr("focus", model)
        params: dict[str, Any] = {}
        prep: dict[str, str] = {}
        for name, dist in self.distributions(model).items():
            value = _suggest(trial, name, dist)
            short = name.split(".", 1)[1]
            if short.startswith("prep."):
                prep[short.removeprefix("prep.")] = value
            else:
                params[short] = value
        return model, params, self.preprocessing(model, prep)

    def preprocessing(self, model: str, sampled: dict[str, str]) -> Preprocessing:
        """Complete a sampled preprocessing with the fixed choices."""
        fixed = {key: values[0] for key, values in self._prep_choices(model).items()}
        scaling = self.constraints.preprocessing.get(
            "scaling", "standard" if CATALOG[model].needs_scaling else "none"
        )
        return Preprocessing(scaling=scaling, **{**fixed, **sampled})

    def encode(self, spec: ExperimentSpec) -> tuple[dict[str, Any], dict[str, BaseDistribution]]:
        """A finished spec as Optuna params and distributions (values outside are left out)."""
        if spec.model not in self.models:
            return {}, {}
        params: dict[str, Any] = {MODEL_PARAM: spec.model}
        distributions: dict[str, BaseDistribution] = {MODEL_PARAM: self.model_distribution()}
        prep = spec.preprocessing.model_dump()
        for name, dist in self.distributions(spec.model).items():
            short = name.split(".", 1)[1]
            value = (
                prep.get(short.removeprefix("prep."))
                if short.startswith("prep.")
                else (spec.params.get(short))
            )
            if value is not None and _contains(dist, value):
                params[name] = value
                distributions[name] = dist
        return params, distributions


def _distribution(p: ParamSpec) -> BaseDistribution:
    if p.kind == "int":
        return IntDistribution(int(p.low), int(p.high), log=p.log)  # type: ignore[arg-type]
    if p.kind == "float":
        return FloatDistribution(float(p.low), float(p.high), log=p.log)  # type: ignore[arg-type]
    if p.kind == "bool":
        return CategoricalDistribution((False, True))
    return CategoricalDistribution(p.choices)


def _suggest(trial: optuna.Trial, name: str, dist: BaseDistribution) -> Any:
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, log=dist.log)
    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, log=dist.log)
    assert isinstance(dist, CategoricalDistribution)
    return trial.suggest_categorical(name, dist.choices)


def _contains(dist: BaseDistribution, value: Any) -> bool:
    if isinstance(dist, CategoricalDistribution):
        return value in dist.choices
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(dist, IntDistribution) and int(value) != value:
        return False
    return dist.low <= value <= dist.high  # type: ignore[attr-defined]
