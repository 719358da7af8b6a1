"""Which failed model calls are worth another attempt, and how long to wait before it.

Rate limits (429), server errors (5xx), timeouts, dropped connections and unreadable (non-JSON)
responses are transient: retried with exponential backoff (with jitter, honouring a provider's
``Retry-After`` up to the cap). A rejected request (400, 401, 404, exhausted quota, ...) would
fail the same way again, and a model that keeps answering outside its schema has already had its
own repair rounds inside the call: neither is retried.
"""

from __future__ import annotations

import json
import random

from pydantic_ai.exceptions import (
    ModelAPIError,
    ModelConnectionError,
    ModelHTTPError,
    ModelQuotaExceededError,
    ModelRateLimitError,
    ModelRequestRejectedError,
    ModelRequestTimeout,
    ModelServerError,
    ModelUnavailableError,
)

TRANSIENT_STATUS = frozenset({408, 409, 425, 429})
UNREADABLE_MESSAGES = ("Failed to decode response", "Expected a JSON response")
TRANSIENT_TYPES = (
    ModelRateLimitError,
    ModelServerError,
    ModelUnavailableError,
    ModelConnectionError,
    ModelRequestTimeout,
)


def is_transient(exc: BaseException) -> bool:
    """True when the same request may well succeed if sent again a little later."""
    if isinstance(exc, ModelQuotaExceededError | ModelRequestRejectedError):
        return False
    if isinstance(exc, TRANSIENT_TYPES):
        return True
    if isinstance(exc, ModelHTTPError):
        return exc.status_code in TRANSIENT_STATUS or exc.status_code >= 500
    if isinstance(exc, ModelAPIError):
        return is_unreadable_response(exc)
    return isinstance(exc, TimeoutError | ConnectionError)


def is_unreadable_response(exc: ModelAPIError) -> bool:
    """A 200 answer whose body was not JSON (a gateway hiccup): worth one more try."""
    if isinstance(exc.__cause__, json.JSONDecodeError | UnicodeDecodeError):
        return True
    return str(exc).startswith(UNREADABLE_MESSAGES)


def backoff_delay(
    attempt: int,
    base: float,
    cap: float,
    exc: BaseException | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based).

    ``base * 2**(attempt-1)`` with up to 25% jitter, at least the provider's ``retry_after``,
    and never more than ``cap``.
    """
    jitter = (rng or random).uniform(0.0, 0.25)
    delay = base * 2 ** max(attempt - 1, 0) * (1.0 + jitter)
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int | float) and retry_after > 0:
        delay = max(delay, float(retry_after))
    return max(0.0, min(delay, cap))
