"""A wall clock that a test moves by hand, for the simulator's `wall=`."""

from __future__ import annotations

import threading


class FakeWall:
    """Seconds since the epoch that change only by `advance`; safe to read from any thread."""

    def __init__(self, start: float) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
