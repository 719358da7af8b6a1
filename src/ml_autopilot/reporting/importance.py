"""Permutation importance of the final model, per original (raw) column.

The saved pipeline takes the raw feature columns (after ``prepare_features``), so permuting one
raw column measures what the whole pipeline, preprocessing included, loses without it. It is
measured on a seeded sample of the training part (``data/train.parquet``), never the holdout,
with the session's own metric; a positive importance means the metric gets worse when the
column is shuffled. The shuffled copies are predicted in batches (``permutation.py``), and the
rows and repeats are chosen to fit ``time_budget``. The result is written to
``report/importance.json``; a session computes it in a child process (``importance_job.py``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from threadpoolctl import threadpool_limits

from ml_autopilot.log import get_logger
from ml_autopilot.model_file import load_bundle
from ml_autopilot.predict import prepare_features
from ml_autopilot.reporting.permutation import (
    CallCost,
    Scorer,
    measure_cost,
    permutation_drops,
)
from ml_autopilot.state import SessionState

logger = get_logger("reporting")
IMPORTANCE_FILE = "importance.json"
N_REPEATS = 5
MAX_ROWS = 2000
MIN_ROWS = 200
TIME_BUDGET_SECONDS = 3.0  # at most; a short run gets BUDGET_SHARE of its time budget
BUDGET_SHARE = 0.02
MIN_REPEATS = 1
OVERRUN = 3.0  # importance is skipped when even one repeat would take this many budgets
DATA_NOTE = (
    "measured on a sample of the training part (data/train.parquet) with the refit final model, "
    "not on the holdout"
)


@dataclass(frozen=True)
class FeatureImportance:
    column: str
    mean: float
    std: float


@dataclass
class ImportanceResult:
    """Importances (largest first), or the reason there are none."""

    features: list[FeatureImportance] = field(default_factory=list)
    metric: str | None = None
    direction: str | None = None
    n_rows: int = 0
    n_train_rows: int = 0
    n_repeats: int = N_REPEATS
    seconds: float = 0.0
    data_note: str = DATA_NOTE
    unavailable: str | None = None
    # epoch [start, end] of each call predicting the final model (counted as model time)
    model_spans: list[tuple[float, float]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.unavailable is None and bool(self.features)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class FittedModel:
    """The saved model (a scikit-learn pipeline or the engine's own ``WeightedEnsemble``) with
    array answers and its classes, as the scorers read them; the wall-clock span of every
    prediction is kept (the run's model time, ``timing.py``)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.spans: list[tuple[float, float]] = []

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        return self._timed(self.model.predict, features)

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        return self._timed(self.model.predict_proba, features)

    def _timed(self, method: Callable[[pd.DataFrame], Any], features: pd.DataFrame) -> np.ndarray:
        started = time.time()
        answer = np.asarray(method(features))
        self.spans.append((started, time.time()))
        return answer

    @property
    def classes_(self) -> np.ndarray:
        return np.asarray(self.model.classes_)


def compute_importance(
    state: SessionState, run_dir: Path, model_file: str | None = None
) -> ImportanceResult:
    """Permutation importance of the final model (or of ``model_file``, a path inside
    ``run_dir`` saved as the final model before the state records it); never raises, says
    why when unavailable."""
    try:
        # Predictions on a few hundred rows gain nothing from threads, and each of a booster's
        # many small parallel regions costs thread start-up and barriers: one thread here.
        with threadpool_limits(limits=1):
            return _compute(state, Path(run_dir), model_file)
    except Exception as exc:  # a report must not fail because of one section
        logger.warning("feature importance failed: %s", exc)
        return ImportanceResult(unavailable=f"it could not be computed ({_one_line(exc)})")


def write_importance(
    state: SessionState, run_dir: Path, model_file: str | None = None
) -> tuple[Path, ImportanceResult]:
    """Compute the importances and write ``report/importance.json``."""
    return save_importance(compute_importance(state, run_dir, model_file), run_dir)


def save_importance(result: ImportanceResult, run_dir: Path) -> tuple[Path, ImportanceResult]:
    """Write ``report/importance.json``."""
    path = importance_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_json(), indent=2), encoding="utf-8")
    return path, result


def importance_path(run_dir: Path) -> Path:
    return Path(run_dir) / "report" / IMPORTANCE_FILE


def read_importance(run_dir: Path) -> ImportanceResult | None:
    """The importances written earlier, or None when there is no readable file."""
    path = importance_path(run_dir)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        raw["features"] = [FeatureImportance(**f) for f in raw.get("features", [])]
        return ImportanceResult(**raw)
    except (OSError, ValueError, TypeError):
        return None


def _compute(state: SessionState, run_dir: Path, model_file: str | None) -> ImportanceResult:
    path, reason = _explained_model(state, run_dir, model_file)
    if path is None:
        return ImportanceResult(unavailable=reason)
    assert state.data is not None
    bundle: dict[str, Any] = load_bundle(path)  # our own run artifact
    train = pd.read_parquet(_train_path(state, run_dir))
    sample = train.sample(n=min(MAX_ROWS, len(train)), random_state=state.config.seed)
    features = prepare_features(sample, bundle["numeric_columns"], bundle["categorical_columns"])
    target = _encode_target(sample[state.data.target], state)
    scorer = make_scorer(state.metric.name, state.data.task, len(state.data.classes))
    model = FittedModel(bundle["pipeline"])
    predict = model.predict if state.data.task == "regression" else model.predict_proba
    plan = _fit_to_time(predict, features, state)
    if plan is None:
        return ImportanceResult(
            unavailable=(
                "skipped: one shuffle of each column would take longer than the "
                f"{time_budget(state):.1f} s this run allows for it"
            ),
            model_spans=model.spans,
        )
    rows, repeats = plan
    features, target = features.iloc[:rows], target[:rows]  # the sample is in random order
    started = time.perf_counter()
    drops = permutation_drops(model, scorer, features, target, repeats, state.config.seed)
    ranked = sorted(
        (
            FeatureImportance(str(c), float(m), float(s))
            for c, m, s in zip(features.columns, drops.mean(axis=1), drops.std(axis=1), strict=True)
        ),
        key=lambda f: f.mean,
        reverse=True,
    )
    return ImportanceResult(
        features=ranked,
        metric=state.metric.name,
        direction=state.metric.direction,
        n_rows=len(features),
        n_train_rows=len(train),
        n_repeats=repeats,
        seconds=time.perf_counter() - started,
        model_spans=model.spans,
    )


def _explained_model(
    state: SessionState, run_dir: Path, named: str | None
) -> tuple[Path | None, str]:
    """The model file to explain (the final model, or ``named``), or None and why not."""
    if named is None:
        reason = _unavailable_reason(state, run_dir)
        return (None, reason) if reason else (_model_path(state, run_dir), "")
    path = run_dir / named
    if state.data is None:
        return None, "the run has no data yet"
    if run_dir.resolve() not in path.resolve().parents:
        return None, f"the model file {named} is not in the run folder"
    if not path.is_file():
        return None, f"the model file {named} is missing"
    return path, ""


def _unavailable_reason(state: SessionState, run_dir: Path) -> str | None:
    final = state.final
    if state.data is None:
        return "the run has no data yet"
    if final is None:
        return "the run has no final model (no experiment succeeded, or the run did not finish)"
    if final.status != "success" or not final.model_path:
        return f"the final refit failed ({_one_line(final.error or 'unknown error')})"
    if not _model_path(state, run_dir).is_file():
        return f"the model file {final.model_path} is missing"
    return None


def _model_path(state: SessionState, run_dir: Path) -> Path:
    """The saved model: where the state says, or in this run folder if the folder moved."""
    assert state.final is not None and state.final.model_path
    recorded = Path(state.final.model_path)
    if recorded.is_file():
        return recorded
    try:
        return run_dir / recorded.relative_to(state.config.output_dir)
    except ValueError:
        return run_dir / "final" / recorded.name


def _train_path(state: SessionState, run_dir: Path) -> Path:
    assert state.data is not None
    recorded = Path(state.data.train_path)
    return recorded if recorded.is_file() else run_dir / "data" / "train.parquet"


def _encode_target(series: pd.Series, state: SessionState) -> np.ndarray:
    """The target as the pipeline was trained on it: class positions, or float values."""
    assert state.data is not None
    if state.data.task == "regression":
        return series.to_numpy(dtype="float64")
    index = {label: position for position, label in enumerate(state.data.classes)}
    by_text = {str(label): position for label, position in index.items()}
    return np.array([index.get(v, by_text.get(str(v), -1)) for v in series], dtype="int64")


def make_scorer(metric: str, task: str, n_classes: int) -> Scorer:
    """A scorer with greater-is-better sign for the session's metric, as the scripts compute it."""
    if task == "regression":
        return _regression_scorer(metric)
    return _classification_scorer(metric, n_classes)


def _regression_scorer(metric: str) -> Scorer:
    functions: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
        "rmse": lambda y, p: -float(np.sqrt(skm.mean_squared_error(y, p))),
        "mae": lambda y, p: -float(skm.mean_absolute_error(y, p)),
        "r2": lambda y, p: float(skm.r2_score(y, p)),
    }
    function = functions[metric]

    def scorer(estimator: Any, features: pd.DataFrame, target: np.ndarray) -> float:
        return function(target, np.asarray(estimator.predict(features), dtype="float64"))

    return scorer


def _classification_scorer(metric: str, n_classes: int) -> Scorer:
    binary = n_classes == 2
    labels = list(range(n_classes))

    def scorer(estimator: Any, features: pd.DataFrame, target: np.ndarray) -> float:
        proba = aligned_proba(estimator, features, n_classes)
        predicted = proba.argmax(axis=1)
        if metric == "accuracy":
            return float(skm.accuracy_score(target, predicted))
        if metric == "f1":
            average = "binary" if binary else "macro"
            return float(
                skm.f1_score(
                    target,
                    predicted,
                    average=average,
                    labels=None if binary else labels,
                    zero_division=0,
                )
            )
        if metric == "log_loss":
            return -float(skm.log_loss(target, np.clip(proba, 1e-15, 1.0), labels=labels))
        if binary:
            return float(skm.roc_auc_score(target, proba[:, 1]))
        return float(
            skm.roc_auc_score(target, proba, multi_class="ovr", average="macro", labels=labels)
        )

    return scorer


def aligned_proba(estimator: Any, features: pd.DataFrame, n_classes: int) -> np.ndarray:
    """Class probabilities with one column per class of the run, rows summing to one."""
    proba = np.zeros((len(features), n_classes))
    present = np.asarray(estimator.classes_, dtype=int)
    proba[:, present] = estimator.predict_proba(features)
    proba = np.clip(proba, 0.0, 1.0)
    sums = proba.sum(axis=1, keepdims=True)
    return np.divide(proba, sums, out=np.full_like(proba, 1.0 / n_classes), where=sums > 0)


def _fit_to_time(
    predict: Callable[[pd.DataFrame], Any], features: pd.DataFrame, state: SessionState
) -> tuple[int, int] | None:
    """Rows and repeats that keep the computation within its time budget, or None to skip.

    The cost of a call is measured (a fixed part and a part per row); fewer rows first (down
    to ``MIN_ROWS``), then fewer repeats (down to ``MIN_REPEATS``). None: even that would take
    more than ``OVERRUN`` times the budget."""
    budget = time_budget(state)
    cost = measure_cost(predict, features, MIN_ROWS)
    columns, available = features.shape[1], len(features)
    rows = available
    if cost.seconds(rows, columns, N_REPEATS) > budget:
        rows = _rows_within(cost, budget, columns, available)
    repeats = N_REPEATS
    while repeats > MIN_REPEATS and cost.seconds(rows, columns, repeats) > budget:
        repeats -= 1
    if cost.seconds(rows, columns, repeats) > OVERRUN * budget:
        return None
    if rows < available or repeats < N_REPEATS:
        logger.info(
            "feature importance on %d rows, %d repeat(s), to stay within %.1f s",
            rows,
            repeats,
            budget,
        )
    return rows, repeats


def _rows_within(cost: CallCost, budget: float, columns: int, available: int) -> int:
    """The most rows (at least ``MIN_ROWS``) whose computation with every repeat fits."""
    low, high = min(MIN_ROWS, available), available
    while low < high:
        middle = (low + high + 1) // 2
        if cost.seconds(middle, columns, N_REPEATS) <= budget:
            low = middle
        else:
            high = middle - 1
    return low


def time_budget(state: SessionState) -> float:
    """Seconds the importance may take: a share of the run's budget, at most a cap."""
    return min(TIME_BUDGET_SECONDS, BUDGET_SHARE * state.config.time_budget)


def _one_line(value: object, limit: int = 200) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
