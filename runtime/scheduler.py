"""A scheduler runs callbacks later or periodically, on one thread, by an injected clock.

pykka has no timers; supervisors and actors use this to send themselves delayed messages.
Callbacks run on the scheduler's thread and must be quick (typically `ref.tell(msg)`).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections.abc import Callable

from runtime.clock import Clock

__all__ = ["Scheduler", "Timer"]

logger = logging.getLogger(__name__)


class Timer:
    """A handle on a scheduled callback; `cancel()` is safe from any thread, any number of times."""

    __slots__ = ("_cancelled", "callback", "interval")

    def __init__(self, callback: Callable[[], None], interval: float | None) -> None:
        self.callback = callback
        self.interval = interval
        self._cancelled = False

    def cancel(self) -> None:
        self._cancelled = True

    @property
    def cancelled(self) -> bool:
        return self._cancelled


class Scheduler:
    """A heap of due times served by one daemon thread."""

    def __init__(self, clock: Clock, name: str = "warden-scheduler") -> None:
        self._clock = clock
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        clock.subscribe(self._wake)

    def start(self) -> Scheduler:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            self._heap.clear()
            self._cond.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(callback, None)
        self._push(self._clock.monotonic() + max(0.0, delay), timer)
        return timer

    def call_every(
        self, interval: float, callback: Callable[[], None], first: float | None = None
    ) -> Timer:
        """Run `callback` every `interval` seconds, first after `first` (default: `interval`)."""
        if interval <= 0:
            raise ValueError(f"interval must be positive, got {interval}")
        timer = Timer(callback, interval)
        self._push(self._clock.monotonic() + (interval if first is None else first), timer)
        return timer

    def pending(self) -> int:
        with self._cond:
            return sum(1 for _, _, t in self._heap if not t.cancelled)

    def _push(self, due: float, timer: Timer) -> None:
        with self._cond:
            if self._stopping:
                return
            heapq.heappush(self._heap, (due, next(self._seq), timer))
            self._cond.notify_all()

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stopping:
                        return
                    while self._heap and self._heap[0][2].cancelled:
                        heapq.heappop(self._heap)
                    now = self._clock.monotonic()
                    if self._heap and self._heap[0][0] <= now:
                        due, _, timer = heapq.heappop(self._heap)
                        break
                    timeout = (
                        self._clock.real_timeout(self._heap[0][0] - now) if self._heap else None
                    )
                    self._cond.wait(timeout)
            try:
                timer.callback()
            except Exception:
                logger.exception("scheduled callback %r failed", timer.callback)
            if timer.interval is not None and not timer.cancelled:
                # Next due from the planned time, not from now, so a periodic timer does not drift;
                # if it fell behind by more than one interval it skips the missed runs.
                next_due = due + timer.interval
                now = self._clock.monotonic()
                if next_due <= now:
                    next_due = now + timer.interval
                self._push(next_due, timer)
