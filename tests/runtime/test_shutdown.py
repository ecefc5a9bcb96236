"""Ending a child: ask, wait, kill its resources, and abandon a thread that still will not exit."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest

from runtime import (
    ChildContext,
    ChildState,
    EventName,
    FakeClock,
    Liveness,
    Reason,
    Scheduler,
)
from runtime.shutdown import Outcome, shut_down, shut_down_all
from tests.runtime.fakes import WAIT, Block, FakeChild, Harness, Probe, poll

S = ChildState
HUNG = Liveness(heartbeat_timeout=5.0)


# --- shut_down on its own ---------------------------------------------------------------------


class Lone:
    """One fake child started outside any supervisor, with its reports collected."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.probe = Probe()
        self.reports: list[object] = []
        self.ctx = ChildContext("lone", 1, self.reports.append, FakeClock(), scheduler)
        self.spec = self.probe.spec("lone", shutdown_timeout=0.2)
        self.ref = FakeChild.start(self.ctx, self.probe)
        assert poll(lambda: self.ctx.thread is not None)

    def block(self) -> Block:
        block = Block(threading.Event())
        self.ref.tell(block)
        assert block.entered.wait(WAIT)
        return block


@pytest.fixture
def lone() -> Iterator[Lone]:
    scheduler = Scheduler(FakeClock())
    child = Lone(scheduler)
    yield child
    child.ctx.kill()
    child.ref.stop(block=False)
    assert child.ctx.thread is not None
    child.ctx.thread.join(WAIT)


def test_a_cooperative_child_is_stopped_and_its_kill_hooks_still_free_its_resources(
    lone: Lone,
) -> None:
    freed = threading.Event()
    lone.ctx.add_kill_hook(freed.set)
    assert shut_down(lone.ref, lone.ctx, lone.spec, graceful=True) is Outcome.STOPPED
    assert freed.is_set()
    assert lone.probe.stops() == [("lone", 1)]


def test_a_hung_child_is_killed_after_the_timeout_when_asked_gracefully(lone: Lone) -> None:
    block = lone.block()
    lone.ctx.add_kill_hook(block.gate.set)
    assert shut_down(lone.ref, lone.ctx, lone.spec, graceful=True) is Outcome.KILLED
    assert lone.ctx.thread is not None and not lone.ctx.thread.is_alive()


def test_a_child_known_to_be_hung_is_killed_without_asking_first(lone: Lone) -> None:
    block = lone.block()
    asked_first: list[bool] = []
    lone.ctx.add_kill_hook(lambda: asked_first.append(lone.ref.actor_inbox.empty()))
    lone.ctx.add_kill_hook(block.gate.set)
    assert shut_down(lone.ref, lone.ctx, lone.spec, graceful=False) is Outcome.KILLED
    assert asked_first[0] is True  # no stop message was waiting when the kill ran


def test_a_child_whose_kill_does_not_free_it_is_abandoned(lone: Lone) -> None:
    block = lone.block()
    killed = threading.Event()
    lone.ctx.add_kill_hook(killed.set)
    assert shut_down(lone.ref, lone.ctx, lone.spec, graceful=False) is Outcome.ABANDONED
    assert killed.is_set()
    assert lone.ctx.thread is not None and lone.ctx.thread.is_alive()
    block.gate.set()


def test_a_failing_kill_hook_does_not_stop_the_others(
    lone: Lone, caplog: pytest.LogCaptureFixture
) -> None:
    block = lone.block()

    def broken() -> None:
        raise OSError("no such process")

    lone.ctx.add_kill_hook(broken)
    spec = replace(lone.spec, kill=block.gate.set)
    assert shut_down(lone.ref, lone.ctx, spec, graceful=False) is Outcome.KILLED
    assert "no such process" in caplog.text


def test_children_stopped_side_by_side_each_get_their_outcome() -> None:
    scheduler = Scheduler(FakeClock())
    children = [Lone(scheduler) for _ in range(3)]
    block = children[1].block()
    outcomes = shut_down_all([(c.ref, c.ctx, c.spec) for c in children], graceful=True,
                             parallel=True)
    assert outcomes == [Outcome.STOPPED, Outcome.ABANDONED, Outcome.STOPPED]
    block.gate.set()
    for child in children:
        assert child.ctx.thread is not None
        child.ctx.thread.join(WAIT)


# --- hung children under a supervisor ---------------------------------------------------------


@pytest.mark.parametrize("hook", ["context", "spec"])
def test_a_hung_child_is_freed_by_its_kill_hook_and_restarted(harness: Harness, hook: str) -> None:
    probe = harness.probe
    gate = threading.Event()
    spec = probe.spec("hung", liveness=HUNG, shutdown_timeout=WAIT,
                      kill=gate.set if hook == "spec" else None)
    harness.start(harness.spec(spec, probe.spec("calm")))
    harness.wait_state("hung", S.HEALTHY)
    block = Block(gate)
    probe.ref("hung").tell(block)
    assert block.entered.wait(WAIT)
    if hook == "context":
        probe.ctx("hung").add_kill_hook(gate.set)
    old_thread = probe.ctx("hung").thread
    harness.clock.advance(5.5)
    harness.events.wait("hung", EventName.CHILD_KILLED)
    harness.wait_state("hung", S.BACKOFF)
    assert old_thread is not None and not old_thread.is_alive()
    harness.clock.advance(1.0)
    harness.events.wait("hung", EventName.CHILD_RECOVERED)
    assert harness.status("hung").abandoned_threads == 0
    assert EventName.CHILD_ABANDONED not in harness.events.names("hung")
    assert harness.status("calm").state is S.HEALTHY


def test_a_hung_child_that_no_kill_frees_is_abandoned_counted_and_replaced(
    harness: Harness,
) -> None:
    probe = harness.probe
    harness.start(harness.spec(probe.spec("stuck", liveness=HUNG, shutdown_timeout=0.3)))
    harness.wait_state("stuck", S.HEALTHY)
    block = harness.block("stuck")
    kill_ran = threading.Event()
    probe.ctx("stuck").add_kill_hook(kill_ran.set)  # kills something, but not what blocks it
    old_thread = probe.ctx("stuck").thread
    assert old_thread is not None
    harness.clock.advance(5.5)
    harness.events.wait("stuck", EventName.CHILD_ABANDONED)
    assert kill_ran.is_set()
    harness.wait_state("stuck", S.BACKOFF)
    assert harness.status("stuck").abandoned_threads == 1
    harness.clock.advance(1.0)
    harness.events.wait("stuck", EventName.CHILD_RECOVERED)
    assert probe.incarnations("stuck") == 2
    assert old_thread.is_alive()  # still blocked, left behind
    assert probe.ctx("stuck").thread is not old_thread
    assert harness.status("stuck").abandoned_threads == 1

    block.gate.set()  # the old incarnation wakes up, reads its stop and reports its end
    old_thread.join(WAIT)
    assert not old_thread.is_alive()
    probe.ctx("stuck").unhealthy(Reason.CANARY, restart=False)  # a marker after its report
    harness.wait_state("stuck", S.UNHEALTHY)
    assert harness.status("stuck").restarts_total == 1  # its late exit restarted nothing


def test_a_manual_stop_of_a_hung_child_asks_waits_then_kills(harness: Harness) -> None:
    probe = harness.probe
    harness.start(harness.spec(probe.spec("hung", shutdown_timeout=0.3)))
    harness.wait_state("hung", S.HEALTHY)
    block = harness.block("hung")
    probe.ctx("hung").add_kill_hook(block.gate.set)
    assert harness.runtimes[0].stop_child("hung")
    harness.wait_state("hung", S.STOPPED)
    assert harness.events.names("hung")[-2:] == [EventName.CHILD_KILLED, EventName.CHILD_STOPPED]


def test_the_status_board_and_the_supervisor_answer_while_every_child_is_hung(
    harness: Harness,
) -> None:
    probe = harness.probe
    runtime = harness.start(harness.spec(*(probe.spec(c, shutdown_timeout=0.3) for c in "abc")))
    for child in "abc":
        harness.wait_state(child, S.HEALTHY)
        block = harness.block(child)
        probe.ctx(child).add_kill_hook(block.gate.set)
    answers: list[int] = []

    def read_board() -> None:
        answers.append(len(harness.board.children("sup")))

    reader = threading.Thread(target=read_board)
    reader.start()
    reader.join(WAIT)
    assert answers == [3]
    before = harness.status("a").published_at
    harness.clock.advance(1.0)
    harness.wait_status("a", lambda s: s.published_at > before, "a tick while all are hung")
    assert all(s.state is S.HEALTHY for s in harness.board.children("sup"))
    assert runtime.restart("b")
    harness.events.wait("b", EventName.CHILD_RECOVERED)
    assert runtime.stop(timeout=WAIT) == 0
    assert [s.state for s in harness.board.children("sup")] == [S.STOPPED] * 3
