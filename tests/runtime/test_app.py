"""The runtime runs one tree: escalation climbs it, and the root's end becomes the exit code."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from runtime import (
    ChildContext,
    ChildSpec,
    ChildState,
    EventName,
    Liveness,
    OnExhausted,
    Reason,
    Runtime,
    Strategy,
    Supervisor,
    SupervisorSpec,
)
from tests.helpers import wait_until
from tests.runtime.fakes import WAIT, Crash, Harness, budget

S = ChildState
ESCALATE = OnExhausted.ESCALATE


def mid_spec(harness: Harness, max_restarts: int = 3,
             on_exhausted: OnExhausted = OnExhausted.GIVE_UP) -> ChildSpec:
    """A supervisor `mid` whose one child `leaf` escalates at its first failure."""
    mid = SupervisorSpec(id="mid", children=(harness.probe.spec(
        "leaf", budget=budget(0, on_exhausted=ESCALATE)),))
    return Supervisor.child_spec(
        mid, harness.bus, harness.board,
        budget=budget(max_restarts, initial=2.0, on_exhausted=on_exhausted))


def test_a_child_that_escalates_fails_its_supervisor_and_the_root_restarts_it(
    harness: Harness,
) -> None:
    probe = harness.probe
    harness.start(SupervisorSpec(id="root", children=(mid_spec(harness), probe.spec("other"))))
    harness.wait_state("leaf", S.HEALTHY)
    probe.ref("leaf").tell(Crash())
    harness.events.wait("leaf", EventName.SUPERVISOR_ESCALATED)
    exited = harness.events.wait("mid", EventName.CHILD_EXITED)
    assert exited.supervisor == "root"
    assert "reached max restarts" in exited.detail
    scheduled = harness.events.wait("mid", EventName.RESTART_SCHEDULED)
    assert (scheduled.reason, scheduled.delay) == (Reason.CRASH, 2.0)
    harness.wait_state("mid", S.BACKOFF)
    harness.clock.advance(2.0)
    probe.wait_started("leaf", 2)  # a new mid started a new leaf
    harness.events.wait("mid", EventName.CHILD_RECOVERED)
    harness.wait_state("leaf", S.HEALTHY)
    assert probe.ctx("leaf").incarnation == 1  # the new mid keeps its own books
    assert [e.name for e in harness.events.of("leaf") if e.supervisor == "mid"][:5] == [
        EventName.CHILD_STARTED, EventName.CHILD_HEALTHY, EventName.CHILD_EXITED,
        EventName.REACHED_MAX_RESTARTS, EventName.SUPERVISOR_ESCALATED,
    ]
    assert harness.status("other").state is S.HEALTHY
    assert probe.incarnations("other") == 1
    assert harness.runtimes[0].running


def test_an_exhausted_root_ends_the_runtime_with_exit_code_1(harness: Harness) -> None:
    probe = harness.probe
    root = SupervisorSpec(id="root", children=(
        mid_spec(harness, 0, on_exhausted=ESCALATE), probe.spec("other")))
    runtime = harness.start(root)
    harness.wait_state("leaf", S.HEALTHY)
    probe.ref("leaf").tell(Crash())  # leaf -> mid -> root, all escalating
    assert runtime.wait(WAIT) == 1
    assert not runtime.running
    assert "root/mid reached max restarts" in runtime.failure
    harness.events.wait("mid", EventName.SUPERVISOR_ESCALATED)
    assert probe.stops() == [("leaf", 1), ("other", 1)]
    assert harness.status("other").state is S.STOPPED
    assert runtime.stop(timeout=WAIT) == 1


def test_a_stopped_runtime_exits_0_and_leaves_nothing_running(harness: Harness) -> None:
    probe = harness.probe
    runtime = harness.start(SupervisorSpec(
        id="root", children=(mid_spec(harness), probe.spec("other")),
        strategy=Strategy.REST_FOR_ONE))
    harness.wait_state("leaf", S.HEALTHY)
    assert runtime.running
    assert runtime.wait(0.0) is None
    assert runtime.stop(timeout=WAIT) == 0
    assert runtime.wait(WAIT) == 0
    assert probe.stops() == [("other", 1), ("leaf", 1)]
    assert {s.state for s in harness.board.children()} == {S.STOPPED}


def test_children_of_a_nested_supervisor_are_controlled_by_id(harness: Harness) -> None:
    probe = harness.probe
    runtime = harness.start(SupervisorSpec(id="root", children=(mid_spec(harness),)))
    harness.wait_state("leaf", S.HEALTHY)
    assert runtime.restart("leaf")
    probe.wait_started("leaf", 2)
    harness.events.wait("leaf", EventName.CHILD_RECOVERED)
    assert harness.status("leaf").last_restart_reason is Reason.MANUAL
    assert harness.status("mid").restarts_total == 0


def test_a_hung_supervisor_is_caught_by_its_parent_like_any_child(harness: Harness) -> None:
    """A nested supervisor heartbeats its parent on every tick; one that stops ticking is late."""
    probe = harness.probe
    mid = SupervisorSpec(id="mid", children=(probe.spec("leaf"),), tick=1000.0)
    spec = Supervisor.child_spec(mid, harness.bus, harness.board, budget=budget(),
                                 liveness=Liveness(heartbeat_timeout=5.0))
    harness.start(SupervisorSpec(id="root", children=(spec,)))
    harness.wait_state("leaf", S.HEALTHY)
    harness.wait_state("mid", S.HEALTHY)  # its one heartbeat was heard before the jump
    harness.clock.advance(5.5)
    assert harness.events.wait("mid", EventName.RESTART_SCHEDULED).reason is Reason.HEARTBEAT


def test_a_runtime_started_without_a_clock_uses_the_real_one() -> None:
    runtime = Runtime(SupervisorSpec(id="root", children=())).start()
    try:
        assert runtime.running
    finally:
        assert runtime.stop(timeout=WAIT) == 0


def test_a_runtime_starts_once() -> None:
    runtime = Runtime(SupervisorSpec(id="root", children=())).start()
    try:
        with pytest.raises(RuntimeError, match="already started"):
            runtime.start()
    finally:
        runtime.stop(timeout=WAIT)


def test_the_runtime_is_responsive_only_while_the_root_ticks(harness: Harness) -> None:
    """What the systemd watchdog follows: a root stuck in a call stops looking responsive."""
    probe = harness.probe
    stuck = threading.Event()
    release = threading.Event()
    first = [True]

    def start_then_block(ctx: ChildContext) -> Any:
        if not first[0]:
            stuck.set()
            release.wait(WAIT)  # `start` runs on the supervisor's own thread
        first[0] = False
        return probe.spec("slow").start(ctx)

    runtime = harness.start(SupervisorSpec(id="root", children=(
        ChildSpec(id="slow", start=start_then_block, liveness=Liveness(heartbeat_timeout=None)),)))
    assert wait_until(lambda: runtime.responsive(within=1.0))
    runtime.restart("slow")
    assert stuck.wait(WAIT)
    harness.clock.advance(5.0)
    assert not runtime.responsive(within=1.0)
    release.set()
    harness.wait_state("slow", S.HEALTHY)
    harness.clock.advance(0.5)  # a tick, now that the root answers again
    assert wait_until(lambda: runtime.responsive(within=1.0))


def test_killing_a_supervisor_runs_the_kill_hooks_of_its_children(harness: Harness) -> None:
    """A hung supervisor given up by its parent must not leave its children's resources."""
    probe = harness.probe
    runtime = harness.start(SupervisorSpec(id="root", children=(mid_spec(harness),)))
    harness.wait_state("leaf", S.HEALTHY)
    freed = threading.Event()
    probe.ctx("leaf").add_kill_hook(freed.set)
    assert runtime.root_context is not None
    runtime.root_context.kill()  # root's hook -> mid's context -> mid's hook -> leaf's hooks
    assert freed.is_set()


def sharded(harness: Harness, shards: dict[int, list[str]]) -> SupervisorSpec:
    """sessions -> shard-N (rest_for_one) -> [driver-N, shard-N-sessions -> sessions...]."""
    probe = harness.probe

    def shard(n: int, sessions: list[str]) -> ChildSpec:
        inner = SupervisorSpec(id=f"shard-{n}-sessions", parallel_stop=True, children=tuple(
            probe.spec(s, kind="session") for s in sessions))
        outer = SupervisorSpec(id=f"shard-{n}", strategy=Strategy.REST_FOR_ONE, children=(
            probe.spec(f"driver-{n}", kind="driver"),
            Supervisor.child_spec(inner, harness.bus, harness.board)))
        return Supervisor.child_spec(outer, harness.bus, harness.board)

    return SupervisorSpec(id="sessions", children=tuple(shard(n, s) for n, s in shards.items()))


def test_sessions_under_several_shards_are_found_by_kind_and_controlled_by_id(
    harness: Harness,
) -> None:
    probe = harness.probe
    runtime = harness.start(sharded(harness, {1: ["s1a", "s1b"], 2: ["s2a"]}))
    for session in ("s1a", "s1b", "s2a"):
        harness.wait_state(session, S.HEALTHY)
    sessions = [s.id for s in harness.board.of_kind("session")]
    assert sorted(sessions) == ["s1a", "s1b", "s2a"]  # in the order the shards published
    assert {s.id: s.kind for s in harness.board.of_kind("driver")} == {
        "driver-1": "driver", "driver-2": "driver"}
    assert runtime.restart("s1b")
    harness.events.wait("s1b", EventName.CHILD_RECOVERED)
    assert runtime.stop_child("s2a")
    harness.wait_state("s2a", S.STOPPED)
    assert runtime.start_child("s2a")
    harness.events.wait("s2a", EventName.CHILD_RECOVERED)
    runtime.add_child("shard-2-sessions", probe.spec("s2b", kind="session")).result(WAIT)
    probe.ref("driver-1").tell(Crash())  # rest_for_one: shard 1's sessions go with its driver
    harness.wait_state("shard-1-sessions", S.BACKOFF)
    harness.clock.advance(1.0)
    probe.wait_started("s1a", 2)
    harness.wait_state("s1a", S.HEALTHY)
    after = [s.id for s in harness.board.of_kind("session")]
    assert sorted(after) == ["s1a", "s1b", "s2a", "s2b"]
    assert after.index("s2a") + 1 == after.index("s2b")  # added last to its supervisor
    assert [probe.incarnations(s) for s in ("s1a", "s1b", "s2a", "s2b")] == [2, 3, 2, 1]
