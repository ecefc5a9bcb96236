"""Children can be added, removed and replaced while their supervisor runs, and each awaited."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import pytest

from runtime import (
    ChildContext,
    ChildSpec,
    ChildState,
    EventName,
    Liveness,
    Reason,
    Supervisor,
    SupervisorSpec,
    UnknownChild,
    UnknownSupervisor,
)
from tests.runtime.fakes import WAIT, Crash, Harness, budget

S = ChildState


def counting(spec: ChildSpec, starts: list[str], label: str) -> ChildSpec:
    """`spec`, with each start noted as `label` in `starts`."""
    start = spec.start

    def noted(ctx: ChildContext) -> Any:
        starts.append(label)
        return start(ctx)

    return replace(spec, start=noted)


def test_an_added_child_starts_last_and_shows_on_the_board_once_the_change_is_done(
    harness: Harness,
) -> None:
    probe = harness.probe
    runtime = harness.start(harness.spec(probe.spec("a")))
    harness.wait_state("a", S.HEALTHY)
    runtime.add_child("sup", probe.spec("b")).result(WAIT)
    assert [s.id for s in harness.board.children("sup")] == ["a", "b"]  # no wait needed
    harness.wait_state("b", S.HEALTHY)
    assert harness.events.names("b") == [EventName.CHILD_STARTED, EventName.CHILD_HEALTHY]
    assert runtime.restart("b")
    harness.events.wait("b", EventName.CHILD_RECOVERED)
    assert probe.incarnations("a") == 1


def test_a_child_cannot_be_added_to_an_unknown_supervisor_nor_under_a_taken_id(
    harness: Harness,
) -> None:
    probe = harness.probe
    runtime = harness.start(harness.spec(probe.spec("a")))
    with pytest.raises(UnknownSupervisor, match="nobody"):
        runtime.add_child("nobody", probe.spec("b"))
    with pytest.raises(ValueError, match="'a' is taken"):
        runtime.add_child("sup", probe.spec("a"))
    first = runtime.add_child("sup", probe.spec("b"))
    with pytest.raises(ValueError, match="'b'"):  # at once, or from the supervisor
        runtime.add_child("sup", probe.spec("b")).result(WAIT)
    first.result(WAIT)
    assert probe.incarnations("b") == 1


def test_a_removed_child_is_stopped_reported_stopped_and_forgotten(harness: Harness) -> None:
    probe = harness.probe
    runtime = harness.start(harness.spec(probe.spec("a"), probe.spec("b"), probe.spec("c")))
    harness.wait_state("c", S.HEALTHY)
    runtime.remove_child("b").result(WAIT)
    assert harness.board.get("b") is None
    assert [s.id for s in harness.board.children("sup")] == ["a", "c"]
    assert harness.events.names("b")[-1] is EventName.CHILD_STOPPED
    assert probe.stops() == [("b", 1)]
    assert not runtime.restart("b")
    with pytest.raises(UnknownChild, match="'b'"):
        runtime.remove_child("b")
    runtime.stop(timeout=WAIT)
    assert [e.child for e in harness.events.events if e.name is EventName.CHILD_STOPPED] == [
        "b", "c", "a"]


def test_a_child_removed_during_its_backoff_is_never_started_again(harness: Harness) -> None:
    probe = harness.probe
    runtime = harness.start(harness.spec(probe.spec("a"), probe.spec("b")))
    harness.wait_state("a", S.HEALTHY)
    probe.ref("a").tell(Crash())
    harness.wait_state("a", S.BACKOFF)
    runtime.remove_child("a").result(WAIT)
    assert harness.board.get("a") is None
    harness.clock.advance(60.0)
    harness.wait_tick("b")
    assert probe.incarnations("a") == 1


def test_a_failed_child_is_removed_at_once(harness: Harness) -> None:
    probe = harness.probe
    runtime = harness.start(harness.spec(probe.spec("a", budget=budget(0, cooldown=None))))
    harness.wait_state("a", S.HEALTHY)
    probe.ref("a").tell(Crash())
    harness.wait_state("a", S.FAILED)
    runtime.remove_child("a").result(WAIT)
    assert harness.board.children("sup") == ()


def test_removing_a_supervisor_takes_its_children_off_the_board(harness: Harness) -> None:
    probe = harness.probe
    mid = SupervisorSpec(id="mid", children=(probe.spec("leaf"),))
    runtime = harness.start(SupervisorSpec(id="root", children=(
        Supervisor.child_spec(mid, harness.bus, harness.board), probe.spec("other"))))
    harness.wait_state("leaf", S.HEALTHY)
    runtime.remove_child("mid").result(WAIT)
    assert [s.id for s in harness.board.children()] == ["other"]
    assert probe.stops() == [("leaf", 1)]


def test_a_replaced_child_restarts_at_once_from_its_new_spec_with_a_fresh_budget(
    harness: Harness,
) -> None:
    probe = harness.probe
    starts: list[str] = []
    old = counting(probe.spec("a", budget=budget(initial=1000.0)), starts, "old")
    runtime = harness.start(harness.spec(old, probe.spec("b")))
    harness.wait_state("a", S.HEALTHY)
    probe.ref("a").tell(Crash())
    harness.wait_state("a", S.BACKOFF)
    assert harness.status("a").restarts == 1
    new = counting(probe.spec("a", liveness=Liveness(heartbeat_timeout=3.0)), starts, "new")
    runtime.replace_child(new).result(WAIT)  # without waiting out the 1000 s backoff
    assert starts == ["old", "new"]
    harness.events.wait("a", EventName.CHILD_RECOVERED)
    scheduled = harness.events.wait("a", EventName.RESTART_SCHEDULED, count=2)
    assert (scheduled.reason, scheduled.attempt, scheduled.delay) == (Reason.RELOAD, 0, 0.0)
    assert harness.events.wait("a", EventName.CHILD_RESTARTED).reason is Reason.RELOAD
    status = harness.status("a")
    assert (status.last_restart_reason, status.restarts) == (Reason.RELOAD, 0)
    harness.clock.advance(3.5)  # the new spec's heartbeat deadline holds
    assert harness.events.wait("a", EventName.RESTART_SCHEDULED, count=3).reason is (
        Reason.HEARTBEAT)
    assert probe.incarnations("b") == 1


def test_a_stopped_child_replaced_is_started_from_its_new_spec(harness: Harness) -> None:
    probe = harness.probe
    starts: list[str] = []
    runtime = harness.start(harness.spec(probe.spec("a")))
    harness.wait_state("a", S.HEALTHY)
    runtime.stop_child("a")
    harness.wait_state("a", S.STOPPED)
    runtime.replace_child(counting(probe.spec("a"), starts, "new")).result(WAIT)
    assert starts == ["new"]
    harness.wait_state("a", S.HEALTHY)


def test_a_stopped_child_replaced_to_stay_stopped_starts_from_its_new_spec_when_started(
    harness: Harness,
) -> None:
    probe = harness.probe
    starts: list[str] = []
    runtime = harness.start(harness.spec(counting(probe.spec("a"), starts, "old")))
    harness.wait_state("a", S.HEALTHY)
    runtime.stop_child("a")
    harness.wait_state("a", S.STOPPED)
    runtime.replace_child(counting(probe.spec("a"), starts, "new"), keep_stopped=True).result(WAIT)
    assert harness.status("a").state is S.STOPPED
    assert starts == ["old"]
    runtime.start_child("a")
    harness.wait_state("a", S.HEALTHY)
    assert starts == ["old", "new"]


def test_a_running_child_replaced_to_stay_stopped_if_stopped_restarts_all_the_same(
    harness: Harness,
) -> None:
    probe = harness.probe
    runtime = harness.start(harness.spec(probe.spec("a")))
    harness.wait_state("a", S.HEALTHY)
    runtime.replace_child(probe.spec("a"), keep_stopped=True).result(WAIT)
    assert probe.incarnations("a") == 2
    assert harness.status("a").last_restart_reason is Reason.RELOAD


def test_a_child_added_behind_a_sibling_that_is_not_there_is_refused(harness: Harness) -> None:
    probe = harness.probe
    runtime = harness.start(harness.spec(probe.spec("a")))
    harness.wait_state("a", S.HEALTHY)
    with pytest.raises(ValueError, match="depends on 'nobody'"):
        runtime.add_child("sup", probe.spec("b", depends_on="nobody")).result(WAIT)
    runtime.add_child("sup", probe.spec("c", depends_on="a")).result(WAIT)
    harness.wait_state("c", S.HEALTHY)
    assert harness.board.get("b") is None


def test_replacing_an_unknown_child_is_refused(harness: Harness) -> None:
    runtime = harness.start(harness.spec(harness.probe.spec("a")))
    with pytest.raises(UnknownChild, match="'nobody'"):
        runtime.replace_child(harness.probe.spec("nobody"))


def test_a_change_still_queued_when_its_supervisor_stops_is_answered_with_an_error(
    harness: Harness,
) -> None:
    probe = harness.probe
    entered, release = threading.Event(), threading.Event()
    first = [True]

    def start_then_block(ctx: ChildContext) -> Any:
        if not first[0]:
            entered.set()
            release.wait(WAIT)  # `start` runs on the supervisor's own thread
        first[0] = False
        return probe.spec("slow").start(ctx)

    runtime = harness.start(harness.spec(replace(probe.spec("slow"), start=start_then_block)))
    harness.wait_state("slow", S.HEALTHY)
    runtime.restart("slow")
    assert entered.wait(WAIT)
    assert runtime.root is not None
    runtime.root.stop(block=False)
    change = runtime.add_child("sup", probe.spec("late"))
    release.set()
    with pytest.raises(RuntimeError, match="stopped before the change was made"):
        change.result(WAIT)
    assert probe.incarnations("late") == 0
