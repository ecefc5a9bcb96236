"""Backoff is the delay before the n-th restart: exponential, capped, with jitter."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Backoff", "backoff_delay"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays in seconds: the first, the growth factor, the cap, and the ± jitter fraction."""

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
    if backoff.initial <= 0 or backoff.max <= 0:
        return 0.0
    try:
        grown = backoff.initial * backoff.factor ** (attempt - 1)
    except OverflowError:  # factor**(attempt-1) leaves the float range long before attempt 2000
        grown = math.inf
    base = min(backoff.max, grown)
    return max(0.0, base * (1.0 + backoff.jitter * (2.0 * rand - 1.0)))
