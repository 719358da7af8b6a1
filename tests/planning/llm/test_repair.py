"""The engine's own repairs of an LLM's design: preprocessing a model or the data cannot take."""

from __future__ import annotations

from ml_autopilot.data.profiling import profile_data
from ml_autopilot.planning.llm.repair import repair_preprocessing
from ml_autopilot.state import Preprocessing
from tests.conftest import make_classification_frame


def test_preprocessing_the_model_cannot_take_is_swapped_and_noted():
    profile = profile_data(make_classification_frame(), "species", "classification")
    notes: list[str] = []

    svc = repair_preprocessing(
        Preprocessing(imputation="none", encoding="native"), "svc", "classification", profile,
        notes,
    )
    assert (svc.imputation, svc.encoding) == ("median", "onehot")

    catboost = repair_preprocessing(
        Preprocessing(imputation="iterative", encoding="native"), "catboost", "classification",
        profile, notes,
    )
    assert (catboost.imputation, catboost.encoding) == ("none", "native")
    assert notes == [
        "preprocessing encoding=onehot, imputation=median",
        "preprocessing imputation=none",
    ]

    fine = Preprocessing(imputation="iterative", encoding="onehot")
    assert repair_preprocessing(fine, "catboost", "classification", profile, notes) == fine
