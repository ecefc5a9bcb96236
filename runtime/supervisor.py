"""A supervisor is an actor that starts its children in order and restarts them by policy.

Mechanism lives here; the decisions are pure functions (`intensity.decide_restart`,
`backoff.backoff_delay`). All state is touched only on the supervisor's own thread; the
outside world sees it through the status board and the event bus.
"""

from __future__ import annotations

import itertools
import random
import threading
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import pykka

from runtime.backoff import backoff_delay
from runtime.child import SupervisedActor
from runtime.context import ChildContext
from runtime.events import EventBus, LifecycleEvent
from runtime.intensity import RestartBudget, decide_restart, in_window
from runtime.messages import (
    Activity,
    AuthRequired,
    ChildExited,
    Healthy,
    Heartbeat,
    RestartChild,
    RestartDue,
    StartChild,
    StopChild,
    Terminated,
    Tick,
    Unhealthy,
)
from runtime.scheduler import Timer
from runtime.shutdown import Outcome, shut_down
from runtime.spec import ChildSpec, Liveness, SupervisorSpec
from runtime.status import ChildStatus, StatusBoard
from runtime.vocabulary import (
    ChildState,
    EventName,
    OnExhausted,
    Reason,
    Restart,
    Strategy,
)

__all__ = ["Escalation", "Supervisor"]

RUNNING = frozenset({
    ChildState.STARTING, ChildState.HEALTHY, ChildState.UNHEALTHY, ChildState.AUTH_REQUIRED,
})


class Escalation(RuntimeError):
    """Raised inside a supervisor whose child exhausted an `escalate` budget: it fails upwards."""


class _After(Enum):
    RESTART = "restart"
    STOP = "stop"
    FAIL = "fail"


class _Child:
    """The supervisor's mutable record of one child (its OTP `#child{}`)."""

    __slots__ = (
        "abandoned", "after", "batch", "ctx", "healthy_since", "incarnation", "last_activity",
        "last_heartbeat", "last_reason", "ref", "restart_decided_at", "restarts",
        "restarts_total", "spec", "started_at", "state",
    )

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.state = ChildState.STOPPED
        self.incarnation = 0
        self.ref: pykka.ActorRef[Any] | None = None
        self.ctx: ChildContext | None = None
        self.restarts: tuple[float, ...] = ()
        self.restarts_total = 0
        self.last_reason: Reason | None = None
        self.started_at: float | None = None
        self.last_heartbeat: float | None = None
        self.last_activity: float | None = None
        self.healthy_since: float | None = None
        self.restart_decided_at: float | None = None
        self.batch: int | None = None
        self.after = _After.RESTART
        self.abandoned = 0


@dataclass(slots=True)
class _Batch:
    """Children being stopped together, then settled or restarted together in start order."""

    id: int
    children: list[str]
    delay: float
    terminated: bool = False
    timer: Timer | None = None
    reapers: list[threading.Thread] = field(default_factory=list)


class Supervisor(SupervisedActor):
    """Supervises the children of a `SupervisorSpec`; is itself a child of its parent."""

    def __init__(
        self,
        ctx: ChildContext,
        spec: SupervisorSpec,
        events: EventBus,
        board: StatusBoard,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(ctx)
        self.spec = spec
        self.events = events
        self.board = board
        self.clock = ctx.clock
        self.scheduler = ctx.scheduler
        self._rng = rng or random.Random()
        self._order = [c.id for c in spec.children]
        self._children = {c.id: _Child(c) for c in spec.children}
        self._batches: dict[int, _Batch] = {}
        self._batch_ids = itertools.count(1)
        self._reapers: list[threading.Thread] = []
        self._tick_timer: Timer | None = None

    @classmethod
    def child_spec(
        cls,
        spec: SupervisorSpec,
        events: EventBus,
        board: StatusBoard,
        *,
        budget: RestartBudget | None = None,
        restart: Restart = Restart.PERMANENT,
    ) -> ChildSpec:
        """A spec that runs this supervisor as a child of another one.

        It heartbeats its parent on every tick, so a hung supervisor is caught like any child;
        its shutdown timeout covers the shutdown of all its own children.
        """
        shutdown = 2 * sum(c.shutdown_timeout for c in spec.children) + 5.0
        if spec.strategy is Strategy.ONE_FOR_ONE:
            shutdown = 2 * max((c.shutdown_timeout for c in spec.children), default=0) + 5.0
        return ChildSpec(
            id=spec.id,
            start=lambda ctx: cls.start(ctx, spec, events, board),
            restart=restart,
            shutdown_timeout=shutdown,
            budget=budget or RestartBudget(),
            liveness=Liveness(heartbeat_timeout=max(10.0, 20 * spec.tick)),
        )

    @property
    def mailbox_size(self) -> int:
        return self.actor_inbox.qsize()

    # --- lifecycle (actor thread) ---------------------------------------------------------------

    def started(self) -> None:
        now = self.clock.monotonic()
        for child_id in self._order:
            self._start_child(self._children[child_id], now)
        self._tick_timer = self.scheduler.call_every(self.spec.tick, self._tell_tick)
        self._publish()

    def stopped(self) -> None:
        """Stop every child (in reverse start order), wait for reapers, publish `stopped`."""
        if self._tick_timer is not None:
            self._tick_timer.cancel()
        for batch in self._batches.values():
            if batch.timer is not None:
                batch.timer.cancel()
        running = [c for c in reversed(self._order_records()) if c.ref is not None]
        for child in running:
            child.state = ChildState.STOPPED
        if self.spec.strategy is Strategy.ONE_FOR_ONE:
            # Independent children: end them side by side (30 browsers closed one by one take ~9s).
            reapers = [self._reap_in_thread(c) for c in running]
            for reaper in reapers:
                reaper.join()
        else:
            for child in running:
                self._reap_now(child)
        for reaper in self._reapers:
            reaper.join()
        for child in self._children.values():
            child.state = ChildState.STOPPED
            child.batch = None
        self._publish()

    def receive(self, message: Any) -> Any:
        match message:
            case Heartbeat(child_id=child_id, incarnation=incarnation):
                child = self._children.get(child_id)
                if child is not None and child.incarnation == incarnation and child.ref is not None:
                    now = self.clock.monotonic()
                    child.last_heartbeat = now
                    if child.state is ChildState.STARTING:
                        self._became_healthy(child, now)
            case Activity(child_id=child_id, incarnation=incarnation):
                child = self._live(child_id, incarnation)
                if child is not None:
                    child.last_activity = self.clock.monotonic()
            case Unhealthy():
                self._on_unhealthy(message)
            case Healthy(child_id=child_id, incarnation=incarnation):
                child = self._live(child_id, incarnation)
                if child is not None and child.state in (
                    ChildState.UNHEALTHY, ChildState.AUTH_REQUIRED
                ):
                    self._became_healthy(child, self.clock.monotonic())
            case AuthRequired(child_id=child_id, incarnation=incarnation, detail=detail):
                child = self._live(child_id, incarnation)
                if child is not None and child.state is not ChildState.AUTH_REQUIRED:
                    child.state = ChildState.AUTH_REQUIRED
                    child.healthy_since = None
                    self._emit(EventName.AUTH_REQUIRED, child, detail=detail)
                    self._publish()
            case ChildExited():
                self._on_exited(message)
            case Tick():
                self._on_tick()
            case Terminated():
                self._on_terminated(message)
            case RestartDue(batch=batch_id):
                self._on_restart_due(batch_id)
            case RestartChild(child_id=child_id):
                self._manual_restart(child_id)
            case StopChild(child_id=child_id):
                self._manual_stop(child_id)
            case StartChild(child_id=child_id):
                self._manual_restart(child_id, only_if_down=True)
            case _:
                return super().receive(message)
        return None

    # --- reports from children -----------------------------------------------------------------

    def _live(self, child_id: str, incarnation: int) -> _Child | None:
        child = self._children.get(child_id)
        if child is None or child.incarnation != incarnation or child.state not in RUNNING:
            return None
        return child

    def _on_unhealthy(self, message: Unhealthy) -> None:
        child = self._live(message.child_id, message.incarnation)
        if child is None:
            return
        if message.restart:
            self._fault(child, message.reason, message.detail)
        elif child.state is not ChildState.UNHEALTHY:
            child.state = ChildState.UNHEALTHY
            child.healthy_since = None
            self._emit(EventName.CHILD_UNHEALTHY, child, reason=message.reason,
                       detail=message.detail)
            self._publish()

    def _on_exited(self, message: ChildExited) -> None:
        child = self._live(message.child_id, message.incarnation)
        if child is None:
            return  # an old incarnation, or one we are stopping ourselves
        self._emit(EventName.CHILD_EXITED, child, detail=message.error)
        if message.abnormal or child.spec.restart is Restart.PERMANENT:
            self._fault(child, Reason.CRASH, message.error or "exited")
        else:
            self._terminate([child], _After.STOP, delay=0.0, graceful=True)

    def _became_healthy(self, child: _Child, now: float) -> None:
        child.state = ChildState.HEALTHY
        child.healthy_since = now
        if child.restart_decided_at is not None:
            self._emit(EventName.CHILD_RECOVERED, child, reason=child.last_reason,
                       recovery_seconds=now - child.restart_decided_at)
            child.restart_decided_at = None
        else:
            self._emit(EventName.CHILD_HEALTHY, child)
        self._publish()

    # --- policy: what a fault leads to -----------------------------------------------------------

    def _fault(self, child: _Child, reason: Reason, detail: str) -> None:
        now = self.clock.monotonic()
        graceful = reason is not Reason.HEARTBEAT  # a hung child will not read a stop message
        if child.spec.restart is Restart.TEMPORARY:
            child.last_reason = reason
            self._terminate([child], _After.FAIL, delay=0.0, graceful=graceful)
            return
        budget = child.spec.budget
        decision = decide_restart(child.restarts, now, budget, child.healthy_since)
        child.restarts = decision.restarts
        child.last_reason = reason
        if decision.exhausted:
            self._emit(EventName.REACHED_MAX_RESTARTS, child, reason=reason, detail=detail)
            if budget.on_exhausted is OnExhausted.ESCALATE:
                self._emit(EventName.SUPERVISOR_ESCALATED, child, reason=reason, detail=detail)
                raise Escalation(
                    f"{self.spec.id}/{child.spec.id} reached max restarts "
                    f"({budget.max_restarts} in {budget.window:g}s), last reason {reason}"
                )
            self._terminate([child], _After.FAIL, delay=0.0, graceful=graceful)
            return
        child.restarts_total += 1
        delay = backoff_delay(budget.backoff, decision.attempt, self._rng.random())
        self._emit(EventName.RESTART_SCHEDULED, child, reason=reason, attempt=decision.attempt,
                   delay=delay, detail=detail)
        affected = self._affected(child)
        for other in affected:
            other.restart_decided_at = now
        self._terminate(affected, _After.RESTART, delay=delay, graceful=graceful)

    def _affected(self, child: _Child) -> list[_Child]:
        """The children a failure of `child` restarts, in start order."""
        if self.spec.strategy is Strategy.ONE_FOR_ONE:
            return [child]
        records = self._order_records()
        if self.spec.strategy is Strategy.REST_FOR_ONE:
            records = records[records.index(child):]
        return [c for c in records if c is child or c.state in RUNNING]

    # --- manual control --------------------------------------------------------------------------

    def _manual_restart(self, child_id: str, *, only_if_down: bool = False) -> None:
        child = self._children.get(child_id)
        if child is None:
            return
        if only_if_down and child.state in RUNNING:
            return
        child.restarts = ()  # a manual restart or start always begins a fresh budget
        child.last_reason = Reason.MANUAL
        child.restarts_total += 1
        self._emit(EventName.RESTART_SCHEDULED, child, reason=Reason.MANUAL, attempt=0, delay=0.0)
        child.restart_decided_at = self.clock.monotonic()
        if child.batch is not None:
            child.after = _After.RESTART
            batch = self._batches[child.batch]
            batch.delay = 0.0
            if batch.terminated:  # waiting out a backoff: cut it short
                if batch.timer is not None:
                    batch.timer.cancel()
                self._on_restart_due(batch.id)
            return
        if child.state in RUNNING:
            self._terminate([child], _After.RESTART, delay=0.0, graceful=True)
        else:
            self._start_child(child, self.clock.monotonic())
            self._emit(EventName.CHILD_RESTARTED, child, reason=Reason.MANUAL)
            self._publish()

    def _manual_stop(self, child_id: str) -> None:
        child = self._children.get(child_id)
        if child is None or child.state in (ChildState.STOPPED, ChildState.FAILED):
            return
        child.restart_decided_at = None
        if child.batch is not None:
            child.after = _After.STOP
            batch = self._batches[child.batch]
            if batch.terminated:
                self._settle(child)
                batch.children.remove(child.spec.id)
                self._publish()
            return
        self._terminate([child], _After.STOP, delay=0.0, graceful=True)

    # --- mechanism: stopping and starting --------------------------------------------------------

    def _terminate(self, children: list[_Child], after: _After, *, delay: float,
                   graceful: bool) -> None:
        """Stop `children` off-thread (reverse order), then settle them after `delay`."""
        batch = _Batch(id=next(self._batch_ids), children=[c.spec.id for c in children],
                       delay=delay)
        self._batches[batch.id] = batch
        victims = []
        for child in reversed(children):
            child.batch = batch.id
            child.after = after
            child.state = ChildState.RESTARTING
            victims.append((child.ref, child.ctx, child.spec))
            child.ref = None
        thread = threading.Thread(
            target=self._reap_batch, args=(batch.id, victims, graceful),
            name=f"warden-reaper-{self.spec.id}-{batch.id}", daemon=True,
        )
        self._reapers = [t for t in self._reapers if t.is_alive()]
        self._reapers.append(thread)
        thread.start()
        self._publish()

    def _reap_batch(
        self,
        batch_id: int,
        victims: list[tuple[pykka.ActorRef[Any] | None, ChildContext | None, ChildSpec]],
        graceful: bool,
    ) -> None:
        """Reaper thread: end each victim in turn, then tell the supervisor."""
        killed: list[str] = []
        abandoned: list[str] = []
        for ref, ctx, spec in victims:
            if ctx is None:
                continue
            outcome = shut_down(ref, ctx, spec, graceful=graceful)
            if outcome is Outcome.KILLED:
                killed.append(spec.id)
            elif outcome is Outcome.ABANDONED:
                abandoned.append(spec.id)
        try:
            self.actor_ref.tell(Terminated(batch_id, tuple(abandoned), tuple(killed)))
        except pykka.ActorDeadError:
            pass

    def _reap_in_thread(self, child: _Child) -> threading.Thread:
        thread = threading.Thread(target=self._reap_now, args=(child,), daemon=True,
                                  name=f"warden-reaper-{self.spec.id}-{child.spec.id}")
        thread.start()
        return thread

    def _reap_now(self, child: _Child) -> None:
        if child.ctx is not None:
            shut_down(child.ref, child.ctx, child.spec, graceful=True)
        child.ref = None

    def _on_terminated(self, message: Terminated) -> None:
        batch = self._batches.get(message.batch)
        if batch is None:
            return
        batch.terminated = True
        for child_id in message.killed:
            self._emit(EventName.CHILD_KILLED, self._children[child_id])
        for child_id in message.abandoned:
            self._children[child_id].abandoned += 1
            self._emit(EventName.CHILD_ABANDONED, self._children[child_id])
        waiting = []
        for child_id in batch.children:
            child = self._children[child_id]
            if child.batch != batch.id:
                continue
            if child.after is _After.RESTART:
                child.state = ChildState.BACKOFF
                waiting.append(child_id)
            else:
                self._settle(child)
        batch.children = waiting
        if not waiting:
            del self._batches[batch.id]
        elif batch.delay <= 0:
            self._on_restart_due(batch.id)
        else:
            batch.timer = self.scheduler.call_later(
                batch.delay, lambda: self._tell_safely(RestartDue(batch.id)))
        self._publish()

    def _settle(self, child: _Child) -> None:
        child.batch = None
        if child.after is _After.STOP:
            child.state = ChildState.STOPPED
            self._emit(EventName.CHILD_STOPPED, child)
        else:
            child.state = ChildState.FAILED

    def _on_restart_due(self, batch_id: int) -> None:
        batch = self._batches.pop(batch_id, None)
        if batch is None:
            return
        now = self.clock.monotonic()
        for child_id in batch.children:
            child = self._children[child_id]
            if child.batch != batch_id:
                continue
            if child.after is _After.RESTART:
                self._start_child(child, now)
                self._emit(EventName.CHILD_RESTARTED, child, reason=child.last_reason)
            else:
                self._settle(child)
        self._publish()

    def _start_child(self, child: _Child, now: float) -> None:
        child.incarnation += 1
        child.batch = None
        child.after = _After.RESTART
        child.state = ChildState.STARTING
        child.started_at = now
        child.last_heartbeat = None
        child.last_activity = None
        child.healthy_since = None
        ctx = ChildContext(child.spec.id, child.incarnation, self._tell_safely, self.clock,
                           self.scheduler)
        child.ctx = ctx
        try:
            child.ref = child.spec.start(ctx)
        except Exception as exc:
            child.ref = None
            self._emit(EventName.CHILD_STARTED, child)
            ctx.exited(abnormal=True, error=f"start failed: {exc!r}")
            return
        self._emit(EventName.CHILD_STARTED, child)

    # --- the timer -------------------------------------------------------------------------------

    def _on_tick(self) -> None:
        now = self.clock.monotonic()
        for child in list(self._children.values()):
            if child.state not in RUNNING:
                continue
            liveness = child.spec.liveness
            since_heartbeat = now - (child.last_heartbeat or child.started_at or now)
            if liveness.heartbeat_timeout is not None and since_heartbeat > liveness.heartbeat_timeout:
                self._fault(child, Reason.HEARTBEAT, f"no heartbeat for {since_heartbeat:.1f}s")
                continue
            since_activity = now - (child.last_activity or child.started_at or now)
            if (
                liveness.activity_timeout is not None
                and child.state is not ChildState.AUTH_REQUIRED
                and since_activity > liveness.activity_timeout
            ):
                self._fault(child, Reason.ACTIVITY, f"no activity for {since_activity:.1f}s")
        self.ctx.heartbeat()
        self._publish(now)

    def _tell_tick(self) -> None:
        self._tell_safely(Tick())

    def _tell_safely(self, message: object) -> None:
        try:
            self.actor_ref.tell(message)
        except pykka.ActorDeadError:
            pass

    # --- what the outside sees ---------------------------------------------------------------

    def _order_records(self) -> list[_Child]:
        return [self._children[i] for i in self._order]

    def _emit(self, name: EventName, child: _Child, **fields: Any) -> None:
        self.events.emit(LifecycleEvent(name=name, supervisor=self.spec.id, child=child.spec.id,
                                        at=self.clock.time(), **fields))

    def _publish(self, now: float | None = None) -> None:
        now = self.clock.monotonic() if now is None else now
        wall_offset = self.clock.time() - now

        def wall(t: float | None) -> float | None:
            return None if t is None else t + wall_offset

        statuses = tuple(
            ChildStatus(
                id=c.spec.id,
                supervisor=self.spec.id,
                state=c.state,
                restarts=len(in_window(c.restarts, now, c.spec.budget, c.healthy_since)),
                restarts_total=c.restarts_total,
                last_restart_reason=c.last_reason,
                last_heartbeat=wall(c.last_heartbeat),
                last_activity=wall(c.last_activity),
                started_at=wall(c.started_at) if c.state in RUNNING else None,
                abandoned_threads=c.abandoned,
                published_at=now + wall_offset,
                details=c.ctx.details if c.ctx is not None else {},
                mailbox_size=c.ref.actor_inbox.qsize() if c.ref is not None else 0,
                messages=c.ctx.messages if c.ctx is not None else 0,
            )
            for c in self._order_records()
        )
        self.board.publish(self.spec.id, statuses, self.actor_ref)
