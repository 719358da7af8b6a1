"""Tests of the per-experiment analysis: comparisons, new best, trend and observations."""

from __future__ import annotations

import pytest

from ml_autopilot.analysis import analyse, classify_trend
from ml_autopilot.state import (
    Comparison,
    ExperimentRecord,
    ExperimentResult,
    ExperimentSpec,
    MetricInfo,
)

F1 = MetricInfo(name="f1", direction="maximize")
RMSE = MetricInfo(name="rmse", direction="minimize")


def ok(score: float, std: float = 0.001, duration: float = 1.0) -> ExperimentResult:
    return ExperimentResult(status="success", cv_score=score, cv_std=std, duration=duration)


def failed(
    error: str = "ValueError: boom\nmore detail", status: str = "failed"
) -> ExperimentResult:
    return ExperimentResult(status=status, error=error, duration=2.0)  # type: ignore[arg-type]


def record(iteration: int, result: ExperimentResult, model: str = "ridge") -> ExperimentRecord:
    spec = ExperimentSpec(name=f"exp{iteration}", model=model, hypothesis="h", reasoning="r")
    return ExperimentRecord(
        iteration=iteration,
        spec=spec,
        result=result,
        started_at="2024-01-01T00:00:00+00:00",
        finished_at="2024-01-01T00:00:01+00:00",
    )


def history_of(*results: ExperimentResult) -> list[ExperimentRecord]:
    return [record(i, r) for i, r in enumerate(results)]


def by_reference(comparisons: list[Comparison]) -> dict[str, Comparison]:
    return {c.reference: c for c in comparisons}


def test_maximize_comparisons_against_baseline_best_and_previous() -> None:
    history = history_of(ok(0.70), ok(0.80), ok(0.75))

    analysis = analyse(history, ok(0.84), 3, F1, model="lightgbm")

    refs = by_reference(analysis.comparisons)
    assert set(refs) == {"baseline", "best", "previous"}
    assert refs["baseline"].reference_iteration == 0
    assert refs["baseline"].change == pytest.approx(0.14)
    assert refs["baseline"].pct_change == pytest.approx(20.0)
    assert refs["baseline"].better is True
    assert refs["best"].reference_iteration == 1
    assert refs["best"].reference_score == 0.80
    assert refs["best"].pct_change == pytest.approx(5.0)
    assert refs["previous"].reference_iteration == 2
    assert refs["previous"].change == pytest.approx(0.09)
    assert analysis.is_new_best is True


def test_minimize_lower_is_better() -> None:
    history = history_of(ok(100.0), ok(80.0))

    worse = analyse(history, ok(90.0), 2, RMSE, model="svr")
    better = analyse(history, ok(70.0), 2, RMSE, model="svr")

    worse_refs = by_reference(worse.comparisons)
    assert worse_refs["baseline"].better is True
    assert worse_refs["baseline"].pct_change == pytest.approx(-10.0)
    assert worse_refs["best"].better is False
    assert worse_refs["best"].change == pytest.approx(10.0)
    assert worse.is_new_best is False
    assert better.is_new_best is True
    assert by_reference(better.comparisons)["best"].better is True


def test_zero_reference_gives_no_pct_and_does_not_crash() -> None:
    history = history_of(ok(0.0))

    analysis = analyse(history, ok(0.25), 1, MetricInfo(name="r2", direction="maximize"))

    baseline = by_reference(analysis.comparisons)["baseline"]
    assert baseline.pct_change is None
    assert baseline.change == pytest.approx(0.25)
    assert baseline.better is True
    assert analysis.is_new_best is True
    assert 2 <= len(analysis.observations) <= 5


def test_failed_current_has_no_comparisons_and_reports_the_first_error_line() -> None:
    history = history_of(ok(0.70), ok(0.80))

    analysis = analyse(history, failed("\nMemoryError: out of memory\nTraceback"), 2, F1)

    assert analysis.comparisons == []
    assert analysis.is_new_best is False
    assert analysis.observations[0].endswith("MemoryError: out of memory")
    assert analysis.observations[0].startswith("Failed")
    assert any("iteration 1 (ridge)" in o for o in analysis.observations)
    assert 2 <= len(analysis.observations) <= 5


def test_traceback_error_reports_the_exception_line() -> None:
    error = "Traceback (most recent call last):\n  File 'x.py', line 1\nValueError: bad input"

    analysis = analyse(history_of(ok(0.7)), failed(error), 1, F1, model="svc")

    assert analysis.observations[0] == "Failed (svc): ValueError: bad input"


def test_worse_than_baseline_is_said_plainly() -> None:
    analysis = analyse(history_of(ok(0.70)), ok(0.63), 1, F1, model="knn")

    assert analysis.observations[0] == "knn scored 0.6300 f1 (-10.0% vs baseline, worse)."


def test_timeout_is_reported_as_such() -> None:
    analysis = analyse(history_of(ok(0.7)), failed("killed", status="timeout"), 1, F1)

    assert analysis.observations[0] == "Timed out after 2.0 s (experiment 1): killed"
    assert analysis.is_new_best is False


def test_a_pruned_experiment_says_why_it_stopped_early() -> None:
    why = "pruned after fold 1 of 5: log_loss 0.52 is worse than 0.38"
    analysis = analyse(history_of(ok(0.7)), failed(why, status="pruned"), 1, F1)

    assert analysis.observations[0] == f"Stopped early (experiment 1): {why}."
    assert analysis.is_new_best is False and analysis.comparisons == []


def test_success_without_score_is_treated_as_unscored() -> None:
    current = ExperimentResult(status="success", cv_score=None)

    analysis = analyse(history_of(ok(0.7)), current, 1, F1, model="ridge")

    assert analysis.comparisons == []
    assert analysis.is_new_best is False
    assert "without a usable CV score" in analysis.observations[0]


def test_first_success_is_new_best_and_failed_earlier_records_are_skipped() -> None:
    history = history_of(failed(), failed())

    analysis = analyse(history, ok(0.5), 2, F1, model="xgboost")

    assert analysis.is_new_best is True
    assert analysis.comparisons == []  # the baseline failed, nothing to compare with
    assert analysis.trend == "initial"
    assert any("First successful" in o for o in analysis.observations)


def test_baseline_analysis() -> None:
    analysis = analyse([], ok(0.61, std=0.02), 0, F1, model="logistic_regression")

    assert analysis.is_new_best is True
    assert analysis.comparisons == []
    assert analysis.trend == "initial"
    assert analysis.observations[0] == "logistic_regression scored 0.6100 f1 (CV std 0.0200)."
    assert "baseline" in analysis.observations[1]


def test_previous_skips_failures_and_baseline_skipped_when_failed() -> None:
    history = history_of(failed(), ok(0.60), ok(0.65), failed())

    refs = by_reference(analyse(history, ok(0.62), 4, F1).comparisons)

    assert "baseline" not in refs
    assert refs["previous"].reference_iteration == 2
    assert refs["best"].reference_iteration == 2


def test_tie_with_best_is_not_new_best() -> None:
    analysis = analyse(history_of(ok(0.7), ok(0.8)), ok(0.8), 2, F1)

    assert analysis.is_new_best is False
    assert by_reference(analysis.comparisons)["best"].better is False


@pytest.mark.parametrize(
    ("scores", "metric", "trend"),
    [
        ([0.70, 0.75, 0.80], F1, "improving"),
        ([0.80, 0.75, 0.70], F1, "degrading"),
        ([100.0, 90.0, 80.0], RMSE, "improving"),
        ([80.0, 90.0, 100.0], RMSE, "degrading"),
        ([0.800, 0.801, 0.799], F1, "plateau"),
        ([0.70, 0.80, 0.72], F1, "fluctuating"),
        ([0.0, 0.0, 0.0], F1, "plateau"),
        ([0.70, 0.80], F1, "initial"),
    ],
)
def test_trend_kinds(scores: list[float], metric: MetricInfo, trend: str) -> None:
    history = history_of(*(ok(s) for s in scores[:-1]))

    analysis = analyse(history, ok(scores[-1]), len(scores) - 1, metric)

    assert analysis.trend == trend
    assert classify_trend(scores, metric.direction) == trend


def test_trend_uses_only_the_last_three_successes() -> None:
    # Old fluctuation and a failure in between do not matter: 0.70, 0.72, 0.74 are improving.
    history = history_of(ok(0.9), ok(0.5), ok(0.70), failed(), ok(0.72))

    assert analyse(history, ok(0.74), 5, F1).trend == "improving"


def test_trend_when_current_failed_uses_earlier_successes() -> None:
    history = history_of(ok(0.70), ok(0.75), ok(0.80))

    assert analyse(history, failed(), 3, F1).trend == "improving"


def test_observations_mention_score_vs_baseline_and_new_best() -> None:
    history = [record(0, ok(0.70), "dummy"), record(1, ok(0.80), "random_forest")]

    analysis = analyse(history, ok(0.84, std=0.001), 2, F1, model="lightgbm")

    assert analysis.observations[0] == "lightgbm scored 0.8400 f1 (+20.0% vs baseline, better)."
    assert analysis.observations[1] == "New best, beating iteration 1 (random_forest) by 5.0%."


def test_observation_when_short_of_best_in_minimize_direction() -> None:
    history = [record(0, ok(50000.0), "dummy"), record(1, ok(40000.0), "lightgbm")]

    analysis = analyse(history, ok(44000.0, std=10.0), 2, RMSE, model="ridge")

    assert analysis.observations[0] == "ridge scored 44000.0 rmse (-12.0% vs baseline, better)."
    assert analysis.observations[1] == (
        "10.0% short of the best, iteration 1 (lightgbm) at 40000.0."
    )


def test_noise_warning_when_std_exceeds_gain_over_best() -> None:
    history = history_of(ok(0.70), ok(0.80))

    noisy = analyse(history, ok(0.805, std=0.031), 2, F1)
    steady = analyse(history, ok(0.805, std=0.001), 2, F1)

    assert any("CV std 0.0310 is large" in o and "noise" in o for o in noisy.observations)
    assert not any("noise" in o for o in steady.observations)


def test_slow_experiment_is_called_out() -> None:
    history = history_of(ok(0.7, duration=3.0), ok(0.71, duration=3.0), ok(0.72, duration=4.0))

    slow = analyse(history, ok(0.73, duration=12.3), 3, F1)
    quick = analyse(history, ok(0.73, duration=3.5), 3, F1)

    assert "Took 12.3 s, 4x the median experiment." in slow.observations
    assert not any(o.startswith("Took") for o in quick.observations)


def test_observation_count_is_between_two_and_five() -> None:
    history = history_of(ok(0.70, duration=1.0), ok(0.75, duration=1.0), ok(0.80, duration=1.0))

    analysis = analyse(history, ok(0.81, std=0.5, duration=100.0), 3, F1, model="catboost")

    assert 2 <= len(analysis.observations) <= 5
    assert all(o.strip() == o and o for o in analysis.observations)
