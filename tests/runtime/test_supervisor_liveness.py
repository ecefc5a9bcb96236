"""A supervisor enforces heartbeat and activity deadlines on its timer and hears health reports."""

from __future__ import annotations

import pytest

from runtime import ChildState, EventName, Liveness, Reason
from tests.runtime.fakes import Harness

S = ChildState


def test_a_silent_child_is_restarted_for_heartbeat_and_its_talking_sibling_is_not(
    harness: Harness,
) -> None:
    probe = harness.probe
    liveness = Liveness(heartbeat_timeout=10.0)
    harness.start(harness.spec(probe.spec("silent", liveness=liveness),
                               probe.spec("talking", liveness=liveness)))
    harness.wait_state("silent", S.HEALTHY)  # both first heartbeats heard before the jump
    harness.wait_state("talking", S.HEALTHY)
    harness.clock.advance(6.0)
    probe.ctx("talking").heartbeat()
    harness.clock.advance(4.0)  # exactly at the deadline: not yet late
    harness.wait_tick("silent")
    assert harness.status("silent").state is S.HEALTHY
    harness.clock.advance(0.5)
    scheduled = harness.events.wait("silent", EventName.RESTART_SCHEDULED)
    assert scheduled.reason is Reason.HEARTBEAT
    assert scheduled.detail == "no heartbeat for 10.5s"
    harness.events.wait("silent", EventName.CHILD_KILLED)  # a silent child is killed, not asked
    harness.wait_state("silent", S.BACKOFF)
    harness.clock.advance(1.0)
    probe.wait_started("silent", 2)
    harness.wait_state("silent", S.HEALTHY)
    assert harness.status("silent").last_restart_reason is Reason.HEARTBEAT
    assert harness.status("talking").state is S.HEALTHY
    assert probe.incarnations("talking") == 1


def test_a_child_that_never_heartbeats_is_caught_from_its_start(harness: Harness) -> None:
    probe = harness.probe
    probe.behaviour("mute").heartbeat_on_start = False
    harness.start(harness.spec(probe.spec("mute", liveness=Liveness(heartbeat_timeout=5.0))))
    harness.wait_state("mute", S.STARTING)
    harness.clock.advance(5.5)
    assert harness.events.wait("mute", EventName.RESTART_SCHEDULED).reason is Reason.HEARTBEAT
    assert EventName.CHILD_HEALTHY not in harness.events.names("mute")


def test_heartbeats_of_an_earlier_incarnation_do_not_keep_a_silent_one_alive(
    harness: Harness,
) -> None:
    probe = harness.probe
    harness.start(harness.spec(probe.spec("a", liveness=Liveness(heartbeat_timeout=5.0))))
    harness.wait_state("a", S.HEALTHY)
    harness.clock.advance(5.5)
    harness.wait_state("a", S.BACKOFF)
    old = probe.ctx("a")
    probe.behaviour("a").heartbeat_on_start = False
    harness.clock.advance(1.0)
    probe.wait_started("a", 2)
    for _ in range(3):
        old.heartbeat()
        harness.clock.advance(2.0)
    harness.events.wait("a", EventName.RESTART_SCHEDULED, count=2)
    assert harness.status("a").state is not S.HEALTHY


def test_a_child_without_activity_for_its_timeout_is_restarted_for_activity(
    harness: Harness,
) -> None:
    probe = harness.probe
    liveness = Liveness(heartbeat_timeout=None, activity_timeout=30.0)
    harness.start(harness.spec(probe.spec("quiet", liveness=liveness),
                               probe.spec("busy", liveness=liveness)))
    harness.wait_state("busy", S.HEALTHY)
    harness.clock.advance(20.0)
    probe.ctx("busy").activity()
    harness.clock.advance(20.0)
    scheduled = harness.events.wait("quiet", EventName.RESTART_SCHEDULED)
    assert scheduled.reason is Reason.ACTIVITY
    harness.wait_state("quiet", S.BACKOFF)
    assert harness.status("busy").state is S.HEALTHY
    assert harness.status("busy").last_activity is not None
    assert harness.status("quiet").last_activity is None


@pytest.mark.parametrize("reason", [Reason.MEMORY, Reason.CANARY])
def test_a_child_that_asks_to_be_replaced_is_restarted_with_its_reason(
    harness: Harness, reason: Reason
) -> None:
    probe = harness.probe
    harness.start(harness.spec(probe.spec("a")))
    harness.wait_state("a", S.HEALTHY)
    probe.ctx("a").unhealthy(reason, restart=True, detail="over the limit")
    scheduled = harness.events.wait("a", EventName.RESTART_SCHEDULED)
    assert (scheduled.reason, scheduled.detail) == (reason, "over the limit")
    harness.wait_state("a", S.BACKOFF)
    harness.clock.advance(1.0)
    harness.events.wait("a", EventName.CHILD_RECOVERED)
    assert harness.status("a").last_restart_reason is reason


def test_an_unhealthy_report_without_restart_only_marks_the_child_until_it_is_healthy(
    harness: Harness,
) -> None:
    probe = harness.probe
    harness.start(harness.spec(probe.spec("a")))
    harness.wait_state("a", S.HEALTHY)
    probe.ctx("a").unhealthy(Reason.CANARY, restart=False, detail="echo late")
    harness.wait_state("a", S.UNHEALTHY)
    probe.ctx("a").unhealthy(Reason.CANARY, restart=False, detail="echo late again")
    probe.ctx("a").heartbeat()  # a heartbeat alone does not clear a reported problem
    probe.ctx("a").healthy()
    harness.wait_state("a", S.HEALTHY)
    assert harness.events.names("a") == [
        EventName.CHILD_STARTED, EventName.CHILD_HEALTHY, EventName.CHILD_UNHEALTHY,
        EventName.CHILD_CLEARED,  # not a second child_healthy: nothing started again
    ]
    assert harness.status("a").restarts_total == 0


def test_a_child_that_needs_a_login_is_not_restarted_nor_held_to_its_activity_deadline(
    harness: Harness,
) -> None:
    probe = harness.probe
    harness.start(harness.spec(probe.spec(
        "a", liveness=Liveness(heartbeat_timeout=None, activity_timeout=10.0))))
    harness.wait_state("a", S.HEALTHY)
    probe.ctx("a").auth_required("scan the QR code")
    harness.wait_state("a", S.AUTH_REQUIRED)
    harness.clock.advance(60.0)
    harness.wait_tick("a")
    assert harness.status("a").state is S.AUTH_REQUIRED
    assert harness.events.of("a")[-1].detail == "scan the QR code"
    probe.ctx("a").healthy()
    harness.wait_state("a", S.HEALTHY)
    assert harness.status("a").restarts_total == 0
    cleared = harness.events.wait("a", EventName.CHILD_CLEARED)
    assert cleared.detail == "auth_required"
    assert harness.events.count("a", EventName.CHILD_HEALTHY) == 1  # only the first start


def test_reports_from_an_earlier_incarnation_are_ignored(harness: Harness) -> None:
    probe = harness.probe
    harness.start(harness.spec(probe.spec("a")))
    harness.wait_state("a", S.HEALTHY)
    old = probe.ctx("a")
    probe.ctx("a").unhealthy(Reason.MEMORY, restart=True)
    harness.wait_state("a", S.BACKOFF)
    harness.clock.advance(1.0)
    harness.events.wait("a", EventName.CHILD_RECOVERED)
    old.unhealthy(Reason.MEMORY, restart=True)
    old.auth_required()
    old.exited(abnormal=True, error="late news")
    probe.ctx("a").unhealthy(Reason.CANARY, restart=False)  # a marker after them, same sender
    harness.wait_state("a", S.UNHEALTHY)
    assert harness.status("a").restarts_total == 1
    assert probe.incarnations("a") == 2


def test_an_offline_child_is_not_restarted_nor_held_to_its_activity_deadline(
    harness: Harness,
) -> None:
    probe = harness.probe
    harness.start(harness.spec(probe.spec(
        "a", liveness=Liveness(heartbeat_timeout=None, activity_timeout=10.0))))
    harness.wait_state("a", S.HEALTHY)
    probe.ctx("a").offline("connection refused")
    harness.wait_state("a", S.OFFLINE)
    harness.clock.advance(60.0)
    harness.wait_tick("a")
    assert harness.status("a").state is S.OFFLINE
    assert harness.status("a").started_at is not None  # offline is a way of running
    probe.ctx("a").offline("still refused")  # news only once
    probe.ctx("a").healthy()
    harness.wait_state("a", S.HEALTHY)
    assert harness.events.names("a") == [
        EventName.CHILD_STARTED, EventName.CHILD_HEALTHY, EventName.CHILD_OFFLINE,
        EventName.CHILD_CLEARED,
    ]
    offline, cleared = harness.events.of("a")[2:]
    assert (offline.detail, cleared.detail) == ("connection refused", "offline")
    assert (harness.status("a").restarts, harness.status("a").restarts_total) == (0, 0)


def test_an_offline_child_that_stops_heartbeating_is_restarted_for_heartbeat(
    harness: Harness,
) -> None:
    probe = harness.probe
    harness.start(harness.spec(probe.spec("a", liveness=Liveness(heartbeat_timeout=5.0))))
    harness.wait_state("a", S.HEALTHY)
    probe.ctx("a").offline()
    harness.wait_state("a", S.OFFLINE)
    harness.clock.advance(5.5)
    assert harness.events.wait("a", EventName.RESTART_SCHEDULED).reason is Reason.HEARTBEAT
    harness.wait_state("a", S.BACKOFF)
