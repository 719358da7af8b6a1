"""Text formatting shared by the report, the plots and the dashboard.

Every number shown anywhere comes from the session state through ``num`` (six significant
digits), so the same value reads the same everywhere. Values that come from the data or a planner
(column names, hypotheses, error text) are treated as text: ``cell`` keeps them from breaking a
Markdown table, ``inline`` from breaking a heading or list item, and ``fenced`` wraps free text
in a code fence that nothing inside it can close.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

NA = "n/a"
_BACKTICK_RUN = re.compile(r"`+")


def num(value: float | int | None) -> str:
    """A number as shown in every artifact: six significant digits, ``n/a`` when absent."""
    if value is None:
        return NA
    if isinstance(value, bool):
        return str(value)
    return f"{value:.6g}"


def pct(value: float | None) -> str:
    """A fraction's percentage with a sign, e.g. ``+3.21%``."""
    if value is None:
        return NA
    return f"{100 * value:+.3g}%"


def seconds(value: float | None) -> str:
    """A duration in seconds, e.g. ``12.3 s``."""
    if value is None:
        return NA
    return f"{value:.0f} s" if abs(value) >= 100 else f"{value:.3g} s"


def score_pm(mean: float | None, std: float | None) -> str:
    """``mean ± std`` with both numbers as ``num`` writes them."""
    if mean is None:
        return NA
    return f"{num(mean)} ± {num(std)}" if std is not None else num(mean)


def inline(value: Any) -> str:
    """Text on one line: newlines and runs of whitespace become single spaces."""
    return " ".join(str(value).split())


def cell(value: Any) -> str:
    """Text safe inside a Markdown table cell: one line, ``|`` escaped."""
    return inline(value).replace("\\", "\\\\").replace("|", "\\|")


def shorten(text: str, limit: int = 80) -> str:
    """One line of at most ``limit`` characters, cut with an ellipsis."""
    flat = inline(text)
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def fenced(text: str, info: str = "text") -> str:
    """A fenced code block longer than any backtick run in ``text``, so the text cannot close it."""
    longest = max((len(m) for m in _BACKTICK_RUN.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text.rstrip()}\n{fence}"


def params_text(params: Mapping[str, Any], limit: int | None = None) -> str:
    """``key=value, ...`` with numbers through ``num``; cut to ``limit`` characters if given."""
    if not params:
        return "defaults"
    parts = [f"{key}={_value(value)}" for key, value in sorted(params.items())]
    text = ", ".join(parts)
    return shorten(text, limit) if limit else text


def _value(value: Any) -> str:
    if isinstance(value, float):
        return num(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def tail_lines(text: str, lines: int = 20) -> str:
    """The last ``lines`` lines of some output."""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def direction_words(direction: str) -> str:
    """``higher is better`` or ``lower is better``."""
    return "higher is better" if direction == "maximize" else "lower is better"


def metric_label(name: str, direction: str) -> str:
    """An axis label such as ``rmse (lower is better)``."""
    return f"{name} ({direction_words(direction)})"


def quote(text: str) -> str:
    """Free text as a Markdown block quote, so its own headings stay inside the quote."""
    return "\n".join(f"> {line}".rstrip() for line in str(text).strip().splitlines())
