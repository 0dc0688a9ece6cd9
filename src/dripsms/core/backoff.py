"""One backoff for every place that retries: handoffs, dispatcher passes, notify webhooks."""

from __future__ import annotations


def backoff(attempt: int, *, base: float, cap: float, jitter: float) -> float:
    """Seconds to wait after the ``attempt``-th failure in a row (1-based).

    ``base`` doubling per failure, at most ``cap``, scaled by ``0.5 + jitter / 2`` so that
    retries spread out; ``jitter`` in [0, 1) comes from the caller's random source.
    """
    exponent = min(max(attempt - 1, 0), 32)
    return min(cap, base * 2.0**exponent) * (0.5 + jitter / 2)
