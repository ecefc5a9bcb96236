"""Restarts carry out a supervisor's decisions: stop children in batches, wait, start them in order.

Whom to restart and after what delay is decided by `runtime.policy`; this is the mechanism
that does it, on the supervisor's own thread, changing each record only through its
transitions. Incarnations are ended on reaper threads and delays are timers; both report
back as messages to the supervisor's inbox (`Terminated`, `RestartDue`, `CooldownOver`).
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from runtime.clock import Clock
from runtime.context import ChildContext
from runtime.events import Announcer
from runtime.messages import CooldownOver, RestartDue, Terminated
from runtime.policy import Decision, Escalate, Fault, GiveUp, Ignore, LetStop, RestartAfter
from runtime.reaper import Reaped, Reaper
from runtime.records import After, ChildRecord
from runtime.roster import Roster
from runtime.scheduler import Scheduler, Timer
from runtime.spec import FaultNote
from runtime.vocabulary import ChildState, EventName, Reason

__all__ = ["Batch", "Restarts"]


@dataclass(slots=True)
class Batch:
    """Children stopped together, then settled or restarted together in start order."""

    id: int
    children: list[str]
    delay: float
    terminated: bool = False  # the reaper has finished with every child in it
    timer: Timer | None = None


class Restarts:
    """The batches of one supervisor's children being stopped, waited on and started again."""

    def __init__(
        self,
        roster: Roster,
        *,
        in_order: bool,
        announce: Announcer,
        clock: Clock,
        scheduler: Scheduler,
        inbox: Callable[[object], None],
    ) -> None:
        self.roster = roster
        self.in_order = in_order  # later children depend on earlier ones (not one_for_one)
        self.announce = announce
        self.clock = clock
        self.scheduler = scheduler
        self.inbox = inbox  # the supervisor's, for its children, its reapers and its timers
        self.reaper = Reaper(announce.supervisor, inbox)
        self.batches: dict[int, Batch] = {}
        self._ids = itertools.count(1)
        self._cooldowns: dict[str, float] = {}  # given up, to be tried again once down
        self._cooling: dict[str, Timer] = {}  # failed, waiting out a cooldown

    # --- starting ------------------------------------------------------------------------------

    def start(self, child: ChildRecord, now: float) -> None:
        """Start a new incarnation of `child`; a start that raises is reported as its exit."""
        self._end_cooldown(child)  # whatever started it supersedes a cooldown
        ctx = ChildContext(child.id, child.incarnation + 1, self.inbox, self.clock, self.scheduler)
        child.started(ctx, now)
        try:
            child.attached(child.spec.start(ctx))
        except Exception as exc:
            self.announce(EventName.CHILD_STARTED, child.id)
            ctx.exited(abnormal=True, error=f"start failed: {exc!r}")
            return
        self.announce(EventName.CHILD_STARTED, child.id)

    # --- stopping --------------------------------------------------------------------------------

    def stop(self, children: Sequence[ChildRecord], after: After, *, delay: float = 0.0,
             hung: ChildRecord | None = None,
             notes: Mapping[str, FaultNote] | None = None) -> None:
        """Stop `children` off-thread (reverse order), then settle them after `delay`.

        `hung` is killed at once instead of being asked to stop first; `notes` say which fault
        stops which child, for their `on_fault` hooks.
        """
        batch = Batch(id=next(self._ids), children=[c.id for c in children], delay=delay)
        self.batches[batch.id] = batch
        victims: list[Reaped] = []
        for child in reversed(children):
            victim = child.stopping(batch.id, after)
            if victim is not None:
                victims.append((victim, child is not hung, (notes or {}).get(child.id)))
        self.reaper.reap(batch.id, victims)

    def _note(self, child: ChildRecord, reason: Reason, detail: str) -> FaultNote:
        """A fault note with a new id: unique, and sorting by time (milliseconds, then random)."""
        fault_id = f"{int(self.clock.time() * 1000):012x}{secrets.token_hex(3)}"
        return FaultNote(child.id, fault_id, reason, detail)

    def terminated(self, message: Terminated) -> None:
        """A reaper is done: count kills and abandoned threads, then wait out the backoff."""
        batch = self.batches.get(message.batch)
        if batch is None:
            return
        batch.terminated = True
        for child_id in message.killed:
            self.announce(EventName.CHILD_KILLED, child_id)
        for child_id in message.abandoned:
            self.roster[child_id].abandoned_thread()
            self.announce(EventName.CHILD_ABANDONED, child_id)
        waiting = []
        for child in self._members(batch):
            if child.down() is After.RESTART:
                waiting.append(child.id)
            else:
                self._settle(child)
        batch.children = waiting
        if not waiting:
            del self.batches[batch.id]
        elif batch.delay <= 0:
            self.due(batch.id)
        else:
            batch.timer = self.scheduler.call_later(
                batch.delay, lambda: self.inbox(RestartDue(batch.id)))

    def _settle(self, child: ChildRecord) -> None:
        """Leave `child` down: stopped on request, or failed (until its cooldown ends, if any)."""
        retry_after = self._cooldowns.pop(child.id, None)
        if child.after is After.STOP:
            child.stopped()
            self.announce(EventName.CHILD_STOPPED, child.id)
            return
        child.failed()
        if retry_after is not None:
            over = CooldownOver(child.id, child.incarnation)
            self._cooling[child.id] = self.scheduler.call_later(
                retry_after, lambda: self.inbox(over))

    def _members(self, batch: Batch) -> list[ChildRecord]:
        """The children still in `batch`, in its order (an operator may have taken one out)."""
        return [c for c in map(self.roster.__getitem__, batch.children) if c.batch == batch.id]

    # --- after the backoff -------------------------------------------------------------------

    def due(self, batch_id: int) -> None:
        """The backoff of `batch_id` ran out: start its children in start order."""
        batch = self.batches.pop(batch_id, None)
        if batch is None:
            return
        ahead = self._pending_ahead_of(batch)
        if ahead is not None:
            # Later children depend on earlier ones: wait for them and start after them.
            for child in self._members(batch):
                child.moved_to(ahead.id)
                ahead.children.append(child.id)
            ahead.children.sort(key=self.roster.position)
            return
        now = self.clock.monotonic()
        for child in self._members(batch):
            if child.after is After.RESTART:
                self.start(child, now)
                self.announce(EventName.CHILD_RESTARTED, child.id, reason=child.last_reason)
            else:
                self._settle(child)

    def _pending_ahead_of(self, batch: Batch) -> Batch | None:
        """When order matters, the batch of an earlier child that is still to restart."""
        if not self.in_order:
            return None
        members = self._members(batch)
        if not members:
            return None
        first = min(members, key=lambda c: self.roster.position(c.id))
        for child in self.roster.before(first.id):
            if child.batch is not None and child.after is After.RESTART:
                return self.batches.get(child.batch)
        return None

    # --- carrying out decisions ----------------------------------------------------------------

    def carry_out(self, child: ChildRecord, fault: Fault, decision: Decision, now: float) -> None:
        """Do what the policy decided about `fault` of `child`, and announce it."""
        hung = child if fault.reason is Reason.HEARTBEAT else None  # it will not read a stop
        reason, detail = fault.reason, fault.detail
        match decision:
            case Ignore():
                pass
            case LetStop():
                self.stop([child], After.STOP)
            case GiveUp(restarts=restarts, exhausted=exhausted, retry_after=retry_after):
                child.faulted(reason, restarts)
                note = self._note(child, reason, detail)
                if exhausted:
                    self.announce(EventName.REACHED_MAX_RESTARTS, child.id, reason=reason,
                                  detail=detail, fault_id=note.fault_id)
                if retry_after is not None:
                    self._cooldowns[child.id] = retry_after
                    self.announce(EventName.RESTART_SCHEDULED, child.id, reason=reason,
                                  attempt=0, delay=retry_after,
                                  detail=f"cooldown: tried again {retry_after:g}s after failing")
                self.stop([child], After.FAIL, hung=hung, notes={child.id: note})
            case Escalate(restarts=restarts):  # the supervisor fails next; its parent decides
                child.faulted(reason, restarts)
                self.announce(EventName.REACHED_MAX_RESTARTS, child.id, reason=reason,
                              detail=detail)
                self.announce(EventName.SUPERVISOR_ESCALATED, child.id, reason=reason,
                              detail=detail)
            case RestartAfter(children=ids, delay=delay, attempt=attempt, restarts=restarts):
                child.faulted(reason, restarts)
                notes = {child.id: self._note(child, reason, detail)}
                self.announce(EventName.RESTART_SCHEDULED, child.id, reason=reason,
                              attempt=attempt, delay=delay, detail=detail,
                              fault_id=notes[child.id].fault_id)
                affected = [self.roster[i] for i in ids]
                for other in affected:  # siblings restarted with it share its reason, not budget
                    other.restart_decided(reason, now)
                    if other is not child and other.spec.depends_on in ids:
                        why = (f"{child.id} restarts and {other.id} depends on "
                               f"{other.spec.depends_on}")
                        notes[other.id] = self._note(other, reason, why)
                        self.announce(EventName.RESTART_SCHEDULED, other.id, reason=reason,
                                      attempt=0, delay=delay, detail=why,
                                      fault_id=notes[other.id].fault_id)
                self._restart(affected, reason, now, delay=delay, hung=hung, notes=notes)

    def _restart(self, children: list[ChildRecord], reason: Reason, now: float, *,
                 delay: float, hung: ChildRecord | None,
                 notes: Mapping[str, FaultNote] | None = None) -> None:
        """Restart `children` wherever each is: stop the running ones, cut a backoff short."""
        running = [c for c in children if c.running]
        for child in children:
            if child.batch is not None:
                self._restart_now(child)
            elif not child.running:
                self.start(child, now)
                self.announce(EventName.CHILD_RESTARTED, child.id, reason=reason)
        if running:
            self.stop(running, After.RESTART, delay=delay, hung=hung, notes=notes)

    def _restart_now(self, child: ChildRecord) -> None:
        """Restart `child` (in a batch) as soon as it is down, without backoff."""
        assert child.batch is not None
        child.restart_now()
        batch = self.batches[child.batch]
        batch.delay = 0.0
        if batch.terminated:  # waiting out a backoff: cut it short
            if batch.timer is not None:
                batch.timer.cancel()
            self.due(batch.id)

    def keep_down(self, child: ChildRecord) -> None:
        """Stop `child` and keep it stopped, wherever it is: running, in a batch, cooling down."""
        if child.state is ChildState.STOPPED:
            return
        if child.state is ChildState.FAILED:
            if self._end_cooldown(child):
                child.stopped()
                self.announce(EventName.CHILD_STOPPED, child.id)
            return
        if child.batch is None:
            self.stop([child], After.STOP)
            return
        child.keep_down()
        batch = self.batches[child.batch]
        if batch.terminated:  # already down, waiting out a backoff: settle it now
            batch.children.remove(child.id)
            self._settle(child)

    # --- cooldowns ------------------------------------------------------------------------------

    def cooldown_over(self, child: ChildRecord, incarnation: int, fresh: RestartAfter,
                      now: float) -> None:
        """The cooldown of `child` ran out: start it again, budget fresh, for its last reason."""
        if child.incarnation != incarnation or not self._end_cooldown(child):
            return  # started or stopped by hand meanwhile
        reason = child.last_reason or Reason.CRASH
        child.faulted(reason, fresh.restarts)
        child.restart_decided(reason, now)
        self.start(child, now)
        self.announce(EventName.CHILD_RESTARTED, child.id, reason=reason)

    def forget(self, child: ChildRecord) -> None:
        """`child` (down for good) leaves the supervisor: nothing is to start it again."""
        self._end_cooldown(child)

    def _end_cooldown(self, child: ChildRecord) -> bool:
        """Forget a cooldown of `child`, planned or under way; True if one was waited out."""
        self._cooldowns.pop(child.id, None)
        timer = self._cooling.pop(child.id, None)
        if timer is None:
            return False
        timer.cancel()
        return True

    # --- the end -------------------------------------------------------------------------------

    def close(self) -> None:
        """Cancel every backoff and wait for the reapers (each ends within its timeouts)."""
        for batch in self.batches.values():
            if batch.timer is not None:
                batch.timer.cancel()
        for timer in self._cooling.values():
            timer.cancel()
        self.batches.clear()
        self.reaper.join()
