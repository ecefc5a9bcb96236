"""Every test leaves nothing running: no actor, no thread it started."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pykka
import pytest


def _wait_until(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.fixture(autouse=True)
def nothing_left_running() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    actors = pykka.ActorRegistry.get_all()
    if actors:
        pykka.ActorRegistry.stop_all(block=True, timeout=10)

    def new_threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t not in before and t.is_alive()]

    _wait_until(lambda: not new_threads(), 15.0)
    leftover = new_threads()
    assert not actors, f"actors left running: {actors}"
    assert not leftover, f"threads left running: {[t.name for t in leftover]}"
