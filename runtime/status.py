"""The status board holds every child's published state, readable from any thread at no wait."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from runtime.vocabulary import ChildState, Reason

__all__ = ["ChildStatus", "StatusBoard"]


@dataclass(frozen=True, slots=True)
class ChildStatus:
    id: str
    supervisor: str
    state: ChildState
    restarts: int  # automatic restarts that still count in the window
    restarts_total: int
    last_restart_reason: Reason | None
    last_heartbeat: float | None  # wall-clock seconds
    last_activity: float | None
    started_at: float | None
    abandoned_threads: int
    published_at: float
    details: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    mailbox_size: int = 0  # messages waiting in the child's actor inbox
    messages: int = 0  # messages its actor has handled, over all incarnations: totals["messages"]
    # Named counts (`ChildContext.count`) over all incarnations of the child: they never go back.
    totals: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    kind: str = ""  # its spec's kind


class StatusBoard:
    """Supervisors publish whole immutable snapshots; readers get them without locks or waits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_supervisor: dict[str, tuple[ChildStatus, ...]] = {}
        self._by_child: Mapping[str, ChildStatus] = {}
        self._changed = threading.Condition(self._lock)
        self._refs: Mapping[str, Any] = {}

    def publish(
        self, supervisor: str, statuses: tuple[ChildStatus, ...], ref: Any = None
    ) -> None:
        """Replace `supervisor`'s snapshot; `ref` is where to send it commands for its children."""
        with self._lock:
            if ref is not None:
                self._refs = {**self._refs, supervisor: ref}
            by_supervisor = dict(self._by_supervisor)
            by_supervisor[supervisor] = statuses
            self._by_supervisor = by_supervisor
            self._by_child = {s.id: s for group in by_supervisor.values() for s in group}
            self._changed.notify_all()

    def children(self, supervisor: str | None = None) -> tuple[ChildStatus, ...]:
        """All published children (of one supervisor, if named), in start order."""
        by_supervisor = self._by_supervisor
        if supervisor is not None:
            return by_supervisor.get(supervisor, ())
        return tuple(s for group in by_supervisor.values() for s in group)

    def of_kind(self, kind: str) -> tuple[ChildStatus, ...]:
        """The children of `kind` under every supervisor, in an order that stays put.

        Supervisors come in the order they first published, each one's children in start
        order: children of one kind (sessions, say) may live under several supervisors.
        """
        return tuple(s for group in self._by_supervisor.values() for s in group if s.kind == kind)

    def get(self, child_id: str) -> ChildStatus | None:
        return self._by_child.get(child_id)

    def supervisor_of(self, child_id: str) -> Any:
        """The actor ref of the supervisor that published `child_id`, or None."""
        status = self._by_child.get(child_id)
        return None if status is None else self._refs.get(status.supervisor)

    def supervisor(self, supervisor: str) -> Any:
        """The actor ref that `supervisor` published with, or None."""
        return self._refs.get(supervisor)

    def forget(self, supervisor: str) -> None:
        """Drop `supervisor`'s snapshot, and those of the supervisors under it (a removed child)."""
        with self._lock:
            by_supervisor = dict(self._by_supervisor)
            refs = dict(self._refs)
            doomed = [supervisor]
            while doomed:
                gone = doomed.pop()
                refs.pop(gone, None)
                doomed.extend(s.id for s in by_supervisor.pop(gone, ()) if s.id in by_supervisor)
            self._refs = refs
            self._by_supervisor = by_supervisor
            self._by_child = {s.id: s for group in by_supervisor.values() for s in group}
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[StatusBoard], bool], timeout: float) -> bool:
        """Block until `predicate(board)` holds or `timeout` real seconds pass (for tests, CLIs)."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self), timeout)
