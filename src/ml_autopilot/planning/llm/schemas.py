"""The structured answers the model gives, one schema per component.

These are output schemas only: nothing here is trusted. A ``DesignedSpec`` becomes an
``ExperimentSpec`` only after ``validate_spec`` accepts it, and free text is bounded before it is
stored. The designer's schema is narrowed per run so that ``model`` is an enum of the catalog
models the task and the constraints allow, which also lets grammar-constrained local servers
produce only those names.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, create_model

from ml_autopilot.state import Preprocessing

ParamValue = float | int | str | bool | None
MIN_WORDS = 3


def _sentence(text: str) -> str:
    """Free text must at least look like a sentence: small models sometimes emit fragments."""
    if len(text.split()) < MIN_WORDS:
        raise ValueError(f"write a full sentence of at least {MIN_WORDS} words, not {text!r}")
    return text


Sentence = Annotated[str, AfterValidator(_sentence)]


class DesignedSpec(BaseModel):
    """The next experiment: one catalog model with its hyperparameters and preprocessing."""

    name: str = Field(description="short snake_case name for the experiment, e.g. lgbm_deeper")
    hypothesis: str = Field(description="what you expect this experiment to show, and why")
    model: str = Field(description="a model key from the catalog")
    params: dict[str, ParamValue] = Field(
        default_factory=dict,
        description="hyperparameters of that model (names and ranges from the catalog)",
    )
    preprocessing: Preprocessing = Field(default_factory=Preprocessing)
    reasoning: str = Field(description="why this design follows from the results so far")


def designed_spec_type(models: list[str]) -> type[DesignedSpec]:
    """``DesignedSpec`` with ``model`` restricted to ``models`` (an enum in the schema)."""
    if not models:
        return DesignedSpec
    choice = Literal[tuple(models)]  # type: ignore[valid-type]
    return create_model(
        "DesignedSpec",
        __base__=DesignedSpec,
        __doc__=DesignedSpec.__doc__,
        model=(choice, Field(description="a model key from the catalog")),
    )


class ResultReading(BaseModel):
    """Your reading of the experiment that just finished."""

    observations: list[Sentence] = Field(
        min_length=3, max_length=5, description="3 to 5 short, specific observations"
    )
    reasoning: Sentence = Field(description="what these results mean for the next experiments")


class HypothesisDraft(BaseModel):
    """One hypothesis about what will improve the score next."""

    statement: Sentence = Field(
        description="a testable claim, e.g. 'deeper LightGBM trees will beat the forest'"
    )
    rationale: Sentence = Field(description="the evidence from the results behind it")
    confidence: float = Field(ge=0, le=1, description="0 to 1")
    mode: Literal["explore", "exploit"] = Field(
        description="explore: try something different; exploit: refine the best so far"
    )
    model: str | None = Field(None, description="the catalog model it is about, if one")


class HypothesisList(BaseModel):
    """Two or three hypotheses, the most promising first."""

    hypotheses: list[HypothesisDraft] = Field(min_length=2, max_length=3)


class ReportSections(BaseModel):
    """The written part of the final report, from the numbers you were given."""

    executive_summary: Sentence = Field(description="3-5 sentences: outcome, best model, scores")
    methodology: Sentence = Field(description="how the search went: baseline, families, tuning")
    insights: Sentence = Field(description="what worked, what did not, and why")
    recommendations: Sentence = Field(description="what to try next or how to use the model")
