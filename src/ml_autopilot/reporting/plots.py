"""Static PNG plots for the report, drawn headless with matplotlib's Agg canvas.

No pyplot and no global backend switch: every plot builds its own ``Figure``, so drawing is
safe in any process. Each public ``plot_*`` function returns the PNG's path, or None when the
plot cannot be drawn for this run; ``draw_plots`` draws them all and records, for each one that
is missing, a sentence saying why, for the report to show instead of a broken image.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.metrics import confusion_matrix, roc_auc_score, roc_curve

from ml_autopilot.log import get_logger
from ml_autopilot.reporting import summary
from ml_autopilot.reporting.formatting import metric_label, num, shorten
from ml_autopilot.reporting.importance import ImportanceResult
from ml_autopilot.state import ExperimentRecord, SessionState, experiment_folder_name

logger = get_logger("reporting")
DPI = 110
PLOTS_DIR = "plots"
TOP_FEATURES = 20
MAX_ROC_CLASSES = 10
MAX_ANNOTATED_CLASSES = 15
#: The plots that need the final model; every other plot reads only the experiments.
FINAL_MODEL_PLOTS = ("importance",)
BETTER, WORSE, NEUTRAL, FAILED = "#2a9d8f", "#e76f51", "#457b9d", "#d62828"


class PlotUnavailable(Exception):
    """Raised inside a plot when the run lacks what it needs; the message says what."""


@dataclass(frozen=True)
class PlotOutcome:
    """One plot of the report: its file, or why there is none."""

    key: str
    title: str
    caption: str
    path: Path | None = None
    reason: str | None = None


# ---- the plots -----------------------------------------------------------------------------


def _progress(state: SessionState, out_dir: Path) -> Path:
    records = sorted(state.experiments, key=lambda r: r.iteration)
    scored = [(r.iteration, summary.score(r)) for r in records if summary.score(r) is not None]
    if not scored:
        raise PlotUnavailable("no experiment produced a CV score")
    fig, ax = _figure()
    x, y = zip(*scored, strict=True)
    ax.plot(x, y, "o", color=NEUTRAL, label="CV score of the experiment")
    steps = [(i, b) for i, b in summary.best_so_far(state) if b is not None]
    ax.step(*zip(*steps, strict=True), where="post", color=BETTER, lw=2, label="best so far")
    failed = [r.iteration for r in records if summary.score(r) is None]
    if failed:
        ax.plot(
            failed,
            [0.03] * len(failed),
            "x",
            color=FAILED,
            ms=9,
            mew=2,
            transform=ax.get_xaxis_transform(),
            label="failed / timed out",
        )
    _integer_xaxis(ax, [r.iteration for r in records])
    ax.set_xlabel("iteration (0 = baseline)")
    ax.set_ylabel(metric_label(state.metric.name, state.metric.direction))
    ax.set_title(f"CV {state.metric.name} over iterations")
    ax.legend(loc="best", fontsize=9)
    return _save(fig, out_dir, "progress.png")


def _models(state: SessionState, out_dir: Path) -> Path:
    groups = summary.best_per_model(state)
    if not groups:
        raise PlotUnavailable("no experiment produced a CV score")
    groups = list(reversed(groups))  # best at the top of a horizontal bar chart
    fig, ax = _figure(height=max(3.0, 0.5 * len(groups) + 1.6))
    values = [g.cv_score for g in groups]
    errors = [g.cv_std for g in groups]
    labels = [f"{summary.model_label(g.group)} (#{g.record.iteration})" for g in groups]
    ax.barh(labels, values, xerr=errors, color=NEUTRAL, capsize=4, error_kw={"lw": 1.2})
    zoomed = _zoom(ax, values, errors, axis="x")
    for index, (value, error) in enumerate(zip(values, errors, strict=True)):
        ax.annotate(
            num(value),
            (value + error, index),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    note = "; axis zoomed, not from 0" if zoomed else ""
    ax.set_xlabel(f"best CV {metric_label(state.metric.name, state.metric.direction)}{note}")
    ax.set_ylabel("model family (best experiment)")
    ax.set_title("Best CV score per model family (error bars: CV std)")
    return _save(fig, out_dir, "models.png")


def _improvement(state: SessionState, out_dir: Path) -> Path:
    gains = summary.improvement_per_experiment(state)
    if not gains:
        raise PlotUnavailable(
            "there is no successful baseline or no successful experiment after it"
        )
    fig, ax = _figure(width=max(8.0, 0.35 * len(gains) + 3))
    labels = [_short_name(r) for r, _ in gains]
    values = [100 * g for _, g in gains]
    bars = ax.bar(labels, values, color=[BETTER if v > 0 else WORSE for v in values])
    if len(values) <= 30:
        ax.bar_label(bars, labels=[f"{v:+.2f}%" for v in values], fontsize=8, padding=2)
    ax.margins(y=0.15)
    low, high = ax.get_ylim()
    pad = 0.1 * (high - low)
    ax.set_ylim(min(low, -pad), max(high, pad))  # room for the labels on both sides of 0
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel("experiment")
    ax.set_ylabel("% change vs baseline (positive = better)")
    ax.set_title(
        f"Improvement over the baseline, {metric_label(state.metric.name, state.metric.direction)}"
    )
    ax.tick_params(axis="x", labelsize=8)
    for label in ax.get_xticklabels():
        label.set(rotation=35, ha="right", rotation_mode="anchor")
    return _save(fig, out_dir, "improvement.png")


def _importance(result: ImportanceResult | None, out_dir: Path) -> Path:
    if result is None:
        raise PlotUnavailable("feature importance was not computed")
    if not result.ok:
        raise PlotUnavailable(f"feature importance is unavailable: {result.unavailable}")
    top = list(reversed(result.features[:TOP_FEATURES]))
    fig, ax = _figure(height=max(3.0, 0.32 * len(top) + 1.6))
    ax.barh(
        [shorten(f.column, 40) for f in top],
        [f.mean for f in top],
        xerr=[f.std for f in top],
        color=NEUTRAL,
        capsize=3,
    )
    ax.axvline(0, color="black", lw=0.8)
    metric = result.metric or "metric"
    ax.set_xlabel(f"loss in {metric} when the column is shuffled (larger = more important)")
    ax.set_ylabel("column")
    ax.set_title(f"Permutation importance, top {len(top)} (training-part sample)")
    ax.tick_params(axis="y", labelsize=8)
    return _save(fig, out_dir, "importance.png")


def _predicted_vs_actual(state: SessionState, run_dir: Path, out_dir: Path) -> Path:
    record, actual, predicted = _regression_oof(state, run_dir)
    fig, ax = _figure(width=6.4, height=6.0)
    ax.scatter(actual, predicted, s=12, alpha=0.6, color=NEUTRAL, edgecolors="none")
    low = float(min(actual.min(), predicted.min()))
    high = float(max(actual.max(), predicted.max()))
    ax.plot([low, high], [low, high], "--", color="black", lw=1, label="perfect prediction")
    ax.set_xlabel(f"actual {_target(state)}")
    ax.set_ylabel("out-of-fold prediction")
    ax.set_title(f"Predicted vs actual, out-of-fold ({shorten(record.spec.name, 40)})")
    ax.legend(loc="upper left", fontsize=9)
    return _save(fig, out_dir, "predicted_vs_actual.png")


def _residuals(state: SessionState, run_dir: Path, out_dir: Path) -> Path:
    record, actual, predicted = _regression_oof(state, run_dir)
    residual = actual - predicted
    fig, ax = _figure()
    ax.scatter(predicted, residual, s=12, alpha=0.6, color=NEUTRAL, edgecolors="none")
    ax.axhline(0, color="black", lw=1, ls="--")
    ax.set_xlabel("out-of-fold prediction")
    ax.set_ylabel("residual (actual - prediction)")
    ax.set_title(f"Residuals, out-of-fold ({shorten(record.spec.name, 40)})")
    return _save(fig, out_dir, "residuals.png")


def _confusion(state: SessionState, run_dir: Path, out_dir: Path) -> Path:
    record, truth, proba = _classification_oof(state, run_dir)
    classes = _class_names(state)
    matrix = confusion_matrix(truth, proba.argmax(axis=1), labels=list(range(len(classes))))
    size = min(12.0, max(5.5, 0.45 * len(classes) + 3))
    fig, ax = _figure(width=size + 1, height=size)
    ax.grid(False)
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="rows (count)")
    ticks = range(len(classes))
    ax.set_xticks(list(ticks), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(list(ticks), classes, fontsize=8)
    if len(classes) <= MAX_ANNOTATED_CLASSES:
        _annotate_cells(ax, matrix)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("actual class")
    ax.set_title(f"Confusion matrix, out-of-fold ({shorten(record.spec.name, 40)})")
    return _save(fig, out_dir, "confusion_matrix.png")


def _roc(state: SessionState, run_dir: Path, out_dir: Path) -> Path:
    record, truth, proba = _classification_oof(state, run_dir)
    classes = _class_names(state)
    fig, ax = _figure(width=6.8, height=6.0)
    shown = [1] if len(classes) == 2 else list(range(min(len(classes), MAX_ROC_CLASSES)))
    drawn = 0
    for index in shown:
        positives = truth == index
        if positives.all() or not positives.any():
            continue
        fpr, tpr, _ = roc_curve(positives, proba[:, index])
        auc = roc_auc_score(positives, proba[:, index])
        label = classes[index] if len(classes) == 2 else f"{classes[index]} vs rest"
        ax.plot(fpr, tpr, lw=1.8, label=f"{label} (AUC {auc:.3f})")
        drawn += 1
    if drawn == 0:
        raise PlotUnavailable("the training target has a single class")
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1, label="chance")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    kind = "one-vs-rest" if len(classes) > 2 else "positive class"
    more = f", first {MAX_ROC_CLASSES} classes" if len(classes) > MAX_ROC_CLASSES else ""
    ax.set_title(f"ROC curves, {kind}{more}, out-of-fold ({shorten(record.spec.name, 30)})")
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, out_dir, "roc.png")


# ---- public API ----------------------------------------------------------------------------


def plot_progress(state: SessionState, out_dir: Path) -> Path | None:
    """Metric over iterations with the best-so-far line; failed experiments marked."""
    return _quiet("progress", lambda: _progress(state, out_dir))


def plot_model_comparison(state: SessionState, out_dir: Path) -> Path | None:
    """Best CV score per model family, error bars = CV std."""
    return _quiet("models", lambda: _models(state, out_dir))


def plot_improvement(state: SessionState, out_dir: Path) -> Path | None:
    """% improvement of every experiment over the baseline, in the better direction."""
    return _quiet("improvement", lambda: _improvement(state, out_dir))


def plot_importance(result: ImportanceResult | None, out_dir: Path) -> Path | None:
    """Top-20 permutation importances of the final model."""
    return _quiet("importance", lambda: _importance(result, out_dir))


def plot_predicted_vs_actual(state: SessionState, run_dir: Path, out_dir: Path) -> Path | None:
    """Regression: out-of-fold predictions of the best experiment against the target."""
    return _quiet("predicted_vs_actual", lambda: _predicted_vs_actual(state, run_dir, out_dir))


def plot_residuals(state: SessionState, run_dir: Path, out_dir: Path) -> Path | None:
    """Regression: out-of-fold residuals of the best experiment against its predictions."""
    return _quiet("residuals", lambda: _residuals(state, run_dir, out_dir))


def plot_confusion_matrix(state: SessionState, run_dir: Path, out_dir: Path) -> Path | None:
    """Classification: confusion matrix of the best experiment's out-of-fold predictions."""
    return _quiet("confusion_matrix", lambda: _confusion(state, run_dir, out_dir))


def plot_roc(state: SessionState, run_dir: Path, out_dir: Path) -> Path | None:
    """Classification: ROC curve(s), one-vs-rest when multiclass, from out-of-fold probabilities."""
    return _quiet("roc", lambda: _roc(state, run_dir, out_dir))


def plot_specs(state: SessionState) -> list[tuple[str, str, str]]:
    """(key, title, caption) of every plot the report shows for this run's task, in order."""
    oof = (
        "Honest out-of-fold predictions of the best experiment: every row of the training part "
        "was predicted by the cross-validation model that did not see it (not the holdout). "
        "For an ensemble, its members' out-of-fold predictions blended with its weights."
    )
    specs = [
        (
            "progress",
            "Metric over iterations",
            "Each dot is one experiment's CV score; the line "
            "is the best so far; crosses at the bottom mark failed or timed-out experiments.",
        ),
        (
            "models",
            "Model comparison",
            "Best CV score per model family, with the CV standard "
            "deviation as error bars; when the scores are close, the axis is zoomed and says so.",
        ),
        (
            "improvement",
            "Improvement over the baseline",
            "Relative change of each experiment's "
            "CV score against the baseline, signed so that positive is always better.",
        ),
        (
            "importance",
            "Feature importance",
            "Permutation importance of the final model, "
            "measured on a sample of the training part, not the holdout.",
        ),
    ]
    if state.data is not None and state.data.task == "regression":
        specs += [
            ("predicted_vs_actual", "Predicted vs actual", oof),
            ("residuals", "Residuals", oof),
        ]
    else:
        specs += [("confusion_matrix", "Confusion matrix", oof), ("roc", "ROC curves", oof)]
    return specs


def draw_plots(
    state: SessionState,
    run_dir: Path,
    importance: ImportanceResult | None,
    only: Collection[str] | None = None,
) -> dict[str, PlotOutcome]:
    """Draw every plot (or those named in ``only``) into ``run_dir/report/plots``; never raises
    for a plot that fails. Only ``FINAL_MODEL_PLOTS`` need the final model: the others read
    the experiments, so they can be drawn while the final refit runs (``search_plot_keys``)."""
    out_dir = Path(run_dir) / "report" / PLOTS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    drawers: dict[str, Callable[[], Path]] = {
        "progress": lambda: _progress(state, out_dir),
        "models": lambda: _models(state, out_dir),
        "improvement": lambda: _improvement(state, out_dir),
        "importance": lambda: _importance(importance, out_dir),
        "predicted_vs_actual": lambda: _predicted_vs_actual(state, run_dir, out_dir),
        "residuals": lambda: _residuals(state, run_dir, out_dir),
        "confusion_matrix": lambda: _confusion(state, run_dir, out_dir),
        "roc": lambda: _roc(state, run_dir, out_dir),
    }
    outcomes: dict[str, PlotOutcome] = {}
    for key, title, caption in plot_specs(state):
        if only is not None and key not in only:
            continue
        if state.data is None or not state.experiments:
            outcomes[key] = PlotOutcome(key, title, caption, None, "no experiment has run yet")
            continue
        path, reason = _attempt(key, drawers[key])
        outcomes[key] = PlotOutcome(key, title, caption, path, reason)
    return outcomes


def draw_search_plots(state: SessionState, run_dir: Path) -> dict[str, PlotOutcome]:
    """The plots that read only the experiments, not the final model (``draw_plots``)."""
    return draw_plots(state, run_dir, None, only=search_plot_keys(state))


def search_plot_keys(state: SessionState) -> list[str]:
    """The plots of this run that read only the experiments, not the final model."""
    return [key for key, _, _ in plot_specs(state) if key not in FINAL_MODEL_PLOTS]


def in_report_order(state: SessionState, *parts: dict[str, PlotOutcome]) -> dict[str, PlotOutcome]:
    """Plots drawn in several calls of ``draw_plots``, merged in the report's order."""
    merged = {key: outcome for part in parts for key, outcome in part.items()}
    return {key: merged[key] for key, _, _ in plot_specs(state) if key in merged}


# ---- helpers -------------------------------------------------------------------------------


def _attempt(key: str, draw: Callable[[], Path]) -> tuple[Path | None, str | None]:
    try:
        return draw(), None
    except PlotUnavailable as exc:
        return None, str(exc)
    except Exception as exc:  # one broken plot must not cost the report
        logger.warning("plot %s failed: %s", key, exc)
        return None, f"it could not be drawn ({type(exc).__name__}: {shorten(str(exc), 160)})"


def _quiet(key: str, draw: Callable[[], Path]) -> Path | None:
    path, reason = _attempt(key, draw)
    if reason:
        logger.info("plot %s not drawn: %s", key, reason)
    return path


def _figure(width: float = 8.0, height: float = 4.8) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    ax.grid(True, alpha=0.3)
    return fig, ax


def _save(fig: Figure, out_dir: Path, name: str) -> Path:
    path = Path(out_dir) / name
    fig.savefig(path, dpi=DPI, format="png")
    return path


def _integer_xaxis(ax: Axes, iterations: list[int]) -> None:
    if len(iterations) <= 25:
        ax.set_xticks(iterations)
    ax.set_xlim(min(iterations) - 0.5, max(iterations) + 0.5)


def _zoom(ax: Axes, values: list[float], errors: list[float], axis: str) -> bool:
    """Limit the value axis to the scores when they are too close to tell apart from 0."""
    limits = summary.zoomed_range(values, errors)
    if limits is None:
        return False
    (ax.set_xlim if axis == "x" else ax.set_ylim)(*limits)
    return True


def _annotate_cells(ax: Axes, matrix: np.ndarray) -> None:
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, col), value in np.ndenumerate(matrix):
        colour = "white" if value > threshold else "black"
        ax.text(col, row, str(value), ha="center", va="center", color=colour, fontsize=9)


def _short_name(record: ExperimentRecord) -> str:
    return f"#{record.iteration} {shorten(record.spec.name, 24)}"


def _target(state: SessionState) -> str:
    return shorten(state.data.target, 40) if state.data else "target"


def _class_names(state: SessionState) -> list[str]:
    assert state.data is not None
    return [shorten(str(c), 20) for c in state.data.classes]


def oof_path(run_dir: Path, record: ExperimentRecord) -> Path:
    """Where an experiment's out-of-fold predictions are saved."""
    if record.result.script_path:
        candidate = Path(record.result.script_path).parent / "oof.npy"
        if candidate.is_file():
            return candidate
    folder = experiment_folder_name(record.iteration, record.spec.name)
    return Path(run_dir) / "experiments" / folder / "oof.npy"


def _best_oof(state: SessionState, run_dir: Path) -> tuple[ExperimentRecord, np.ndarray]:
    """The best experiment's out-of-fold predictions; an ensemble's are its members' blend."""
    record = state.best()
    if record is None:
        raise PlotUnavailable("no experiment succeeded, so there are no out-of-fold predictions")
    members = summary.ensemble_members(state, record)
    if not members:
        return record, _load_oof(run_dir, record)
    blend = sum(weight * _load_oof(run_dir, member) for member, weight in members)
    return record, np.asarray(blend) / sum(weight for _, weight in members)


def _load_oof(run_dir: Path, record: ExperimentRecord) -> np.ndarray:
    path = oof_path(run_dir, record)
    if not path.is_file():
        raise PlotUnavailable(
            f"the out-of-fold predictions of {record.spec.name} ({path}) are missing"
        )
    return np.load(path, allow_pickle=False)


def _train_target(state: SessionState, run_dir: Path) -> pd.Series:
    assert state.data is not None
    path = Path(state.data.train_path)
    if not path.is_file():
        path = Path(run_dir) / "data" / "train.parquet"
    if not path.is_file():
        raise PlotUnavailable("the training part (data/train.parquet) is missing")
    return pd.read_parquet(path, columns=[state.data.target])[state.data.target]


def _regression_oof(
    state: SessionState, run_dir: Path
) -> tuple[ExperimentRecord, np.ndarray, np.ndarray]:
    record, oof = _best_oof(state, run_dir)
    actual = _train_target(state, run_dir).to_numpy(dtype="float64")
    predicted = np.asarray(oof, dtype="float64").reshape(-1)
    if predicted.shape != actual.shape:
        raise PlotUnavailable(
            f"out-of-fold predictions have {predicted.size} rows, the training part {actual.size}"
        )
    keep = np.isfinite(actual) & np.isfinite(predicted)
    return record, actual[keep], predicted[keep]


def _classification_oof(
    state: SessionState, run_dir: Path
) -> tuple[ExperimentRecord, np.ndarray, np.ndarray]:
    assert state.data is not None
    record, proba = _best_oof(state, run_dir)
    series = _train_target(state, run_dir)
    index = {str(label): position for position, label in enumerate(state.data.classes)}
    truth = np.array([index.get(str(v), -1) for v in series], dtype="int64")
    n_classes = len(state.data.classes)
    if proba.ndim != 2 or proba.shape != (len(truth), n_classes):
        raise PlotUnavailable(
            f"out-of-fold probabilities have shape {proba.shape}, expected "
            f"({len(truth)}, {n_classes})"
        )
    keep = (truth >= 0) & np.isfinite(proba).all(axis=1)
    if not keep.all():
        logger.info("%d training rows left out of the OOF plots", int((~keep).sum()))
    return record, truth[keep], proba[keep]
