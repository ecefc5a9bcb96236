"""Every test leaves nothing running: no actor, no thread it started."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pykka
import pytest

from tests.helpers import wait_until


@pytest.fixture(autouse=True)
def nothing_left_running() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    actors = pykka.ActorRegistry.get_all()
    if actors:
        pykka.ActorRegistry.stop_all(block=True, timeout=10)

    def new_threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t not in before and t.is_alive()]

    wait_until(lambda: not new_threads(), 15.0)
    leftover = new_threads()
    assert not actors, f"actors left running: {actors}"
    assert not leftover, f"threads left running: {[t.name for t in leftover]}"
