"""The scheduler runs delayed and periodic callbacks on one thread, by an injected clock."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from runtime import FakeClock, MonotonicClock, Scheduler
from tests.runtime.fakes import WAIT


class Calls:
    """Callbacks that record their names, with a way to wait for a number of calls."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.names: list[str] = []

    def make(self, name: str) -> Callable[[], None]:
        def call() -> None:
            with self._cond:
                self.names.append(name)
                self._cond.notify_all()

        return call

    def wait(self, count: int) -> list[str]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.names) >= count, WAIT), self.names
            return list(self.names)




@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def scheduler(clock: FakeClock) -> Iterator[Scheduler]:
    scheduler = Scheduler(clock).start()
    yield scheduler
    scheduler.stop()


def settle(scheduler: Scheduler, clock: FakeClock) -> None:
    """Wait until the scheduler has run everything already due (a marker timer ran)."""
    done = threading.Event()
    scheduler.call_later(0.0, done.set)
    assert done.wait(WAIT)


def test_a_delayed_call_runs_only_once_its_time_has_come(
    scheduler: Scheduler, clock: FakeClock
) -> None:
    calls = Calls()
    scheduler.call_later(5.0, calls.make("later"))
    clock.advance(4.9)
    settle(scheduler, clock)
    assert calls.names == []
    clock.advance(0.1)
    assert calls.wait(1) == ["later"]


def test_calls_run_in_order_of_due_time_not_of_scheduling(
    scheduler: Scheduler, clock: FakeClock
) -> None:
    calls = Calls()
    scheduler.call_later(3.0, calls.make("c"))
    scheduler.call_later(1.0, calls.make("a"))
    scheduler.call_later(2.0, calls.make("b"))
    clock.advance(10.0)
    assert calls.wait(3) == ["a", "b", "c"]


def test_a_periodic_call_after_a_long_jump_runs_once_and_skips_the_missed_runs(
    scheduler: Scheduler, clock: FakeClock
) -> None:
    calls = Calls()
    scheduler.call_every(1.0, calls.make("tick"))
    clock.advance(10.0)
    calls.wait(1)
    settle(scheduler, clock)
    assert calls.names == ["tick"]
    clock.advance(1.0)
    assert calls.wait(2) == ["tick", "tick"]


def test_a_periodic_call_can_start_at_once(scheduler: Scheduler, clock: FakeClock) -> None:
    calls = Calls()
    scheduler.call_every(60.0, calls.make("now"), first=0.0)
    assert calls.wait(1) == ["now"]


def test_a_cancelled_call_never_runs(scheduler: Scheduler, clock: FakeClock) -> None:
    calls = Calls()
    timer = scheduler.call_later(1.0, calls.make("cancelled"))
    periodic = scheduler.call_every(1.0, calls.make("periodic"))
    timer.cancel()
    timer.cancel()
    assert timer.cancelled
    assert scheduler.pending() == 1
    periodic.cancel()
    clock.advance(5.0)
    settle(scheduler, clock)
    assert calls.names == []
    assert scheduler.pending() == 0


def test_a_failing_callback_is_logged_and_the_scheduler_goes_on(
    scheduler: Scheduler, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    calls = Calls()

    def fail() -> None:
        raise RuntimeError("callback broke")

    scheduler.call_later(1.0, fail)
    scheduler.call_later(2.0, calls.make("after"))
    clock.advance(2.0)
    assert calls.wait(1) == ["after"]
    assert "callback broke" in caplog.text


def test_a_periodic_interval_must_be_positive(scheduler: Scheduler) -> None:
    with pytest.raises(ValueError, match="positive"):
        scheduler.call_every(0.0, lambda: None)


def test_a_stopped_scheduler_runs_nothing_more_and_its_thread_ends(clock: FakeClock) -> None:
    scheduler = Scheduler(clock, name="test-scheduler").start()
    calls = Calls()
    scheduler.call_later(1.0, calls.make("never"))
    scheduler.stop()
    scheduler.call_later(0.0, calls.make("after stop"))
    clock.advance(2.0)
    assert scheduler.pending() == 0
    assert not any(t.name == "test-scheduler" for t in threading.enumerate())
    assert calls.names == []


def test_on_the_real_clock_a_short_delay_fires_by_itself() -> None:
    scheduler = Scheduler(MonotonicClock()).start()
    try:
        fired = threading.Event()
        scheduler.call_later(0.01, fired.set)
        assert fired.wait(WAIT)
    finally:
        scheduler.stop()


def test_scheduling_from_inside_a_callback_works(scheduler: Scheduler, clock: FakeClock) -> None:
    calls = Calls()

    def first() -> None:
        calls.make("first")()
        scheduler.call_later(0.0, calls.make("chained"))

    scheduler.call_later(1.0, first)
    clock.advance(1.0)
    assert calls.wait(2) == ["first", "chained"]
