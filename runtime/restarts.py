"""Restarts are the mechanism under a supervisor's policy: stop children off-thread in batches,
wait out a backoff, then start them again in start order.

The supervisor decides *whether* and *whom* to restart (policy); this module does it. Like the
records it works on, it is used only on the supervisor's own thread, except `_reap`, which runs
on a reaper thread and touches nothing but what it was handed and the supervisor's inbox.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

import pykka

from runtime.clock import Clock
from runtime.context import ChildContext
from runtime.messages import RestartDue, Terminated
from runtime.records import After, Batch, ChildRecord
from runtime.scheduler import Scheduler
from runtime.shutdown import Outcome, shut_down
from runtime.spec import ChildSpec
from runtime.vocabulary import ChildState, EventName

__all__ = ["Restarts"]

# A victim for a reaper thread: its actor, its context, its spec, and whether to ask it first.
_Victim = tuple["pykka.ActorRef[Any] | None", ChildContext, ChildSpec, bool]


class Restarts:
    """Batches of children being stopped and restarted for one supervisor."""

    def __init__(
        self,
        owner: str,
        records: list[ChildRecord],
        *,
        in_order: bool,
        clock: Clock,
        scheduler: Scheduler,
        notify: Callable[[object], None],
        emit: Callable[..., None],
        changed: Callable[[], None],
    ) -> None:
        self.owner = owner
        self.records = records
        self.children = {r.spec.id: r for r in records}
        self.position = {r.spec.id: i for i, r in enumerate(records)}
        self.in_order = in_order  # later children depend on earlier ones (not one_for_one)
        self.clock = clock
        self.scheduler = scheduler
        self.notify = notify  # tells the supervisor, from any thread
        self.emit = emit
        self.changed = changed
        self.batches: dict[int, Batch] = {}
        self._ids = itertools.count(1)
        self._reapers: list[threading.Thread] = []

    # --- starting ------------------------------------------------------------------------------

    def start(self, child: ChildRecord, now: float) -> None:
        """Start a new incarnation of `child`; a start that raises is reported as its exit."""
        child.incarnation += 1
        child.batch = None
        child.after = After.RESTART
        child.state = ChildState.STARTING
        child.started_at = now
        child.last_heartbeat = None
        child.last_activity = None
        child.healthy_since = None
        ctx = ChildContext(child.spec.id, child.incarnation, self.notify, self.clock,
                           self.scheduler)
        child.ctx = ctx
        self.changed()
        try:
            child.ref = child.spec.start(ctx)
        except Exception as exc:
            child.ref = None
            self.emit(EventName.CHILD_STARTED, child)
            ctx.exited(abnormal=True, error=f"start failed: {exc!r}")
            return
        self.emit(EventName.CHILD_STARTED, child)

    # --- stopping --------------------------------------------------------------------------------

    def terminate(self, children: list[ChildRecord], after: After, *, delay: float,
                  hung: ChildRecord | None = None) -> None:
        """Stop `children` off-thread (reverse order), then settle them after `delay`.

        `hung` is killed at once instead of being asked to stop first.
        """
        batch = Batch(id=next(self._ids), children=[c.spec.id for c in children], delay=delay)
        self.batches[batch.id] = batch
        victims: list[_Victim] = []
        for child in reversed(children):
            child.batch = batch.id
            child.after = after
            child.state = ChildState.RESTARTING
            if child.ctx is not None:
                victims.append((child.ref, child.ctx, child.spec, child is not hung))
            child.ref = None
        thread = threading.Thread(target=self._reap, args=(batch.id, victims), daemon=True,
                                  name=f"warden-reaper-{self.owner}-{batch.id}")
        self._reapers = [t for t in self._reapers if t.is_alive()]
        self._reapers.append(thread)
        thread.start()
        self.changed()

    def _reap(self, batch_id: int, victims: list[_Victim]) -> None:
        """Reaper thread: end each victim in turn, then tell the supervisor."""
        killed: list[str] = []
        abandoned: list[str] = []
        for ref, ctx, spec, graceful in victims:
            outcome = shut_down(ref, ctx, spec, graceful=graceful)
            if outcome is Outcome.KILLED:
                killed.append(spec.id)
            elif outcome is Outcome.ABANDONED:
                abandoned.append(spec.id)
        self.notify(Terminated(batch_id, tuple(abandoned), tuple(killed)))

    def terminated(self, message: Terminated) -> None:
        """A reaper is done: count kills and abandoned threads, then wait out the backoff."""
        batch = self.batches.get(message.batch)
        if batch is None:
            return
        batch.terminated = True
        for child_id in message.killed:
            self.emit(EventName.CHILD_KILLED, self.children[child_id])
        for child_id in message.abandoned:
            self.children[child_id].abandoned += 1
            self.emit(EventName.CHILD_ABANDONED, self.children[child_id])
        waiting = []
        for child_id in batch.children:
            child = self.children[child_id]
            if child.batch != batch.id:
                continue
            if child.after is After.RESTART:
                child.state = ChildState.BACKOFF
                waiting.append(child_id)
            else:
                self.settle(child)
        batch.children = waiting
        self.changed()
        if not waiting:
            del self.batches[batch.id]
        elif batch.delay <= 0:
            self.due(batch.id)
        else:
            batch.timer = self.scheduler.call_later(
                batch.delay, lambda: self.notify(RestartDue(batch.id)))

    def settle(self, child: ChildRecord) -> None:
        """Leave `child` down for good: stopped on request, or failed."""
        child.batch = None
        if child.after is After.STOP:
            child.state = ChildState.STOPPED
            self.emit(EventName.CHILD_STOPPED, child)
        else:
            child.state = ChildState.FAILED

    # --- after the backoff -------------------------------------------------------------------

    def due(self, batch_id: int) -> None:
        """The backoff of `batch_id` ran out: start its children in start order."""
        batch = self.batches.pop(batch_id, None)
        if batch is None:
            return
        self.changed()
        ahead = self._pending_ahead_of(batch)
        if ahead is not None:
            # Later children depend on earlier ones: wait for them and start after them.
            for child_id in batch.children:
                if self.children[child_id].batch == batch_id:
                    self.children[child_id].batch = ahead.id
                    ahead.children.append(child_id)
            ahead.children.sort(key=self.position.__getitem__)
            return
        now = self.clock.monotonic()
        for child_id in batch.children:
            child = self.children[child_id]
            if child.batch != batch_id:
                continue
            if child.after is After.RESTART:
                self.start(child, now)
                self.emit(EventName.CHILD_RESTARTED, child, reason=child.last_reason)
            else:
                self.settle(child)

    def _pending_ahead_of(self, batch: Batch) -> Batch | None:
        """When order matters, the batch of an earlier child that is still to restart."""
        if not self.in_order:
            return None
        first = min((self.position[i] for i in batch.children
                     if self.children[i].batch == batch.id), default=None)
        if first is None:
            return None
        for child in self.records[:first]:
            if child.batch is not None and child.batch != batch.id and child.after is After.RESTART:
                return self.batches.get(child.batch)
        return None

    # --- operators, while a child is in a batch ------------------------------------------------

    def restart_now(self, child: ChildRecord) -> None:
        """Restart `child` (in a batch) as soon as it is down, without backoff."""
        assert child.batch is not None
        child.after = After.RESTART
        batch = self.batches[child.batch]
        batch.delay = 0.0
        if batch.terminated:  # waiting out a backoff: cut it short
            if batch.timer is not None:
                batch.timer.cancel()
            self.due(batch.id)

    def keep_down(self, child: ChildRecord) -> None:
        """Leave `child` (in a batch) stopped once it is down."""
        assert child.batch is not None
        child.after = After.STOP
        batch = self.batches[child.batch]
        if batch.terminated:  # already down, waiting out a backoff: settle it now
            batch.children.remove(child.spec.id)
            self.settle(child)
            self.changed()

    # --- the end -------------------------------------------------------------------------------

    def close(self) -> None:
        """Cancel every backoff and wait for the reapers (each ends within its timeouts)."""
        for batch in self.batches.values():
            if batch.timer is not None:
                batch.timer.cancel()
        for reaper in self._reapers:
            reaper.join()
        for child in self.records:
            child.batch = None
