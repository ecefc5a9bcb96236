"""Fakes for runtime tests: children that crash or hang on command, and a harness on a FakeClock."""

from __future__ import annotations

import random
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pykka

from runtime import (
    Backoff,
    ChildContext,
    ChildSpec,
    ChildState,
    ChildStatus,
    EventBus,
    EventName,
    FakeClock,
    LifecycleEvent,
    Liveness,
    OnExhausted,
    RestartBudget,
    Runtime,
    StatusBoard,
    SupervisedActor,
    SupervisorSpec,
)
from tests.helpers import WAIT, wait_until

poll = wait_until  # the name runtime tests know it by


@dataclass(frozen=True, slots=True)
class Crash:
    """Tell a fake child to raise inside receive()."""


@dataclass(frozen=True, slots=True)
class Exit:
    """Tell a fake child to call sys.exit() inside receive() (a BaseException, not an error)."""


@dataclass(frozen=True, slots=True)
class Block:
    """Tell a fake child to block inside receive() until `gate` is set."""

    gate: threading.Event
    entered: threading.Event = field(default_factory=threading.Event)


@dataclass(slots=True)
class Behaviour:
    fail_start: bool = False  # started() raises
    exit_start: bool = False  # started() calls sys.exit()
    heartbeat_on_start: bool = True  # the first heartbeat makes it healthy at once
    stop_hook: Callable[[str], object] | None = None  # runs inside stopped()


class Probe:
    """Records every incarnation of every fake child, and a log of starts and stops in order."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.contexts: dict[str, list[ChildContext]] = {}
        self.refs: dict[str, list[pykka.ActorRef[Any]]] = {}
        self.log: list[tuple[str, str, int]] = []  # (what, child id, incarnation)
        self.behaviours: dict[str, Behaviour] = {}

    def behaviour(self, child_id: str) -> Behaviour:
        with self._cond:
            return self.behaviours.setdefault(child_id, Behaviour())

    def spec(self, child_id: str, **kwargs: Any) -> ChildSpec:
        kwargs.setdefault("liveness", Liveness(heartbeat_timeout=None))
        kwargs.setdefault("budget", budget())
        kwargs.setdefault("shutdown_timeout", 2.0)

        def start(ctx: ChildContext) -> pykka.ActorRef[Any]:
            ref = FakeChild.start(ctx, self)
            with self._cond:
                self.refs.setdefault(child_id, []).append(ref)
                self._cond.notify_all()
            return ref

        return ChildSpec(id=child_id, start=start, **kwargs)

    def record(self, what: str, ctx: ChildContext) -> None:
        with self._cond:
            if what == "start":
                self.contexts.setdefault(ctx.child_id, []).append(ctx)
            self.log.append((what, ctx.child_id, ctx.incarnation))
            self._cond.notify_all()

    def ctx(self, child_id: str) -> ChildContext:
        with self._cond:
            return self.contexts[child_id][-1]

    def ref(self, child_id: str) -> pykka.ActorRef[Any]:
        with self._cond:
            return self.refs[child_id][-1]

    def incarnations(self, child_id: str) -> int:
        with self._cond:
            return len(self.contexts.get(child_id, []))

    def starts(self) -> list[tuple[str, int]]:
        with self._cond:
            return [(c, i) for what, c, i in self.log if what == "start"]

    def stops(self) -> list[tuple[str, int]]:
        with self._cond:
            return [(c, i) for what, c, i in self.log if what == "stop"]

    def wait_started(self, child_id: str, incarnation: int, timeout: float = WAIT) -> None:
        with self._cond:
            ok = self._cond.wait_for(
                lambda: len(self.contexts.get(child_id, [])) >= incarnation, timeout)
        assert ok, f"{child_id} incarnation {incarnation} never started"


class FakeChild(SupervisedActor):
    """A child with no resources: heartbeats once on start, crashes or blocks when told."""

    def __init__(self, ctx: ChildContext, probe: Probe) -> None:
        super().__init__(ctx)
        self.probe = probe

    def started(self) -> None:
        self.probe.record("start", self.ctx)
        behaviour = self.probe.behaviour(self.ctx.child_id)
        if behaviour.fail_start:
            raise RuntimeError("boom in started")
        if behaviour.exit_start:
            sys.exit(4)
        if behaviour.heartbeat_on_start:
            self.ctx.heartbeat()

    def receive(self, message: Any) -> Any:
        match message:
            case Crash():
                raise RuntimeError("boom in receive")
            case Exit():
                sys.exit(3)
            case Block(gate=gate, entered=entered):
                entered.set()
                gate.wait()
            case _:
                return super().receive(message)
        return None

    def stopped(self) -> None:
        hook = self.probe.behaviour(self.ctx.child_id).stop_hook
        if hook is not None:
            hook(self.ctx.child_id)
        self.probe.record("stop", self.ctx)


class EventLog:
    """Every lifecycle event of a bus, in order, with a way to wait for one."""

    def __init__(self, bus: EventBus) -> None:
        self._cond = threading.Condition()
        self.events: list[LifecycleEvent] = []
        bus.subscribe(self._hear)

    def _hear(self, event: LifecycleEvent) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def of(self, child: str, supervisor: str | None = None) -> list[LifecycleEvent]:
        with self._cond:
            return [e for e in self.events
                    if e.child == child and (supervisor is None or e.supervisor == supervisor)]

    def names(self, child: str, supervisor: str | None = None) -> list[EventName]:
        return [e.name for e in self.of(child, supervisor)]

    def count(self, child: str, name: EventName) -> int:
        return self.names(child).count(name)

    def wait(self, child: str, name: EventName, count: int = 1,
             timeout: float = WAIT) -> LifecycleEvent:
        def seen() -> bool:
            return sum(1 for e in self.events if e.child == child and e.name == name) >= count

        with self._cond:
            ok = self._cond.wait_for(seen, timeout)
            assert ok, f"no {count}x {name} for {child}; saw {[str(e.name) for e in self.events]}"
            return [e for e in self.events if e.child == child and e.name == name][count - 1]


def budget(
    max_restarts: int = 3,
    *,
    window: float = 600.0,
    initial: float = 1.0,
    factor: float = 2.0,
    maximum: float = 30.0,
    jitter: float = 0.0,
    reset_after: float = 300.0,
    on_exhausted: OnExhausted = OnExhausted.GIVE_UP,
    cooldown: float | None = 900.0,
) -> RestartBudget:
    return RestartBudget(
        max_restarts=max_restarts, window=window,
        backoff=Backoff(initial=initial, factor=factor, max=maximum, jitter=jitter),
        reset_after=reset_after, on_exhausted=on_exhausted, cooldown=cooldown)


class Harness:
    """One test's world: a FakeClock, an event log, a status board, fake children, runtimes."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.bus = EventBus()
        self.events = EventLog(self.bus)
        self.board = StatusBoard()
        self.probe = Probe()
        self.runtimes: list[Runtime] = []
        self._gates: list[Block] = []

    def start(self, spec: SupervisorSpec, seed: int = 7) -> Runtime:
        runtime = Runtime(spec, clock=self.clock, events=self.bus, board=self.board,
                          rng=random.Random(seed))
        self.runtimes.append(runtime)
        runtime.start()
        for child in spec.children:
            self.wait_state(child.id, *ChildState)  # every child has been published
        return runtime

    def spec(self, *children: ChildSpec, **kwargs: Any) -> SupervisorSpec:
        return SupervisorSpec(id=kwargs.pop("id", "sup"), children=children, **kwargs)

    def block(self, child_id: str) -> Block:
        """Block the current incarnation of `child_id` inside receive(); released at teardown."""
        block = Block(threading.Event())
        self._gates.append(block)
        self.probe.ref(child_id).tell(block)
        assert block.entered.wait(WAIT), f"{child_id} never blocked"
        return block

    def status(self, child_id: str) -> ChildStatus:
        status = self.board.get(child_id)
        assert status is not None, f"{child_id} was never published"
        return status

    def wait_status(self, child_id: str, predicate: Callable[[ChildStatus], bool],
                    what: str) -> None:
        def holds(board: StatusBoard) -> bool:
            status = board.get(child_id)
            return status is not None and predicate(status)

        assert self.board.wait_for(holds, WAIT), f"never: {what}; last {self.board.get(child_id)}"

    def wait_tick(self, child_id: str) -> None:
        """Wait until `child_id` has been published at the clock's current time (a tick ran)."""
        now = self.clock.time()
        self.wait_status(child_id, lambda s: s.published_at >= now, "a tick after the jump")

    def wait_state(self, child_id: str, *states: ChildState, timeout: float = WAIT) -> None:
        def reached(board: StatusBoard) -> bool:
            status = board.get(child_id)
            return status is not None and status.state in states

        if not self.board.wait_for(reached, timeout):
            status = self.board.get(child_id)
            raise AssertionError(f"{child_id} never reached {[str(s) for s in states]}; "
                                 f"last {status}")

    def wait_for(self, predicate: Callable[[StatusBoard], bool], what: str,
                 timeout: float = WAIT) -> None:
        assert self.board.wait_for(predicate, timeout), f"never: {what}"

    def close(self) -> None:
        for block in self._gates:
            block.gate.set()
        for runtime in self.runtimes:
            runtime.stop(timeout=WAIT)
        threads = [c.thread for cs in self.probe.contexts.values() for c in cs if c.thread]
        for thread in threads:
            thread.join(WAIT)
