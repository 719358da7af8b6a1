"""Time accounting: spans from scripts are checked, and overlapping spans count once."""

from __future__ import annotations

import math

from ml_autopilot.timing import checked_spans, covered_seconds


def test_overlapping_spans_count_once() -> None:
    assert covered_seconds([(0.0, 2.0), (1.0, 3.0), (5.0, 6.0)]) == 4.0
    assert covered_seconds([(0.0, 10.0), (1.0, 2.0)]) == 10.0
    assert covered_seconds([]) == 0.0


def test_spans_are_clipped_to_the_window() -> None:
    assert covered_seconds([(0.0, 2.0), (1.0, 3.0)], lower=1.5) == 1.5
    assert covered_seconds([(0.0, 2.0), (4.0, 9.0)], lower=1.0, upper=5.0) == 2.0
    assert covered_seconds([(6.0, 9.0)], upper=5.0) == 0.0


def test_only_well_formed_spans_are_kept() -> None:
    raw = [[1, 2], [3.5, 3.0], ["a", 4], [1, math.inf], [True, 2], [1, 2, 3], "x", [4.0, 5.5]]
    assert checked_spans(raw) == [(1.0, 2.0), (4.0, 5.5)]
    assert checked_spans({"a": 1}) == []
    assert checked_spans(None) == []
