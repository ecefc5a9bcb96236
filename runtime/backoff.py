"""Backoff is the delay before the n-th restart: exponential, capped, with jitter."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Backoff", "backoff_delay"]


@dataclass(frozen=True, slots=True)
class Backoff:
    initial: float = 1.0
    factor: float = 2.0
    max: float = 30.0
    jitter: float = 0.2


def backoff_delay(backoff: Backoff, attempt: int, rand: float) -> float:
    """Seconds to wait before restart `attempt` (1-based); `rand` is uniform in [0, 1).

    `min(max, initial * factor**(attempt-1))`, scaled by a factor in `[1-jitter, 1+jitter)`.
    """
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    base = backoff.initial
    if backoff.factor > 1 and backoff.initial > 0:
        # Compare in log space: factor**(attempt-1) overflows a float long before attempt 2000.
        if (attempt - 1) * math.log(backoff.factor) >= math.log(backoff.max / backoff.initial):
            base = backoff.max
        else:
            base = backoff.initial * backoff.factor ** (attempt - 1)
    base = min(backoff.max, base)
    return max(0.0, base * (1.0 + backoff.jitter * (2.0 * rand - 1.0)))
