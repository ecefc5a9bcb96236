"""Lifecycle events: one vocabulary for logs, metrics and webhooks, published on a bus."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from runtime.clock import Clock
from runtime.vocabulary import EventName, Reason

__all__ = ["Announcer", "EventBus", "LifecycleEvent"]

logger = logging.getLogger("warden.events")


@dataclass(frozen=True, slots=True)
class LifecycleEvent:
    name: EventName
    supervisor: str
    child: str
    at: float  # wall-clock seconds
    reason: Reason | None = None
    attempt: int | None = None
    delay: float | None = None
    recovery_seconds: float | None = None
    detail: str = ""
    kind: str = ""  # the child's kind (e.g. "session"), as its spec gives it
    fault_id: str = ""  # the restart decision that stops the child (`FaultNote.fault_id`)

    def fields(self) -> dict[str, Any]:
        """The event as a flat dict without empty fields, for JSON logs."""
        return {k: (str(v) if k in ("name", "reason") else v)
                for k, v in asdict(self).items() if v not in (None, "")}

    def describe(self) -> str:
        """One human-readable line."""
        parts = [f"{self.name} {self.supervisor}/{self.child}"]
        if self.reason is not None:
            parts.append(f"reason={self.reason}")
        if self.attempt is not None:
            parts.append(f"attempt={self.attempt}")
        if self.delay is not None:
            parts.append(f"delay={self.delay:.2f}s")
        if self.recovery_seconds is not None:
            parts.append(f"recovery={self.recovery_seconds:.2f}s")
        if self.detail:
            parts.append(f"detail={self.detail!r}")
        return " ".join(parts)


Subscriber = Callable[[LifecycleEvent], None]


class EventBus:
    """Calls every subscriber with every event, on the emitting thread, in order.

    Subscribers must be quick (tell an actor, append to a durable outbox); one that raises
    is logged and does not stop the others.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: tuple[Subscriber, ...] = ()

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subscribers = (*self._subscribers, subscriber)

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = tuple(s for s in self._subscribers if s is not subscriber)

        return unsubscribe

    def emit(self, event: LifecycleEvent) -> None:
        level = logging.WARNING if event.name in _WARNINGS else logging.INFO
        logger.log(level, event.describe(), extra={"event": event.fields()})
        for subscriber in self._subscribers:
            try:
                subscriber(event)
            except Exception:
                logger.exception("event subscriber %r failed on %s", subscriber, event.name)


class Announcer:
    """Emits the lifecycle events of one supervisor's children, stamped with the wall time."""

    def __init__(self, bus: EventBus, supervisor: str, clock: Clock,
                 kind_of: Callable[[str], str] = lambda _: "") -> None:
        self.bus = bus
        self.supervisor = supervisor
        self.clock = clock
        self.kind_of = kind_of

    def __call__(self, name: EventName, child: str, **fields: Any) -> None:
        self.bus.emit(LifecycleEvent(name=name, supervisor=self.supervisor, child=child,
                                     at=self.clock.time(), kind=self.kind_of(child), **fields))


_WARNINGS = frozenset({
    EventName.RESTART_SCHEDULED,
    EventName.REACHED_MAX_RESTARTS,
    EventName.CHILD_KILLED,
    EventName.CHILD_ABANDONED,
    EventName.SUPERVISOR_ESCALATED,
    EventName.AUTH_REQUIRED,
    EventName.CHILD_OFFLINE,
    EventName.CHILD_UNHEALTHY,
})
