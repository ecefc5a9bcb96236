"""Waiting in tests: poll a predicate until it holds or a real-time deadline passes.

Tests never sleep to wait for a consequence; they call `wait_until` with the condition
they expect, so a passing test waits only as long as the consequence takes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

WAIT = 10.0  # real seconds to wait for a consequence; only a failing test waits this long


def wait_until(predicate: Callable[[], object], timeout: float = WAIT,
               step: float = 0.01) -> bool:
    """Poll `predicate` every `step` seconds until it is true or `timeout` real seconds pass."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True
