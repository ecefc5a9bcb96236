"""A rate-limited log writes the first message of a kind, then at most one per period, each
saying how many like it it held back.

A flood (accept failures when file descriptors run out, thousands of wrong tokens a second)
then costs a line a minute instead of filling the disk: one server out of descriptors had
asyncio write 4,345 identical accept tracebacks (1.8 MB) in 5 s here.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from runtime.clock import Clock, MonotonicClock

__all__ = ["RateLimitedLog"]


class RateLimitedLog:
    """`log(key, ...)` writes when nothing with `key` was written in the last `every` seconds.

    Keys name a kind of message (not each occurrence); at most `max_keys` are remembered, the
    oldest forgotten first, so a flood of distinct keys cannot grow memory. Any thread.
    """

    def __init__(self, logger: logging.Logger, every: float = 60.0, *,
                 clock: Clock | None = None, max_keys: int = 1024) -> None:
        self.logger = logger
        self.every = every
        self._clock = clock or MonotonicClock()
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._kinds: dict[str, tuple[float, int]] = {}  # key -> (last written at, held back)

    def log(self, level: int, key: str, message: str, *args: object,
            exc_info: Any = None) -> bool:
        """Write `message % args` at `level` unless `key` was written within `every` seconds;
        whether it was written. A written line counts the ones held back since the last."""
        now = self._clock.monotonic()
        with self._lock:
            last = self._kinds.pop(key, None)
            if last is not None and now - last[0] < self.every:
                self._kinds[key] = (last[0], last[1] + 1)
                return False
            held = 0 if last is None else last[1]
            self._kinds[key] = (now, 0)
            while len(self._kinds) > self._max_keys:
                del self._kinds[next(iter(self._kinds))]
        if held:
            message += f" ({held} more like this in the last {self.every:g}s not logged)"
        self.logger.log(level, message, *args, exc_info=exc_info)
        return True

    def held_back(self, key: str) -> int:
        """How many messages with `key` are held back since the last one written."""
        with self._lock:
            kind = self._kinds.get(key)
        return 0 if kind is None else kind[1]
