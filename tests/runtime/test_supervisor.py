"""A supervisor starts children in order, stops them in reverse, and restarts them by strategy."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import pykka
import pytest

from runtime import ChildContext, ChildState, EventName, FaultNote, Reason, Restart, Strategy
from tests.runtime.fakes import WAIT, Crash, Exit, Harness, budget

S = ChildState


def restart_after_backoff(harness: Harness, child_id: str, delay: float) -> None:
    """Wait for `child_id` to wait out its backoff, jump the clock past it, see it start again."""
    before = harness.probe.incarnations(child_id)
    harness.wait_state(child_id, S.BACKOFF)
    harness.clock.advance(delay)
    harness.probe.wait_started(child_id, before + 1)


def test_children_start_in_order_and_stop_in_reverse(harness: Harness) -> None:
    probe = harness.probe
    runtime = harness.start(harness.spec(probe.spec("a"), probe.spec("b"), probe.spec("c")))
    for child in "abc":
        harness.wait_state(child, S.HEALTHY)
    assert probe.starts() == [("a", 1), ("b", 1), ("c", 1)]
    assert runtime.stop(timeout=WAIT) == 0
    assert probe.stops() == [("c", 1), ("b", 1), ("a", 1)]
    assert [s.state for s in harness.board.children("sup")] == [S.STOPPED] * 3


def test_stopping_the_tree_reports_each_child_that_was_up_as_stopped(harness: Harness) -> None:
    probe = harness.probe
    runtime = harness.start(harness.spec(probe.spec("a"), probe.spec("b"), probe.spec("c")))
    harness.wait_state("c", S.HEALTHY)
    runtime.stop_child("b")
    harness.wait_state("b", S.STOPPED)
    assert harness.events.count("b", EventName.CHILD_STOPPED) == 1
    runtime.stop(timeout=WAIT)
    stopped = [e.child for e in harness.events.events if e.name == EventName.CHILD_STOPPED]
    assert stopped == ["b", "c", "a"]  # b once, on request; then the others in reverse order


def test_a_one_for_one_supervisor_waits_for_each_child_to_stop_before_the_one_before_it(
    harness: Harness,
) -> None:
    """Stopping in reverse means sequentially: `a` is asked only once `b` has finished stopping."""
    probe = harness.probe
    b_may_finish = threading.Event()
    order: list[str] = []

    def on_stop(child_id: str) -> None:
        if child_id == "b":
            b_may_finish.wait(0.5)  # set by `a` only if it is (wrongly) stopped meanwhile
        else:
            b_may_finish.set()
        order.append(child_id)

    probe.behaviour("a").stop_hook = on_stop
    probe.behaviour("b").stop_hook = on_stop
    runtime = harness.start(harness.spec(probe.spec("a"), probe.spec("b")))
    harness.wait_state("b", S.HEALTHY)
    runtime.stop(timeout=WAIT)
    assert order == ["b", "a"]


def test_a_parallel_stop_supervisor_stops_its_children_side_by_side(harness: Harness) -> None:
    probe = harness.probe
    both_stopping = threading.Barrier(2, timeout=WAIT)
    probe.behaviour("a").stop_hook = lambda _: both_stopping.wait()
    probe.behaviour("b").stop_hook = lambda _: both_stopping.wait()
    runtime = harness.start(harness.spec(probe.spec("a"), probe.spec("b"), parallel_stop=True))
    harness.wait_state("b", S.HEALTHY)
    runtime.stop(timeout=WAIT)
    assert sorted(probe.stops()) == [("a", 1), ("b", 1)]
    assert not both_stopping.broken


def test_a_parallel_stop_ends_the_children_that_depend_on_a_sibling_before_it(
        harness: Harness) -> None:
    probe = harness.probe
    order: list[str] = []
    for child in ("driver", "s1", "s2", "other"):
        probe.behaviour(child).stop_hook = order.append
    runtime = harness.start(harness.spec(
        probe.spec("driver"), probe.spec("s1", depends_on="driver"),
        probe.spec("s2", depends_on="driver"), probe.spec("other"), parallel_stop=True))
    harness.wait_state("other", S.HEALTHY)
    runtime.stop(timeout=WAIT)
    assert order[-1] == "driver" and sorted(order[:-1]) == ["other", "s1", "s2"]


def test_a_child_that_dies_restarts_the_siblings_that_depend_on_it_and_no_other(
        harness: Harness) -> None:
    probe = harness.probe
    harness.start(harness.spec(
        probe.spec("driver"), probe.spec("s1", depends_on="driver"),
        probe.spec("s2", depends_on="driver"), probe.spec("other")))
    harness.wait_state("other", S.HEALTHY)
    probe.ref("driver").tell(Crash())
    restart_after_backoff(harness, "driver", 1.0)
    for child in ("driver", "s1", "s2"):
        harness.wait_state(child, S.HEALTHY)
        assert probe.incarnations(child) == 2
    assert probe.incarnations("other") == 1
    assert [s.restarts for s in map(harness.status, ("driver", "s1", "s2"))] == [1, 0, 0]
    for dependent in ("s1", "s2"):
        (scheduled,) = [e for e in harness.events.of(dependent)
                        if e.name is EventName.RESTART_SCHEDULED]
        assert (scheduled.reason, scheduled.attempt) == (Reason.CRASH, 0)
        assert "driver" in scheduled.detail
    probe.ref("s1").tell(Crash())  # a dependent's own fault touches only itself
    restart_after_backoff(harness, "s1", 1.0)
    harness.wait_state("s1", S.HEALTHY)
    assert (probe.incarnations("driver"), probe.incarnations("s2")) == (2, 2)


def test_events_carry_the_kind_of_their_child(harness: Harness) -> None:
    probe = harness.probe
    harness.start(harness.spec(probe.spec("a", kind="session"), probe.spec("b")))
    harness.wait_state("b", S.HEALTHY)
    assert {e.kind for e in harness.events.of("a")} == {"session"}
    assert {e.kind for e in harness.events.of("b")} == {""}


def test_a_child_must_depend_on_an_earlier_sibling(harness: Harness) -> None:
    probe = harness.probe
    with pytest.raises(ValueError, match="not an earlier child"):
        harness.spec(probe.spec("s1", depends_on="driver"), probe.spec("driver"))


def test_a_crash_in_receive_restarts_the_child_with_reason_crash(harness: Harness) -> None:
    probe = harness.probe
    harness.start(harness.spec(probe.spec("a")))
    harness.wait_state("a", S.HEALTHY)
    probe.ref("a").tell(Crash())
    restart_after_backoff(harness, "a", 1.0)
    harness.wait_state("a", S.HEALTHY)
    status = harness.status("a")
    assert (status.restarts, status.restarts_total) == (1, 1)
    assert status.last_restart_reason is Reason.CRASH
    scheduled = harness.events.of("a")[3]
    assert scheduled.name is EventName.RESTART_SCHEDULED
    assert "boom in receive" in scheduled.detail


def test_a_restart_cycle_emits_its_events_in_order(harness: Harness) -> None:
    probe = harness.probe
    harness.start(harness.spec(probe.spec("a")))
    harness.wait_state("a", S.HEALTHY)
    probe.ref("a").tell(Crash())
    restart_after_backoff(harness, "a", 1.0)
    harness.events.wait("a", EventName.CHILD_RECOVERED)
    assert harness.events.names("a") == [
        EventName.CHILD_STARTED,
        EventName.CHILD_HEALTHY,
        EventName.CHILD_EXITED,
        EventName.RESTART_SCHEDULED,
        EventName.CHILD_STARTED,
        EventName.CHILD_RESTARTED,
        EventName.CHILD_RECOVERED,
    ]
    restarted, recovered = harness.events.of("a")[5:]
    assert restarted.reason is Reason.CRASH
    assert recovered.reason is Reason.CRASH
    assert recovered.recovery_seconds == pytest.approx(1.0)


def test_an_exception_in_started_is_a_crash(harness: Harness) -> None:
    probe = harness.probe
    probe.behaviour("a").fail_start = True
    harness.start(harness.spec(probe.spec("a")))
    harness.wait_state("a", S.BACKOFF)
    probe.behaviour("a").fail_start = False
    restart_after_backoff(harness, "a", 1.0)
    harness.wait_state("a", S.HEALTHY)
    exited = harness.events.of("a")[1]
    assert exited.name is EventName.CHILD_EXITED
    assert "boom in started" in exited.detail
    assert harness.status("a").last_restart_reason is Reason.CRASH


def test_a_child_that_calls_sys_exit_in_receive_crashes_alone(harness: Harness) -> None:
    """pykka stops every actor in the process on a BaseException; a child must not do that."""
    probe = harness.probe
    runtime = harness.start(harness.spec(probe.spec("a"), probe.spec("b")))
    harness.wait_state("b", S.HEALTHY)
    probe.ref("a").tell(Exit())
    harness.wait_state("a", S.BACKOFF)
    assert "SystemExit: 3" in harness.events.of("a")[2].detail
    harness.clock.advance(1.0)
    harness.events.wait("a", EventName.CHILD_RECOVERED)
    assert runtime.running
    assert harness.status("b").state is S.HEALTHY
    assert probe.incarnations("b") == 1


def test_a_child_that_calls_sys_exit_in_started_crashes_alone(harness: Harness) -> None:
    probe = harness.probe
    probe.behaviour("a").exit_start = True
    runtime = harness.start(harness.spec(probe.spec("b"), probe.spec("a")))
    harness.wait_state("a", S.BACKOFF)
    assert "SystemExit: 4" in harness.events.of("a")[1].detail
    probe.behaviour("a").exit_start = False
    harness.clock.advance(1.0)
    harness.events.wait("a", EventName.CHILD_RECOVERED)
    assert runtime.running
    assert harness.status("b").state is S.HEALTHY


def test_a_start_function_that_raises_is_a_crash(harness: Harness) -> None:
    attempts: list[int] = []

    def start(ctx: ChildContext) -> pykka.ActorRef[Any]:
        attempts.append(1)
        raise OSError("cannot start")

    spec = harness.probe.spec("a")
    harness.start(harness.spec(replace(spec, start=start)))
    harness.wait_state("a", S.BACKOFF)
    assert "cannot start" in harness.events.of("a")[1].detail
    harness.clock.advance(1.0)
    harness.events.wait("a", EventName.RESTART_SCHEDULED, count=2)
    assert len(attempts) == 2


@pytest.mark.parametrize(
    ("restart", "how", "expected"),
    [
        (Restart.PERMANENT, "stop", S.BACKOFF),
        (Restart.PERMANENT, "crash", S.BACKOFF),
        (Restart.TRANSIENT, "stop", S.STOPPED),
        (Restart.TRANSIENT, "crash", S.BACKOFF),
        (Restart.TEMPORARY, "stop", S.STOPPED),
        (Restart.TEMPORARY, "crash", S.FAILED),
    ],
)
def test_restart_types_follow_otp(
    harness: Harness, restart: Restart, how: str, expected: ChildState
) -> None:
    probe = harness.probe
    harness.start(harness.spec(probe.spec("a", restart=restart), probe.spec("b")))
    harness.wait_state("a", S.HEALTHY)
    harness.wait_state("b", S.HEALTHY)
    if how == "stop":
        probe.ref("a").stop()  # a plain stop from outside the supervisor
    else:
        probe.ref("a").tell(Crash())
    harness.wait_state("a", expected)
    harness.events.wait("a", EventName.CHILD_EXITED)
    if expected is S.BACKOFF:
        restart_after_backoff(harness, "a", 1.0)
        harness.wait_state("a", S.HEALTHY)
        assert harness.status("a").last_restart_reason is Reason.CRASH
    else:
        harness.clock.advance(60.0)
        harness.wait_tick("a")
        assert harness.status("a").state is expected
        assert probe.incarnations("a") == 1
        assert EventName.RESTART_SCHEDULED not in harness.events.names("a")
    assert harness.status("b").state is S.HEALTHY
    assert probe.incarnations("b") == 1


@pytest.mark.parametrize(
    ("strategy", "crashing", "restarted"),
    [
        (Strategy.ONE_FOR_ONE, "b", ["b"]),
        (Strategy.REST_FOR_ONE, "b", ["b", "c"]),
        (Strategy.REST_FOR_ONE, "c", ["c"]),
        (Strategy.ONE_FOR_ALL, "b", ["a", "b", "c"]),
    ],
)
def test_strategies_restart_the_right_siblings_in_order(
    harness: Harness, strategy: Strategy, crashing: str, restarted: list[str]
) -> None:
    probe = harness.probe
    harness.start(harness.spec(probe.spec("a"), probe.spec("b"), probe.spec("c"),
                               strategy=strategy))
    for child in "abc":
        harness.wait_state(child, S.HEALTHY)
    probe.ref(crashing).tell(Crash())
    for child in restarted:
        harness.wait_state(child, S.BACKOFF)
    harness.clock.advance(1.0)
    for child in restarted:
        probe.wait_started(child, 2)
        harness.wait_state(child, S.HEALTHY)
    assert [(c, 2) for c in restarted] == probe.starts()[3:]
    # Siblings were stopped by the supervisor in reverse order; the crashed one ended by itself.
    assert probe.stops() == [(c, 1) for c in [crashing, *reversed(
        [r for r in restarted if r != crashing])]]
    for child in "abc":
        assert probe.incarnations(child) == (2 if child in restarted else 1)


def test_rest_for_one_never_starts_a_child_before_an_earlier_one_still_waiting(
    harness: Harness,
) -> None:
    """`b` and `c` depend on `a`: when `a` fails during their backoff, they wait for it."""
    probe = harness.probe
    harness.start(harness.spec(probe.spec("a", budget=budget(initial=5.0)), probe.spec("b"),
                               probe.spec("c"), strategy=Strategy.REST_FOR_ONE))
    for child in "abc":
        harness.wait_state(child, S.HEALTHY)
    probe.ref("b").tell(Crash())
    harness.wait_state("c", S.BACKOFF)
    probe.ref("a").tell(Crash())
    harness.wait_state("a", S.BACKOFF)
    harness.clock.advance(1.0)  # b and c are due, but a is not
    harness.clock.advance(4.0)  # a is due
    for child in "abc":
        probe.wait_started(child, 2)
        harness.wait_state(child, S.HEALTHY)
    assert probe.starts()[3:] == [("a", 2), ("b", 2), ("c", 2)]


def test_backoff_delays_grow_and_a_child_stays_down_until_its_delay_has_passed(
    harness: Harness,
) -> None:
    probe = harness.probe
    harness.start(harness.spec(probe.spec("a", budget=budget(5, initial=1.0, factor=3.0))))
    harness.wait_state("a", S.HEALTHY)
    for attempt, delay in enumerate([1.0, 3.0, 9.0], start=1):
        probe.ref("a").tell(Crash())
        harness.wait_state("a", S.BACKOFF)
        scheduled = harness.events.wait("a", EventName.RESTART_SCHEDULED, count=attempt)
        assert (scheduled.attempt, scheduled.delay) == (attempt, delay)
        harness.clock.advance(delay * 0.99)
        harness.wait_tick("a")
        assert probe.incarnations("a") == attempt  # not yet
        harness.clock.advance(delay * 0.01)
        probe.wait_started("a", attempt + 1)
        harness.wait_state("a", S.HEALTHY)


def test_jittered_delays_stay_within_their_bounds(harness: Harness) -> None:
    probe = harness.probe
    harness.start(harness.spec(probe.spec("a", budget=budget(10, initial=2.0, jitter=0.5))),
                  seed=1234)
    harness.wait_state("a", S.HEALTHY)
    delays = []
    for attempt in range(1, 6):
        probe.ref("a").tell(Crash())
        event = harness.events.wait("a", EventName.RESTART_SCHEDULED, count=attempt)
        assert event.delay is not None
        delays.append(event.delay)
        restart_after_backoff(harness, "a", 60.0)
        harness.wait_state("a", S.HEALTHY)
    bases = [min(30.0, 2.0 * 2 ** n) for n in range(5)]
    for delay, base in zip(delays, bases, strict=True):
        assert base * 0.5 <= delay <= base * 1.5
    assert [round(d / b, 6) for d, b in zip(delays, bases, strict=True)] != [1.0] * 5


def test_a_flapping_child_exhausts_its_budget_and_is_given_up_alone(harness: Harness) -> None:
    probe = harness.probe
    harness.start(harness.spec(probe.spec("a"), probe.spec("flap"), probe.spec("c")))
    harness.wait_state("flap", S.HEALTHY)
    for delay in (1.0, 2.0, 4.0):
        probe.ref("flap").tell(Crash())
        restart_after_backoff(harness, "flap", delay)
        harness.wait_state("flap", S.HEALTHY)
    probe.ref("flap").tell(Crash())
    harness.wait_state("flap", S.FAILED)
    exhausted = harness.events.wait("flap", EventName.REACHED_MAX_RESTARTS)
    assert exhausted.reason is Reason.CRASH
    status = harness.status("flap")
    assert (status.restarts, status.restarts_total) == (3, 3)
    harness.clock.advance(100.0)
    harness.wait_tick("flap")
    assert harness.status("flap").state is S.FAILED
    assert probe.incarnations("flap") == 4
    for sibling in "ac":
        assert harness.status(sibling).state is S.HEALTHY
        assert probe.incarnations(sibling) == 1


def test_restarts_outside_the_window_no_longer_count(harness: Harness) -> None:
    probe = harness.probe
    harness.start(harness.spec(probe.spec("a", budget=budget(2, window=60.0, reset_after=1e6))))
    harness.wait_state("a", S.HEALTHY)
    for delay in (1.0, 2.0):
        probe.ref("a").tell(Crash())
        restart_after_backoff(harness, "a", delay)
        harness.wait_state("a", S.HEALTHY)
    assert harness.status("a").restarts == 2
    harness.clock.advance(60.0)
    harness.wait_status("a", lambda s: s.restarts == 0, "the window to expire")
    probe.ref("a").tell(Crash())
    scheduled = harness.events.wait("a", EventName.RESTART_SCHEDULED, count=3)
    assert (scheduled.attempt, scheduled.delay) == (1, 1.0)


def test_being_healthy_for_reset_after_gives_a_fresh_budget(harness: Harness) -> None:
    probe = harness.probe
    harness.start(harness.spec(probe.spec("a", budget=budget(2, window=1e6, reset_after=30.0))))
    harness.wait_state("a", S.HEALTHY)
    for delay in (1.0, 2.0):
        probe.ref("a").tell(Crash())
        restart_after_backoff(harness, "a", delay)
        harness.wait_state("a", S.HEALTHY)
    harness.clock.advance(29.0)
    harness.wait_tick("a")
    assert harness.status("a").restarts == 2
    harness.clock.advance(1.0)
    harness.wait_status("a", lambda s: s.restarts == 0, "reset_after to clear the count")
    probe.ref("a").tell(Crash())
    scheduled = harness.events.wait("a", EventName.RESTART_SCHEDULED, count=3)
    assert (scheduled.attempt, scheduled.delay) == (1, 1.0)
    restart_after_backoff(harness, "a", 1.0)
    harness.wait_state("a", S.HEALTHY)


def test_a_supervisor_spec_refuses_duplicate_child_ids(harness: Harness) -> None:
    with pytest.raises(ValueError, match="duplicate child ids"):
        harness.spec(harness.probe.spec("a"), harness.probe.spec("a"))


def test_a_childs_counts_survive_its_restarts_in_its_totals(harness: Harness) -> None:
    probe = harness.probe
    harness.start(harness.spec(probe.spec("a")))
    harness.wait_state("a", S.HEALTHY)
    probe.ctx("a").count("events", 3)
    probe.ref("a").tell(Crash())  # the one message the first incarnation handles
    restart_after_backoff(harness, "a", 1.0)
    probe.ctx("a").count("events", 2)
    harness.clock.advance(0.5)  # a tick publishes the new count
    harness.wait_status("a", lambda s: s.totals.get("events") == 5, "events over both")
    status = harness.status("a")
    assert (status.messages, status.totals["messages"]) == (1, 1)


def test_the_fault_hook_hears_each_restart_before_the_child_is_stopped(harness: Harness) -> None:
    probe = harness.probe
    heard: list[tuple[str, str, Reason, int]] = []

    def on_fault(note: FaultNote) -> None:  # the reaper's thread, the child still running
        heard.append((note.child_id, note.fault_id, note.reason, len(probe.stops())))

    harness.start(harness.spec(
        probe.spec("driver", on_fault=on_fault),
        probe.spec("s1", depends_on="driver", on_fault=on_fault), probe.spec("other")))
    harness.wait_state("other", S.HEALTHY)
    probe.ref("driver").tell(Crash())
    restart_after_backoff(harness, "driver", 1.0)
    harness.wait_state("s1", S.HEALTHY)
    assert sorted((child, reason) for child, _, reason, _ in heard) == [
        ("driver", Reason.CRASH), ("s1", Reason.CRASH)]
    scheduled = {e.child: e.fault_id for e in harness.events.events
                 if e.name is EventName.RESTART_SCHEDULED}
    assert {child: fault for child, fault, _, _ in heard} == scheduled
    assert len(set(scheduled.values())) == 2
    s1_heard = next(h for h in heard if h[0] == "s1")
    assert ("s1", 1) not in probe.stops()[:s1_heard[3]]  # heard before s1's stop
