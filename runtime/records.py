"""Records are a supervisor's mutable bookkeeping: one per child, one per batch being restarted.

They are touched only on the supervisor's own thread (OTP keeps the same in `#child{}` and
`#state{}`); the outside world sees them as immutable `ChildStatus` snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Any

import pykka

from runtime.context import ChildContext
from runtime.intensity import in_window
from runtime.scheduler import Timer
from runtime.spec import ChildSpec
from runtime.status import ChildStatus
from runtime.vocabulary import ChildState, Reason

__all__ = ["RUNNING", "After", "Batch", "ChildRecord", "inbox_size", "status_of"]

_NO_DETAILS: MappingProxyType[str, Any] = MappingProxyType({})

RUNNING = frozenset({
    ChildState.STARTING, ChildState.HEALTHY, ChildState.UNHEALTHY, ChildState.AUTH_REQUIRED,
})


class After(Enum):
    """What becomes of a child once its batch has stopped it."""

    RESTART = "restart"
    STOP = "stop"  # stopped on request, or a normal end that is not restarted
    FAIL = "fail"  # given up


class ChildRecord:
    """The supervisor's record of one child across all its incarnations."""

    __slots__ = (
        "abandoned", "after", "batch", "ctx", "healthy_since", "incarnation", "last_activity",
        "last_heartbeat", "last_reason", "ref", "restart_decided_at", "restarts",
        "restarts_total", "spec", "started_at", "state",
    )

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.state = ChildState.STOPPED
        self.incarnation = 0
        self.ref: pykka.ActorRef[Any] | None = None  # None once the supervisor has let go of it
        self.ctx: ChildContext | None = None
        self.restarts: tuple[float, ...] = ()  # automatic restart times, for the budget
        self.restarts_total = 0
        self.last_reason: Reason | None = None
        self.started_at: float | None = None
        self.last_heartbeat: float | None = None
        self.last_activity: float | None = None
        self.healthy_since: float | None = None
        self.restart_decided_at: float | None = None
        self.batch: int | None = None  # the batch stopping or restarting it, if any
        self.after = After.RESTART
        self.abandoned = 0  # threads of earlier incarnations left blocked


@dataclass(slots=True)
class Batch:
    """Children stopped together, then settled or restarted together in start order."""

    id: int
    children: list[str]
    delay: float
    terminated: bool = False  # the reaper has finished with every child in it
    timer: Timer | None = None


def inbox_size(ref: pykka.ActorRef[Any] | None) -> int:
    """Messages waiting in an actor's inbox (pykka's ThreadingActor inbox is a queue.Queue)."""
    if ref is None:
        return 0
    qsize = getattr(ref.actor_inbox, "qsize", None)
    return int(qsize()) if qsize is not None else 0


def status_of(child: ChildRecord, supervisor: str, now: float, wall_offset: float) -> ChildStatus:
    """The immutable snapshot of `child` at monotonic `now` (wall = monotonic + offset)."""

    def wall(t: float | None) -> float | None:
        return None if t is None else t + wall_offset

    ctx = child.ctx
    return ChildStatus(
        id=child.spec.id,
        supervisor=supervisor,
        state=child.state,
        restarts=len(in_window(child.restarts, now, child.spec.budget, child.healthy_since)),
        restarts_total=child.restarts_total,
        last_restart_reason=child.last_reason,
        last_heartbeat=wall(child.last_heartbeat),
        last_activity=wall(child.last_activity),
        started_at=wall(child.started_at) if child.state in RUNNING else None,
        abandoned_threads=child.abandoned,
        published_at=now + wall_offset,
        details=ctx.details if ctx is not None else _NO_DETAILS,
        mailbox_size=inbox_size(child.ref),
        messages=ctx.messages if ctx is not None else 0,
    )
