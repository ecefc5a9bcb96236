"""A child given up is tried again after its cooldown, with a fresh budget, unless stopped."""

from __future__ import annotations

from runtime import ChildState, EventName, Reason
from tests.runtime.fakes import Crash, Harness, budget

S = ChildState


def fail(harness: Harness, child_id: str = "a") -> None:
    """Crash `child_id` (budget of one restart) until it is given up."""
    probe = harness.probe
    before = probe.incarnations(child_id)
    probe.ref(child_id).tell(Crash())
    harness.wait_state(child_id, S.BACKOFF)
    harness.clock.advance(1.0)
    probe.wait_started(child_id, before + 1)
    harness.wait_state(child_id, S.HEALTHY)
    probe.ref(child_id).tell(Crash())
    harness.wait_state(child_id, S.FAILED)


def test_a_failed_child_is_started_again_after_its_cooldown_with_a_fresh_budget(
    harness: Harness,
) -> None:
    probe = harness.probe
    harness.start(harness.spec(probe.spec("a", budget=budget(1, cooldown=100.0)), probe.spec("b")))
    harness.wait_state("a", S.HEALTHY)
    fail(harness)
    assert harness.events.names("a")[-3:] == [
        EventName.CHILD_EXITED, EventName.REACHED_MAX_RESTARTS, EventName.RESTART_SCHEDULED]
    scheduled = harness.events.of("a")[-1]
    assert (scheduled.reason, scheduled.attempt, scheduled.delay) == (Reason.CRASH, 0, 100.0)
    assert "cooldown" in scheduled.detail
    harness.clock.advance(99.0)
    harness.wait_tick("a")
    assert harness.status("a").state is S.FAILED
    assert probe.incarnations("a") == 2
    harness.clock.advance(1.0)
    probe.wait_started("a", 3)
    recovered = harness.events.wait("a", EventName.CHILD_RECOVERED, count=2)
    assert recovered.reason is Reason.CRASH
    restarted = harness.events.wait("a", EventName.CHILD_RESTARTED, count=2)
    assert restarted.reason is Reason.CRASH
    status = harness.status("a")
    assert (status.state, status.restarts, status.last_restart_reason) == (
        S.HEALTHY, 0, Reason.CRASH)
    probe.ref("a").tell(Crash())  # the budget is fresh: restarted, not failed
    assert harness.events.wait("a", EventName.RESTART_SCHEDULED, count=3).attempt == 1
    harness.wait_state("a", S.BACKOFF)
    assert probe.incarnations("b") == 1


def test_without_a_cooldown_a_failed_child_stays_failed(harness: Harness) -> None:
    probe = harness.probe
    harness.start(harness.spec(probe.spec("a", budget=budget(1, cooldown=None))))
    harness.wait_state("a", S.HEALTHY)
    fail(harness)
    assert harness.events.names("a")[-1] is EventName.REACHED_MAX_RESTARTS
    harness.clock.advance(100_000.0)
    harness.wait_tick("a")
    assert harness.status("a").state is S.FAILED
    assert probe.incarnations("a") == 2


def test_a_stop_by_hand_cancels_the_cooldown(harness: Harness) -> None:
    probe = harness.probe
    runtime = harness.start(harness.spec(probe.spec("a", budget=budget(1, cooldown=100.0))))
    harness.wait_state("a", S.HEALTHY)
    fail(harness)
    assert runtime.stop_child("a")
    harness.wait_state("a", S.STOPPED)
    assert harness.events.names("a")[-1] is EventName.CHILD_STOPPED
    harness.clock.advance(200.0)
    harness.wait_tick("a")
    assert harness.status("a").state is S.STOPPED
    assert probe.incarnations("a") == 2


def test_a_start_by_hand_supersedes_the_cooldown(harness: Harness) -> None:
    probe = harness.probe
    runtime = harness.start(harness.spec(probe.spec("a", budget=budget(1, cooldown=100.0))))
    harness.wait_state("a", S.HEALTHY)
    fail(harness)
    assert runtime.start_child("a")
    probe.wait_started("a", 3)
    harness.wait_state("a", S.HEALTHY)
    assert harness.status("a").last_restart_reason is Reason.MANUAL
    harness.clock.advance(200.0)
    harness.wait_tick("a")
    assert probe.incarnations("a") == 3
    assert harness.events.count("a", EventName.CHILD_RESTARTED) == 2  # after backoff, by hand
