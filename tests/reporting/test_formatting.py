"""Text helpers: numbers read the same everywhere, hostile text cannot break the Markdown."""

from __future__ import annotations

import re

from ml_autopilot.reporting.formatting import (
    cell,
    fenced,
    inline,
    num,
    params_text,
    pct,
    quote,
    score_pm,
    seconds,
    tail_lines,
)
from ml_autopilot.reporting.report import tidy_markdown
from ml_autopilot.reporting.summary import zoomed_range


def test_num_uses_six_significant_digits_and_marks_missing_values() -> None:
    assert num(0.987892676755) == "0.987893"
    assert num(2.0) == "2"
    assert num(123456789.0) == "1.23457e+08"
    assert num(None) == "n/a"
    assert score_pm(0.5, 0.0123456789) == "0.5 ± 0.0123457"
    assert pct(0.2375) == "+23.8%"
    assert seconds(3600.0) == "3600 s" and seconds(4.567) == "4.57 s"


def test_cell_keeps_a_hostile_value_inside_one_table_cell() -> None:
    hostile = "a|b\n| c | d |\n## heading"
    text = cell(hostile)
    assert "\n" not in text
    assert re.findall(r"(?<!\\)\|", text) == []  # every pipe escaped
    assert text.count("\\|") == hostile.count("|")
    assert inline("x\n\n  y") == "x y"


def test_fence_is_longer_than_any_backtick_run_inside() -> None:
    block = fenced("before\n````\nafter")
    assert block.startswith("`````text\n") and block.endswith("\n`````")
    assert fenced("plain").startswith("```text\n")


def test_params_tail_and_quote() -> None:
    assert params_text({"b": 0.123456789, "a": 3}) == "a=3, b=0.123457"
    assert params_text({}) == "defaults"
    assert tail_lines("\n".join(f"l{i}" for i in range(30)), 3) == "l27\nl28\nl29"
    assert quote("# title\ntext") == "> # title\n> text"


def test_tidy_markdown_collapses_blank_lines_but_not_inside_fences() -> None:
    text = "a\n\n\n\nb\n```text\nx\n\n\ny\n```\n\n\nc"
    assert tidy_markdown(text) == "a\n\nb\n```text\nx\n\n\ny\n```\n\nc\n"


def test_zoom_only_when_scores_are_close() -> None:
    assert zoomed_range([0.97, 0.98], [0.01, 0.01]) is not None
    assert zoomed_range([2.7, 3.6], [0.1, 0.2]) is None
    assert zoomed_range([-1.0, 0.5], [0.1, 0.1]) is None
