"""A failure throttle makes each client address wait longer the more often it fails in a row.

The policy only: `failed(address)` records a failure and says how long to hold back its
answer; `succeeded(address)` forgets the address. The first `free` failures cost nothing, then
each waits `initial` seconds doubling up to `max_delay`; an address quiet for `window` starts
afresh. At most `max_addresses` are remembered (the least recent forgotten first), so a flood
from many addresses cannot grow memory.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from runtime.clock import Clock, MonotonicClock

__all__ = ["FailureThrottle"]


@dataclass(slots=True)
class _Record:
    failures: int
    last: float


class FailureThrottle:
    """Any thread; the clock is injected so tests jump the window."""

    def __init__(self, *, free: int = 5, initial: float = 0.5, max_delay: float = 8.0,
                 window: float = 600.0, max_addresses: int = 4096,
                 clock: Clock | None = None) -> None:
        self.free = free
        self.initial = initial
        self.max_delay = max_delay
        self.window = window
        self.max_addresses = max_addresses
        self._clock = clock or MonotonicClock()
        self._lock = threading.Lock()
        self._records: dict[str, _Record] = {}

    def failed(self, address: str) -> float:
        """Record a failure from `address`; the seconds its answer should wait."""
        now = self._clock.monotonic()
        with self._lock:
            record = self._records.pop(address, None)
            if record is None or now - record.last >= self.window:
                record = _Record(0, now)
            record.failures += 1
            record.last = now
            self._records[address] = record  # most recent last: the first is forgotten first
            while len(self._records) > self.max_addresses:
                del self._records[next(iter(self._records))]
            over = record.failures - self.free
        if over <= 0:
            return 0.0
        return min(self.max_delay, self.initial * 2.0 ** min(over - 1, 32))

    def succeeded(self, address: str) -> None:
        """`address` proved it knows the secret: its failures are forgotten."""
        with self._lock:
            self._records.pop(address, None)

    def failures(self, address: str) -> int:
        """Failures from `address` in its current run (0 once the window has passed)."""
        now = self._clock.monotonic()
        with self._lock:
            record = self._records.get(address)
        return 0 if record is None or now - record.last >= self.window else record.failures
