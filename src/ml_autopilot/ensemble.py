"""Greedy ensemble selection over out-of-fold predictions (Caruana et al., 2004).

Every successful experiment saved its out-of-fold predictions on the same folds, so a weighted
average of several experiments can be scored by cross-validation without training anything.
Selection runs with replacement from the best single model; the weights are the counts.
``WeightedEnsemble`` is the fitted object that `autopilot predict` uses when an ensemble wins.
"""

from __future__ import annotations

import math
import pickle
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ml_autopilot.catalog.metrics import is_better
from ml_autopilot.catalog.scoring import labels_from, score_all, score_one
from ml_autopilot.config import TaskType
from ml_autopilot.model_file import PROTOCOL, bundle_from_bytes
from ml_autopilot.state import (
    DataInfo,
    ExperimentRecord,
    ExperimentResult,
    ExperimentSpec,
    MetricInfo,
    MetricSummary,
    SessionState,
)

MAX_CANDIDATES = 8
ROUNDS = 30


@dataclass
class EnsembleChoice:
    """The selected members (iteration -> weight) and the fold-wise scores of their blend."""

    weights: dict[int, float]
    fold_metrics: list[dict[str, float]]
    metric: str

    def summary(self) -> dict[str, dict[str, object]]:
        return {
            key: {
                "mean": float(np.mean([m[key] for m in self.fold_metrics])),
                "std": float(np.std([m[key] for m in self.fold_metrics])),
                "folds": [m[key] for m in self.fold_metrics],
            }
            for key in self.fold_metrics[0]
        }


def oof_path(record: ExperimentRecord) -> Path | None:
    if not record.result.script_path:
        return None
    path = Path(record.result.script_path).parent / "oof.npy"
    return path if path.is_file() else None


def encoded_target(info: DataInfo, frame: pd.DataFrame) -> np.ndarray:
    """The target as the scripts encode it: class positions, or float values."""
    if info.task == "classification":
        index = {label: i for i, label in enumerate(info.classes)}
        return frame[info.target].map(index).to_numpy(dtype="int64")
    return frame[info.target].to_numpy(dtype="float64")


def fold_indices(task: TaskType, target: np.ndarray, folds: int, seed: int) -> list[np.ndarray]:
    """The validation rows of each fold, as the scripts' splitters produce them."""
    from sklearn.model_selection import KFold, StratifiedKFold  # not at the run's start-up

    splitter = (StratifiedKFold if task == "classification" else KFold)(
        n_splits=folds, shuffle=True, random_state=seed
    )
    placeholder = np.zeros((len(target), 1))
    return [valid for _, valid in splitter.split(placeholder, target)]


def select_ensemble(
    records: list[ExperimentRecord],
    target: np.ndarray,
    info: DataInfo,
    metric: MetricInfo,
    folds: int,
    seed: int,
) -> EnsembleChoice | None:
    """Greedy selection with replacement; None when fewer than two usable experiments."""
    candidates = _candidates(records, metric, len(target))
    if len(candidates) < 2:
        return None
    predictions = {r.iteration: np.load(oof_path(r)) for r in candidates}  # type: ignore[arg-type]
    n_classes = len(info.classes)

    def overall(blend: np.ndarray) -> float:
        labels, proba = labels_from(info.task, blend)
        return score_one(metric.name, info.task, n_classes, target, labels, proba)

    counts: dict[int, int] = {candidates[0].iteration: 1}
    total = predictions[candidates[0].iteration].copy()
    best_score, best_counts = overall(total), dict(counts)
    for step in range(2, ROUNDS + 1):
        scored = [(overall((total + p) / step), it) for it, p in predictions.items()]
        sign = 1 if metric.direction == "maximize" else -1
        score, chosen = max(scored, key=lambda s: (sign * s[0], -s[1]))
        total += predictions[chosen]
        counts[chosen] = counts.get(chosen, 0) + 1
        if is_better(score, best_score, metric.direction):
            best_score, best_counts = score, dict(counts)
    if len(best_counts) < 2:
        return None
    weight_sum = sum(best_counts.values())
    weights = {it: c / weight_sum for it, c in sorted(best_counts.items())}
    blend = sum(w * predictions[it] for it, w in weights.items())
    fold_metrics = []
    for valid in fold_indices(info.task, target, folds, seed):
        labels, proba = labels_from(info.task, blend[valid])
        fold_metrics.append(score_all(info.task, n_classes, target[valid], labels, proba))
    return EnsembleChoice(weights, fold_metrics, metric.name)


def _candidates(records: list[ExperimentRecord], metric: MetricInfo, n_rows: int):
    usable = [
        r
        for r in records
        if r.result.status == "success"
        and r.result.cv_score is not None
        and r.spec.model != "ensemble"
        and oof_path(r) is not None
    ]
    usable = [r for r in usable if len(np.load(oof_path(r), mmap_mode="r")) == n_rows]  # type: ignore[arg-type]
    sign = 1.0 if metric.direction == "maximize" else -1.0
    usable.sort(key=lambda r: -sign * (r.result.cv_score or 0.0))
    return usable[:MAX_CANDIDATES]


def ensemble_experiment(
    state: SessionState, target: np.ndarray
) -> tuple[ExperimentSpec, ExperimentResult] | None:
    """The ensemble as an experiment (spec and CV result), or None when nothing to blend."""
    assert state.data is not None
    started = time.monotonic()
    choice = select_ensemble(
        state.experiments, target, state.data, state.metric, state.folds, state.config.seed
    )
    if choice is None:
        return None
    summary = choice.summary()
    members = list(choice.weights)
    names = ", ".join(
        f"{state.experiments[i].spec.name} x{w:.2f}" for i, w in choice.weights.items()
    )
    spec = ExperimentSpec(
        name=f"ensemble_of_{len(members)}",
        model="ensemble",
        params={"members": members, "weights": list(choice.weights.values())},
        hypothesis="A weighted blend of the best experiments beats the best single model.",
        reasoning=(
            "Greedy ensemble selection with replacement over out-of-fold predictions "
            f"(Caruana et al., 2004): {names}."
        ),
        planner="ensemble",
        source="ensemble",
        direction="ensembling",
    )
    main = summary[state.metric.name]
    result = ExperimentResult(
        status="success",
        cv_score=float(main["mean"]),
        cv_std=float(main["std"]),  # type: ignore[arg-type]
        fold_scores=list(main["folds"]),  # type: ignore[arg-type]
        metrics={
            k: MetricSummary.model_validate(v)
            for k, v in summary.items()
            if all(math.isfinite(x) for x in v["folds"])
        },  # type: ignore[attr-defined]
        fit_time=sum(state.experiments[i].result.fit_time or 0.0 for i in members),
        duration=time.monotonic() - started,
    )
    return spec, result


class WeightedEnsemble:
    """A weighted average of fitted pipelines that take the same raw features.

    Pickled, it carries each member as the bytes of a saved bundle (``model_file``); loading
    the file unpickles them. A blend of refit members is saved by copying the bytes of the
    files their refit scripts wrote (``saved``, or ``from_saved`` when nothing here needs the
    members: they are then unpickled on first use): no member is unpickled and pickled again,
    which cost 0.2-1 s of the end phase (LightGBM and CatBoost write their trees out as text).
    """

    def __init__(
        self,
        members: list[object],
        weights: list[float],
        task: TaskType,
        n_classes: int,
        saved: list[bytes] | None = None,
    ) -> None:
        self._members: list[object] | None = list(members)
        self._saved = saved  # the members' bundles as saved, when known
        self.weights = weights
        self.task = task
        self.classes_ = np.arange(n_classes)

    @classmethod
    def from_saved(
        cls, saved: list[bytes], weights: list[float], task: TaskType, n_classes: int
    ) -> WeightedEnsemble:
        """An ensemble of the members saved as ``saved``, unpickled when first used."""
        ensemble = cls([], weights, task, n_classes, saved)
        ensemble._members = None
        return ensemble

    @property
    def members(self) -> list[object]:
        if self._members is None:
            assert self._saved is not None
            self._members = [bundle_from_bytes(bundle)["pipeline"] for bundle in self._saved]
            self._saved = None  # kept only until the members exist: half the memory
        return self._members

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        saved = self._saved
        if saved is None:
            saved = [pickle.dumps({"pipeline": m}, protocol=PROTOCOL) for m in self.members]
        return (_from_saved, (saved, self.weights, self.task, len(self.classes_)))

    def __setstate__(self, state: dict[str, object]) -> None:
        """An ensemble pickled before members were saved as bytes (its members inline)."""
        state = dict(state)
        state["_members"] = state.pop("members", None)
        state.setdefault("_saved", None)
        self.__dict__.update(state)

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        total = np.zeros((len(features), len(self.classes_)))
        for member, weight in zip(self.members, self.weights, strict=True):
            proba = np.zeros_like(total)
            present = np.asarray(member.classes_, dtype=int)  # type: ignore[attr-defined]
            proba[:, present] = member.predict_proba(features)  # type: ignore[attr-defined]
            total += weight * proba
        return total

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        if self.task == "classification":
            return self.predict_proba(features).argmax(axis=1)
        return sum(
            w * np.asarray(m.predict(features), dtype="float64")  # type: ignore[attr-defined]
            for m, w in zip(self.members, self.weights, strict=True)
        )


def _from_saved(
    saved: list[bytes], weights: list[float], task: TaskType, n_classes: int
) -> WeightedEnsemble:
    """How a pickled ``WeightedEnsemble`` is rebuilt (a module-level name, for pickle): with
    its members unpickled now, as part of loading the file, never inside a timed prediction
    (the importance's cost measurement, a prediction span)."""
    ensemble = WeightedEnsemble.from_saved(saved, weights, task, n_classes)
    ensemble.members  # noqa: B018 - unpickles them
    return ensemble
