"""A child record is the one writer of a child's lifecycle: every change is a named transition.

A supervisor keeps one record per child across all its incarnations, touched only on the
supervisor's own thread (OTP keeps the same in `#child{}`); the outside world sees it as
immutable `ChildStatus` snapshots. What follows from other fields is derived, not stored, as
OTP's `which_children` derives "restarting" from the pid field: a child in a batch is
`restarting` while a reaper ends its incarnation and `backoff` once it is down.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from types import MappingProxyType
from typing import Any

import pykka

from runtime.context import ChildContext
from runtime.intensity import in_window
from runtime.policy import ChildView
from runtime.shutdown import Victim
from runtime.spec import ChildSpec
from runtime.status import ChildStatus
from runtime.totals import Totals
from runtime.vocabulary import ChildState, Reason

__all__ = ["RUNNING", "After", "ChildRecord", "inbox_size"]

_NO_DETAILS: MappingProxyType[str, Any] = MappingProxyType({})

RUNNING = frozenset({
    ChildState.STARTING, ChildState.HEALTHY, ChildState.UNHEALTHY, ChildState.AUTH_REQUIRED,
    ChildState.OFFLINE,
})
_CLEARABLE = frozenset({ChildState.UNHEALTHY, ChildState.AUTH_REQUIRED, ChildState.OFFLINE})
# Waiting for a login or for its app to answer, a child has no activity to show.
_IDLE_BY_NECESSITY = frozenset({ChildState.AUTH_REQUIRED, ChildState.OFFLINE})


class After(Enum):
    """What becomes of a child once its batch has stopped it."""

    RESTART = "restart"
    STOP = "stop"  # stopped on request, or a normal end that is not restarted
    FAIL = "fail"  # given up


class ChildRecord:
    """The supervisor's record of one child across all its incarnations.

    Fields are read through properties and written only by the transitions below.
    """

    __slots__ = (
        "_abandoned", "_after", "_batch", "_condition", "_ctx", "_decided_at", "_down",
        "_healthy_since", "_incarnation", "_last_activity", "_last_heartbeat", "_last_reason",
        "_next_spec", "_ref", "_restarts", "_restarts_total", "_started_at", "_totals", "spec",
    )

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self._next_spec: ChildSpec | None = None  # what its next incarnation starts from
        self._incarnation = 0
        # What the child is while it is not in a batch: up (starting, healthy, ...) or settled.
        self._condition = ChildState.STOPPED
        self._batch: int | None = None  # the batch stopping or restarting it, if any
        self._after = After.RESTART
        self._down = True  # its incarnation has ended (or none has begun)
        self._ref: pykka.ActorRef[Any] | None = None  # None once the supervisor let go of it
        self._ctx: ChildContext | None = None
        self._restarts: tuple[float, ...] = ()  # automatic restart times, for the budget
        self._restarts_total = 0
        self._last_reason: Reason | None = None
        self._started_at: float | None = None
        self._last_heartbeat: float | None = None
        self._last_activity: float | None = None
        self._healthy_since: float | None = None
        self._decided_at: float | None = None  # when the restart now under way was decided
        self._abandoned = 0  # threads of earlier incarnations left blocked
        self._totals = Totals()

    # --- reads ---------------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def state(self) -> ChildState:
        if self._batch is None:
            return self._condition
        return ChildState.BACKOFF if self._down else ChildState.RESTARTING

    @property
    def running(self) -> bool:
        return self.state in RUNNING

    @property
    def incarnation(self) -> int:
        return self._incarnation

    @property
    def ctx(self) -> ChildContext | None:
        return self._ctx

    @property
    def batch(self) -> int | None:
        return self._batch

    @property
    def after(self) -> After:
        return self._after

    @property
    def last_reason(self) -> Reason | None:
        return self._last_reason

    def is_current(self, incarnation: int) -> bool:
        """A report from `incarnation` is about the incarnation running now."""
        # Fields read directly: this runs for every heartbeat of every child.
        return (incarnation == self._incarnation and self._batch is None
                and self._condition in RUNNING)

    def view(self, *, has_dependents: bool = False) -> ChildView:
        """The facts the restart policy decides on (the roster knows who depends on whom)."""
        return ChildView(id=self.spec.id, incarnation=self._incarnation, running=self.running,
                         restart=self.spec.restart, budget=self.spec.budget,
                         restarts=self._restarts, healthy_since=self._healthy_since,
                         depends_on=self.spec.depends_on, has_dependents=has_dependents)

    def overdue(self, now: float) -> tuple[Reason, str] | None:
        """The liveness deadline a running child has missed at `now`, if any."""
        if not self.running or self._started_at is None:
            return None
        return self.spec.liveness.overdue(
            now, self._started_at, self._last_heartbeat, self._last_activity,
            watch_activity=self._condition not in _IDLE_BY_NECESSITY)

    def totals(self) -> Mapping[str, int]:
        """Named counts over every incarnation of this record: they never go back."""
        return self._totals.read()

    # --- an incarnation begins -----------------------------------------------------------------

    def started(self, ctx: ChildContext, now: float) -> None:
        """Incarnation `ctx.incarnation` is being started at `now`."""
        if self._next_spec is not None:
            self.spec, self._next_spec = self._next_spec, None
        self._totals.follow(ctx)
        self._incarnation = ctx.incarnation
        self._ctx = ctx
        self._ref = None
        self._condition = ChildState.STARTING
        self._batch = None
        self._after = After.RESTART
        self._down = False
        self._started_at = now
        self._last_heartbeat = None
        self._last_activity = None
        self._healthy_since = None

    def attached(self, ref: pykka.ActorRef[Any]) -> None:
        """Its actor runs: this is where to send it a stop."""
        self._ref = ref

    # --- reports of the running incarnation -----------------------------------------------------

    def heartbeat(self, now: float) -> bool:
        """It answered at `now`; True if that was its first answer (it was starting)."""
        self._last_heartbeat = now
        return self._condition is ChildState.STARTING

    def activity(self, now: float) -> None:
        self._last_activity = now

    def became_healthy(self, now: float) -> tuple[ChildState, float | None]:
        """It is healthy from `now`: the state it left, and seconds since a restart was decided."""
        previous = self._condition
        self._condition = ChildState.HEALTHY
        self._healthy_since = now
        decided, self._decided_at = self._decided_at, None
        return previous, (None if decided is None else now - decided)

    def can_clear(self) -> bool:
        """It reported a problem that a `healthy` report clears."""
        return self._batch is None and self._condition in _CLEARABLE

    def reported_unhealthy(self) -> bool:
        """It reported a problem a restart would not fix; True if that is news."""
        return self._entered(ChildState.UNHEALTHY)

    def auth_required(self) -> bool:
        """It waits for an operator (a login); True if that is news."""
        return self._entered(ChildState.AUTH_REQUIRED)

    def went_offline(self) -> bool:
        """It cannot reach its app (heartbeats still count); True if that is news."""
        return self._entered(ChildState.OFFLINE)

    def _entered(self, condition: ChildState) -> bool:
        if self._condition is condition:
            return False
        self._condition = condition
        self._healthy_since = None
        return True

    # --- decisions about it ----------------------------------------------------------------------

    def faulted(self, reason: Reason, restarts: tuple[float, ...]) -> None:
        """A fault was decided on: its reason, and what the budget remembers from now on."""
        self._last_reason = reason
        self._restarts = restarts

    def restart_decided(self, reason: Reason, now: float) -> None:
        """It is to be restarted, for its own fault or a sibling's; recovery is timed from `now`."""
        self._last_reason = reason
        self._decided_at = now
        self._restarts_total += 1

    def respecified(self, spec: ChildSpec) -> None:
        """Its next incarnation starts from `spec`; the running one ends as its own spec says."""
        self._next_spec = spec

    def stop_requested(self) -> None:
        """An operator stopped it: no restart under way is to be timed any more."""
        self._decided_at = None

    # --- the mechanism carrying decisions out -------------------------------------------------

    def stopping(self, batch: int, after: After) -> Victim | None:
        """Batch `batch` ends its incarnation, then `after` happens; what a reaper must end."""
        self._batch = batch
        self._after = after
        return self._let_go()

    def moved_to(self, batch: int) -> None:
        """It waits in `batch` instead, to start after an earlier child of that batch."""
        self._batch = batch

    def restart_now(self) -> None:
        """Once down, it is started again, whatever was planned."""
        self._after = After.RESTART

    def keep_down(self) -> None:
        """Once down, it stays stopped, whatever was planned."""
        self._after = After.STOP

    def abandoned_thread(self) -> None:
        self._abandoned += 1

    def down(self) -> After:
        """Its incarnation has ended; what is to become of it."""
        self._down = True
        self._totals.bank()
        return self._after

    def stopped(self) -> None:
        """Settled down for good: stopped on request or after a normal end."""
        self._settle(ChildState.STOPPED)

    def failed(self) -> None:
        """Settled down for good: given up."""
        self._settle(ChildState.FAILED)

    def released(self) -> Victim | None:
        """Its supervisor is stopping and it with it; what is left to end, if it runs."""
        running = self._ref is not None  # else a reaper has it already, or its start failed
        victim = self._let_go()
        self._settle(ChildState.STOPPED)
        return victim if running else None

    # --- what the outside sees -------------------------------------------------------------------

    def status(self, supervisor: str, now: float, wall_offset: float) -> ChildStatus:
        """The immutable snapshot of this child at monotonic `now` (wall = monotonic + offset)."""

        def wall(t: float | None) -> float | None:
            return None if t is None else t + wall_offset

        ctx = self._ctx
        state = self._condition if self._batch is None else self.state
        totals = self.totals()
        return ChildStatus(
            id=self.spec.id,
            supervisor=supervisor,
            state=state,
            restarts=len(in_window(self._restarts, now, self.spec.budget, self._healthy_since)),
            restarts_total=self._restarts_total,
            last_restart_reason=self._last_reason,
            last_heartbeat=wall(self._last_heartbeat),
            last_activity=wall(self._last_activity),
            started_at=wall(self._started_at) if state in RUNNING else None,
            abandoned_threads=self._abandoned,
            published_at=now + wall_offset,
            details=ctx.details if ctx is not None else _NO_DETAILS,
            mailbox_size=inbox_size(self._ref),
            messages=totals.get("messages", 0),
            totals=totals,
            kind=self.spec.kind,
        )

    def _settle(self, condition: ChildState) -> None:
        self._batch = None
        self._down = True
        self._condition = condition

    def _let_go(self) -> Victim | None:
        ref, self._ref = self._ref, None
        return None if self._ctx is None or self._down else (ref, self._ctx, self.spec)


def inbox_size(ref: pykka.ActorRef[Any] | None) -> int:
    """Messages waiting in an actor's inbox (pykka's ThreadingActor inbox is a queue.Queue)."""
    if ref is None:
        return 0
    qsize = getattr(ref.actor_inbox, "qsize", None)
    return int(qsize()) if qsize is not None else 0
