"""Hangups run a reload on a thread of their own: one per burst, none lost, none after stop."""

from __future__ import annotations

import threading

from tests.helpers import WAIT, wait_until
from warden.hangup import Hangups
from warden.reload import ReloadRefused


class Reloads:
    """Counts reloads; the first waits until released."""

    def __init__(self) -> None:
        self.count = 0
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self) -> None:
        self.count += 1
        self.entered.set()
        assert self.release.wait(WAIT)


def test_hangups_during_a_reload_make_exactly_one_more() -> None:
    reloads = Reloads()
    hangups = Hangups(reloads)
    hangups.request()  # before the start: applied once it starts
    hangups.start()
    assert reloads.entered.wait(WAIT)
    for _ in range(5):
        hangups.request()
    reloads.release.set()
    assert wait_until(lambda: reloads.count == 2)
    hangups.stop()
    assert reloads.count == 2


def test_a_refused_or_failing_reload_does_not_end_the_thread() -> None:
    calls: list[str] = []

    def reload() -> None:
        calls.append("reload")
        if len(calls) == 1:
            raise ReloadRefused("invalid", ["f:1: x: bad"])
        if len(calls) == 2:
            raise RuntimeError("a bug")

    hangups = Hangups(reload).start()
    for expected in (1, 2, 3):
        hangups.request()
        assert wait_until(lambda n=expected: len(calls) == n)  # type: ignore[misc]
    hangups.stop()


def test_after_stop_a_hangup_does_nothing() -> None:
    reloads = Reloads()
    hangups = Hangups(reloads).start()
    hangups.stop()
    hangups.request()
    assert reloads.count == 0


def test_a_hangup_asked_for_before_stop_is_answered_before_the_thread_ends() -> None:
    reloads = Reloads()
    reloads.release.set()
    hangups = Hangups(reloads)
    hangups.request()
    hangups.start()
    hangups.stop()
    assert reloads.count == 1
