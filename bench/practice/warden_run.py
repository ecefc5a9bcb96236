"""A Warden run is a real `runtime.Runtime` supervising model sessions, stepped through a scenario
on a `FakeClock`.

The driver moves simulated time in steps and, after each, waits until everything due has been
handled, so no real time leaks into the figures: the scheduler has fired every timer due by now
(a marker timer due now fires after them), the supervisor has handled those ticks and backoffs
(it answers a report from no child only after all that was told before), every session has run
its checks, the supervisor has handled their reports, and every restart it decided has stopped
its child. Steps are 1 s while anything is amiss and 5 s while every session is healthy and no
fault is striking (heartbeats are then 5 s apart, half the 10 s timeout); the steps just before
a fault are 1 s again and none jumps past it. Detection is thus resolved to 1 s; the real
session, which pumps every 50 ms, would be at most that much quicker.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Any

import pykka

from actors.policy import Policy
from bench.practice.chat import ChatApp
from bench.practice.scenario import Scenario
from bench.practice.session_model import ModelSession, Step, StepOutcome
from runtime import (
    ChildContext,
    ChildSpec,
    ChildState,
    EventBus,
    EventName,
    FakeClock,
    LifecycleEvent,
    Liveness,
    Reason,
    Runtime,
    SupervisorSpec,
)
from runtime.messages import Activity

__all__ = ["SESSIONS", "WardenRun"]

SESSIONS = "sessions"
WAIT = 30.0  # real seconds for one consequence; reached only if something is broken
_SYNC = Activity("", 0)  # a report from no child: ignored, answered after all told before it


@dataclass(slots=True)
class _Incarnation:
    ref: pykka.ActorRef[Any]
    ctx: ChildContext
    hung: bool = False


class WardenRun:
    """One scenario under Warden's policy; `run()` returns the app's ledger."""

    def __init__(self, scenario: Scenario, policy: Policy | None = None, *,
                 fine: float = 1.0, coarse: float = 5.0) -> None:
        self.scenario = scenario
        self.policy = policy or Policy()
        self.fine, self.coarse = fine, coarse
        self.clock = FakeClock(start=0.0)
        self.app = ChatApp(scenario)
        self.events = EventBus()
        self.events.subscribe(self._hear)
        self.steps = 0
        self._lock = threading.Lock()
        self._live: dict[str, _Incarnation] = {}
        liveness = Liveness(heartbeat_timeout=self.policy.heartbeat_timeout,
                            activity_timeout=self.policy.activity_timeout)
        children = tuple(
            ChildSpec(id=p.id, start=self._starter(p.id), shutdown_timeout=2.0,
                      budget=self.policy.budget, liveness=liveness)
            for p in scenario.sessions)
        self.runtime = Runtime(SupervisorSpec(id=SESSIONS, children=children, parallel_stop=True),
                               clock=self.clock, events=self.events,
                               rng=random.Random(scenario.seed))

    def _starter(self, session: str) -> Any:
        def start(ctx: ChildContext) -> pykka.ActorRef[Any]:
            ref = ModelSession.start(ctx, self.app, self.policy, self.scenario.launch)
            with self._lock:
                self._live[session] = _Incarnation(ref, ctx)
            return ref

        return start

    def _hear(self, event: LifecycleEvent) -> None:
        """On the supervisor's thread, while the clock stands still: what it decided, now."""
        now = self.clock.monotonic()
        if event.name is EventName.RESTART_SCHEDULED and event.reason is not Reason.MANUAL:
            self.app.restart(event.child, now, str(event.reason))
        elif event.name is EventName.REACHED_MAX_RESTARTS:
            self.app.give_up(event.child, now)

    # --- running --------------------------------------------------------------------------------

    def run(self, until: float | None = None) -> ChatApp:
        """Run to the scenario's end (or `until`), then stop everything."""
        end = self.scenario.duration if until is None else until
        self.start()
        try:
            while self.clock.monotonic() < end - 1e-9:
                self.step(self._next_step(end))
        finally:
            self.close()
        return self.app

    def start(self) -> None:
        self.runtime.start()
        self._sync()

    def step(self, dt: float) -> None:
        """Move simulated time by `dt` and wait until all it set off has been handled."""
        self.clock.advance(dt)
        self.steps += 1
        self._fire_due_timers()
        self._sync()
        self.app.strike(self.clock.monotonic())
        self._step_sessions()
        self._sync()
        self._wait_stopped()

    def close(self) -> None:
        with self._lock:
            hung = [inc for inc in self._live.values() if inc.hung]
        for inc in hung:  # its browser is killed, as the supervisor would
            inc.ctx.kill()
        self.runtime.stop(timeout=WAIT)

    def _next_step(self, end: float) -> float:
        now = self.clock.monotonic()
        board = self.runtime.board.children(SESSIONS)
        calm = self.app.calm() and all(s.state is ChildState.HEALTHY for s in board)
        dt = self.coarse if calm else self.fine
        fault_at = self.app.next_fault_at(now)
        if fault_at is not None:
            if fault_at - now <= 2 * self.coarse:
                dt = self.fine  # heartbeats and canaries at the onset keep their real phase
            dt = min(dt, fault_at - now)
        return min(dt, end - now)

    def _fire_due_timers(self) -> None:
        fired = threading.Event()
        self.runtime.scheduler.call_later(0.0, fired.set)  # due now: after all due before it
        if not fired.wait(WAIT):
            raise RuntimeError("the scheduler did not fire its due timers")

    def _sync(self) -> None:
        root = self.runtime.root
        assert root is not None
        root.ask(_SYNC, timeout=WAIT)

    def _step_sessions(self) -> None:
        with self._lock:
            live = [inc for inc in self._live.values()
                    if not inc.hung and not inc.ctx.has_exited]
        asked = []
        for inc in live:
            try:
                asked.append((inc, inc.ref.ask(Step(), block=False)))
            except pykka.ActorDeadError:
                continue
        for inc, future in asked:
            try:
                outcome = future.get(timeout=WAIT)
            except pykka.ActorDeadError:
                continue
            if outcome is StepOutcome.HUNG:
                inc.hung = True
            elif outcome is StepOutcome.CRASHED and inc.ctx.thread is not None:
                inc.ctx.thread.join(WAIT)  # its end is told to the supervisor before this

    def _wait_stopped(self) -> None:
        """Every child the supervisor decided to restart has been stopped (its backoff began)."""
        def settled(board: Any) -> bool:
            return all(s.state is not ChildState.RESTARTING for s in board.children(SESSIONS))

        if not self.runtime.board.wait_for(settled, WAIT):
            raise RuntimeError("a restarted session was never stopped")
