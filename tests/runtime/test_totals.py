"""Totals add up a child's counts over its incarnations and never go back."""

from __future__ import annotations

from runtime import ChildContext, FakeClock, Scheduler
from runtime.totals import Totals


def incarnation(n: int) -> ChildContext:
    clock = FakeClock()
    return ChildContext("a", n, lambda _: None, clock, Scheduler(clock))


def test_an_ended_incarnation_is_banked_and_the_next_counts_on_top() -> None:
    totals = Totals()
    assert dict(totals.read()) == {}
    first = incarnation(1)
    totals.follow(first)
    first.count("messages", 3)
    assert dict(totals.read()) == {"messages": 3}
    totals.bank()
    first.count("messages", 50)  # too late: its incarnation has ended
    second = incarnation(2)
    totals.follow(second)
    second.count("events")
    assert dict(totals.read()) == {"messages": 3, "events": 1}
    third = incarnation(3)
    totals.follow(third)  # following a new one banks the last one too
    third.count("messages")
    assert dict(totals.read()) == {"messages": 4, "events": 1}


def test_totals_are_merged_again_only_when_a_count_changed() -> None:
    totals = Totals()
    first, second = incarnation(1), incarnation(2)
    totals.follow(first)
    first.count("messages")
    totals.follow(second)
    read = totals.read()
    assert totals.read() is read
    second.count("messages")
    assert totals.read() is not read
    assert dict(totals.read()) == {"messages": 2}
