"""wait_until answers True as soon as its predicate holds and False once its deadline passes."""

from __future__ import annotations

import threading

from tests.helpers import wait_until


def test_it_answers_true_once_the_predicate_holds() -> None:
    calls = []

    def third_call() -> bool:
        calls.append(None)
        return len(calls) >= 3

    assert wait_until(third_call, timeout=10.0, step=0.001)
    assert len(calls) == 3


def test_it_sees_a_change_made_by_another_thread() -> None:
    flag = threading.Event()
    timer = threading.Timer(0.05, flag.set)
    timer.start()
    try:
        assert wait_until(flag.is_set, timeout=10.0)
    finally:
        timer.join()


def test_it_answers_false_when_the_predicate_never_holds() -> None:
    calls = []

    def never() -> bool:
        calls.append(None)
        return False

    assert not wait_until(never, timeout=0.05, step=0.01)
    assert len(calls) >= 2  # it polled more than once before giving up
