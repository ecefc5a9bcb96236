"""Manual control: restart, stop and start by child id, at any moment, with a fresh budget."""

from __future__ import annotations

import threading

from runtime import ChildState, EventName, Reason
from tests.runtime.fakes import WAIT, Crash, Harness, budget

S = ChildState


def crash_and_wait_backoff(harness: Harness, child_id: str) -> None:
    harness.probe.ref(child_id).tell(Crash())
    harness.wait_state(child_id, S.BACKOFF)


def test_a_manual_restart_replaces_a_healthy_child_with_reason_manual(harness: Harness) -> None:
    probe = harness.probe
    runtime = harness.start(harness.spec(probe.spec("a")))
    harness.wait_state("a", S.HEALTHY)
    assert runtime.restart("a")
    harness.events.wait("a", EventName.CHILD_RECOVERED)
    assert probe.incarnations("a") == 2
    assert harness.events.names("a")[2:] == [
        EventName.RESTART_SCHEDULED, EventName.CHILD_STARTED, EventName.CHILD_RESTARTED,
        EventName.CHILD_RECOVERED,
    ]
    scheduled = harness.events.of("a")[2]
    assert (scheduled.reason, scheduled.attempt, scheduled.delay) == (Reason.MANUAL, 0, 0.0)
    status = harness.status("a")
    assert (status.last_restart_reason, status.restarts, status.restarts_total) == (
        Reason.MANUAL, 0, 1)


def test_a_manual_restart_during_backoff_cuts_it_short_with_a_fresh_budget(
    harness: Harness,
) -> None:
    probe = harness.probe
    runtime = harness.start(harness.spec(probe.spec("a", budget=budget(initial=1000.0))))
    harness.wait_state("a", S.HEALTHY)
    crash_and_wait_backoff(harness, "a")
    assert harness.status("a").restarts == 1
    assert runtime.restart("a")
    probe.wait_started("a", 2)
    harness.wait_state("a", S.HEALTHY)
    assert harness.status("a").restarts == 0
    crash_and_wait_backoff(harness, "a")  # the budget starts again from the first attempt
    assert harness.events.of("a")[-1].name is EventName.RESTART_SCHEDULED
    assert harness.events.wait("a", EventName.RESTART_SCHEDULED, count=3).attempt == 1
    harness.clock.advance(1000.0)  # the cancelled backoff timer must not start a third one
    probe.wait_started("a", 3)
    harness.wait_state("a", S.HEALTHY)
    harness.clock.advance(1000.0)
    harness.wait_tick("a")
    assert probe.incarnations("a") == 3


def test_a_manual_stop_during_backoff_keeps_the_child_stopped(harness: Harness) -> None:
    probe = harness.probe
    runtime = harness.start(harness.spec(probe.spec("a"), probe.spec("b")))
    harness.wait_state("a", S.HEALTHY)
    crash_and_wait_backoff(harness, "a")
    assert runtime.stop_child("a")
    harness.wait_state("a", S.STOPPED)
    harness.clock.advance(60.0)
    harness.wait_tick("a")
    assert harness.status("a").state is S.STOPPED
    assert probe.incarnations("a") == 1
    assert harness.events.names("a")[-1] is EventName.CHILD_STOPPED


def test_a_stopped_child_stays_down_until_started_with_reason_manual(harness: Harness) -> None:
    probe = harness.probe
    runtime = harness.start(harness.spec(probe.spec("a"), probe.spec("b")))
    harness.wait_state("a", S.HEALTHY)
    assert runtime.stop_child("a")
    harness.wait_state("a", S.STOPPED)
    assert probe.stops() == [("a", 1)]
    assert runtime.stop_child("a")  # stopping a stopped child changes nothing
    assert runtime.start_child("a")
    harness.events.wait("a", EventName.CHILD_RECOVERED)
    assert harness.status("a").last_restart_reason is Reason.MANUAL
    assert probe.incarnations("a") == 2
    assert harness.status("b").state is S.HEALTHY


def test_starting_a_running_child_does_nothing(harness: Harness) -> None:
    probe = harness.probe
    runtime = harness.start(harness.spec(probe.spec("a")))
    harness.wait_state("a", S.HEALTHY)
    assert runtime.start_child("a")
    probe.ctx("a").unhealthy(Reason.CANARY, restart=False)  # a marker after the command
    harness.wait_state("a", S.UNHEALTHY)
    assert probe.incarnations("a") == 1
    assert harness.status("a").restarts_total == 0


def test_a_failed_child_started_by_hand_gets_a_whole_new_budget(harness: Harness) -> None:
    probe = harness.probe
    runtime = harness.start(harness.spec(probe.spec("a", budget=budget(1))))
    harness.wait_state("a", S.HEALTHY)
    crash_and_wait_backoff(harness, "a")
    harness.clock.advance(1.0)
    probe.wait_started("a", 2)
    harness.wait_state("a", S.HEALTHY)
    probe.ref("a").tell(Crash())
    harness.wait_state("a", S.FAILED)
    assert runtime.start_child("a")
    probe.wait_started("a", 3)
    harness.wait_state("a", S.HEALTHY)
    crash_and_wait_backoff(harness, "a")  # restarted again, not failed: the budget is fresh
    harness.clock.advance(1.0)
    probe.wait_started("a", 4)


def test_a_stop_that_arrives_while_the_child_is_being_stopped_wins(harness: Harness) -> None:
    probe = harness.probe
    runtime = harness.start(harness.spec(probe.spec("a"), probe.spec("marker")))
    harness.wait_state("a", S.HEALTHY)
    kill_may_finish = threading.Event()
    probe.ctx("a").add_kill_hook(lambda: kill_may_finish.wait(WAIT))  # holds the reaper
    probe.ref("a").tell(Crash())
    harness.wait_state("a", S.RESTARTING)
    assert runtime.stop_child("a")
    probe.ctx("marker").unhealthy(Reason.CANARY, restart=False)  # after the stop, same sender
    harness.wait_state("marker", S.UNHEALTHY)
    kill_may_finish.set()
    harness.wait_state("a", S.STOPPED)
    harness.clock.advance(60.0)
    harness.wait_tick("a")
    assert probe.incarnations("a") == 1


def test_a_restart_that_arrives_while_the_child_is_being_stopped_skips_the_backoff(
    harness: Harness,
) -> None:
    probe = harness.probe
    runtime = harness.start(harness.spec(probe.spec("a", budget=budget(initial=1000.0)),
                                         probe.spec("marker")))
    harness.wait_state("a", S.HEALTHY)
    kill_may_finish = threading.Event()
    probe.ctx("a").add_kill_hook(lambda: kill_may_finish.wait(WAIT))
    probe.ref("a").tell(Crash())
    harness.wait_state("a", S.RESTARTING)
    assert runtime.restart("a")
    probe.ctx("marker").unhealthy(Reason.CANARY, restart=False)
    harness.wait_state("marker", S.UNHEALTHY)
    kill_may_finish.set()
    probe.wait_started("a", 2)  # without advancing the clock through the 1000 s backoff
    harness.wait_state("a", S.HEALTHY)
    assert harness.status("a").last_restart_reason is Reason.MANUAL


def test_commands_for_unknown_children_are_refused(harness: Harness) -> None:
    runtime = harness.start(harness.spec(harness.probe.spec("a")))
    assert not runtime.restart("nobody")
    assert not runtime.stop_child("nobody")
    assert not runtime.start_child("nobody")
