"""Rules that read the data profile: default preprocessing per model and data-driven ideas.

These encode what an experienced data scientist does without thinking: models that handle
missing values or categoricals natively get their raw inputs, scale-sensitive models get scaled
inputs, a skewed positive regression target suggests a log transform, high-cardinality
categoricals suggest target encoding, missing numbers on a small table are predicted from the
other features rather than filled with one value for every row.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml_autopilot.catalog.models import CATALOG
from ml_autopilot.config import TaskType
from ml_autopilot.state import Constraints, DataProfile, Preprocessing

MANY_MISSING_PCT = 5.0
SKEW_FOR_LOG = 1.0
# Up to this many rows, missing numbers are imputed from the other features by default (a
# regression per incomplete column, ten rounds): cheap there, and the fill a row gets depends on
# what is known about it. Above it, the one-value fills and the boosters' own handling stay.
ITERATIVE_MAX_ROWS = 10_000


@dataclass(frozen=True)
class DataTraits:
    """The facts about the data that steer planning."""

    task: TaskType
    n_rows: int
    has_missing: bool
    numeric_missing: bool
    many_missing: bool
    n_categorical: int
    categorical_share: float  # of the features used
    high_cardinality: tuple[str, ...]
    log_target_candidate: bool
    log_allowed: bool
    target_skew: float | None


def traits_from(profile: DataProfile, task: TaskType) -> DataTraits:
    """Summarise a profile into planning traits (excluded columns ignored)."""
    used = [c for c in profile.columns if c.name not in profile.excluded_columns]
    categorical = [c for c in used if c.kind == "categorical"]
    high_card = tuple(
        w.column for w in profile.warnings if w.kind == "high_cardinality" and w.column
    )
    target = profile.target
    log_allowed = task == "regression" and target.min is not None and target.min >= 0
    skew = target.skew
    return DataTraits(
        task=task,
        n_rows=profile.n_rows,
        has_missing=any(c.n_missing > 0 for c in used),
        numeric_missing=any(c.n_missing > 0 and c.kind == "numeric" for c in used),
        many_missing=profile.pct_missing_cells >= MANY_MISSING_PCT
        or any(c.pct_missing >= 30 for c in used),
        n_categorical=len(categorical),
        categorical_share=len(categorical) / len(used) if used else 0.0,
        high_cardinality=high_card,
        log_target_candidate=log_allowed and skew is not None and skew >= SKEW_FOR_LOG,
        log_allowed=log_allowed,
        target_skew=skew,
    )


def encoding_choices(model: str, traits: DataTraits) -> tuple[str, ...]:
    """Encodings worth trying for a model on this data, best first."""
    entry = CATALOG[model]
    if traits.n_categorical == 0:
        return ("onehot",)
    choices: list[str] = []
    if traits.n_rows < entry.native_categorical_min_rows:
        choices.append("ordinal")
    if entry.native_categorical:
        choices.append("native")
    if traits.high_cardinality:
        choices.append("target")
    choices.append("onehot")
    if entry.family in ("boosting", "bagging", "tree"):
        choices.append("ordinal")
    if "target" not in choices:
        choices.append("target")
    return tuple(dict.fromkeys(choices))


def imputation_choices(model: str, traits: DataTraits) -> tuple[str, ...]:
    """Missing-value strategies worth trying for a model on this data, best first.

    On a small table with missing numbers, iterative imputation comes first for every model
    (CatBoost aside: it takes its categories as text): filled with the medians, a row that
    misses every measurement looks like whichever class sits at the medians (penguins: the
    one such training row, an Adelie, taught every model "medians mean Adelie", and a Gentoo
    of Biscoe missing every measurement in the test split got p(Gentoo) = 0.002-0.18), while
    predicted from its island it looks like the penguins of that island (p = 0.9-0.99).
    """
    if not traits.has_missing:
        return ("median",)
    conditional: tuple[str, ...] = ()
    if traits.numeric_missing and traits.n_rows <= ITERATIVE_MAX_ROWS and model != "catboost":
        conditional = ("iterative",)
    if CATALOG[model].handles_missing:
        return (*conditional, "none", "median")
    return (*conditional, "median", "mean", "constant")


def default_preprocessing(
    model: str, traits: DataTraits, constraints: Constraints
) -> Preprocessing:
    """The preprocessing a model gets unless a hypothesis says otherwise."""
    entry = CATALOG[model]
    chosen = {
        "imputation": imputation_choices(model, traits)[0],
        "scaling": "standard" if entry.needs_scaling else "none",
        "encoding": encoding_choices(model, traits)[0],
        "target_transform": "none",
    }
    for key, value in constraints.preprocessing.items():
        if key in chosen and _fits(key, value, model, traits):
            chosen[key] = value
    return Preprocessing(**chosen)


def fixed_by_constraints(
    key: str, model: str, traits: DataTraits, constraints: Constraints
) -> bool:
    """True when the user's constraints pin this preprocessing choice for this model."""
    value = constraints.preprocessing.get(key)
    return value is not None and _fits(key, value, model, traits)


def _fits(key: str, value: str, model: str, traits: DataTraits) -> bool:
    entry = CATALOG[model]
    if key == "encoding" and value == "native":
        return entry.native_categorical
    if key == "imputation" and value == "none":
        return entry.handles_missing or not traits.has_missing
    if key == "imputation" and value == "iterative":
        return model != "catboost"
    if key == "target_transform" and value == "log":
        return traits.log_allowed
    return True
