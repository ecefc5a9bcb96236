"""A clock is the one source of time for policy and scheduling, injected so tests can jump it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["Clock", "FakeClock", "MonotonicClock"]


class Clock(Protocol):
    """What the runtime needs of time: a monotonic reading, a wall reading, and real waits."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back; only differences mean anything."""
        ...

    def time(self) -> float:
        """Wall-clock seconds since the epoch, for timestamps shown to people."""
        ...

    def real_timeout(self, seconds: float) -> float | None:
        """How long to block on a condition for `seconds` of this clock (None: until woken)."""
        ...

    def subscribe(self, callback: Callable[[], None]) -> None:
        """Call `callback` whenever this clock jumps (never, for a real clock)."""
        ...


class MonotonicClock:
    """The real clock: `time.monotonic()` and `time.time()`."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def real_timeout(self, seconds: float) -> float | None:
        return max(0.0, seconds)

    def subscribe(self, callback: Callable[[], None]) -> None:
        del callback


class FakeClock:
    """A clock that moves only when a test calls `advance()`; waiters are woken on each jump."""

    def __init__(self, start: float = 1_000.0, wall_epoch: float = 1_800_000_000.0) -> None:
        self._lock = threading.Lock()
        self._now = start
        self._wall_offset = wall_epoch - start
        self._subscribers: list[Callable[[], None]] = []

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def time(self) -> float:
        with self._lock:
            return self._now + self._wall_offset

    def real_timeout(self, seconds: float) -> float | None:
        return 0.0 if seconds <= 0 else None

    def subscribe(self, callback: Callable[[], None]) -> None:
        with self._lock:
            self._subscribers.append(callback)

    def advance(self, seconds: float) -> None:
        """Move time forward by `seconds` and wake everything waiting on this clock."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go back: advance({seconds})")
        with self._lock:
            self._now += seconds
            subscribers = list(self._subscribers)
        for callback in subscribers:
            callback()
