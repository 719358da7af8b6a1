"""Estimated cost of a model call from a small per-provider price table.

Prices are US dollars per million tokens (input, output), list prices as published by each
provider for standard (non-batch, short-context) use. They are estimates for the run report,
not a bill; a model not in the table, or one behind an OpenAI-compatible base URL, costs None.
"""

from __future__ import annotations

# provider -> model-id prefix -> (input $/Mtok, output $/Mtok); the longest prefix wins.
PRICES: dict[str, dict[str, tuple[float, float]]] = {
    "google": {
        "gemini-3-pro": (2.00, 12.00),
        "gemini-3-flash": (0.50, 3.00),
        "gemini-2.5-pro": (1.25, 10.00),
        "gemini-2.5-flash": (0.30, 2.50),
        "gemini-2.5-flash-lite": (0.10, 0.40),
        "gemini-2.0-flash": (0.10, 0.40),
    },
    "openai": {
        "gpt-5": (1.25, 10.00),
        "gpt-5-mini": (0.25, 2.00),
        "gpt-5-nano": (0.05, 0.40),
        "gpt-4.1": (2.00, 8.00),
        "gpt-4.1-mini": (0.40, 1.60),
        "gpt-4.1-nano": (0.10, 0.40),
        "gpt-4o": (2.50, 10.00),
        "gpt-4o-mini": (0.15, 0.60),
        "o4-mini": (1.10, 4.40),
    },
    "anthropic": {
        "claude-opus-4-5": (5.00, 25.00),
        "claude-opus-4": (15.00, 75.00),
        "claude-sonnet-4": (3.00, 15.00),
        "claude-haiku-4-5": (1.00, 5.00),
        "claude-3-5-haiku": (0.80, 4.00),
    },
}
PROVIDER_ALIASES = {"google-gla": "google", "google-vertex": "google", "google-cloud": "google"}


def price_of(provider: str, model_name: str) -> tuple[float, float] | None:
    """(input, output) dollars per million tokens, or None when the model is not priced."""
    table = PRICES.get(PROVIDER_ALIASES.get(provider, provider), {})
    matches = [prefix for prefix in table if model_name.startswith(prefix)]
    return table[max(matches, key=len)] if matches else None


def estimate_cost(
    provider: str, model_name: str, input_tokens: int, output_tokens: int
) -> float | None:
    """Dollars for one call, or None when the price is unknown."""
    price = price_of(provider, model_name)
    if price is None:
        return None
    return (input_tokens * price[0] + output_tokens * price[1]) / 1_000_000
