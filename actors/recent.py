"""Recent events are the last lifecycle events of the tree, kept in memory for the front."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from runtime import EventBus, LifecycleEvent

__all__ = ["RecentEvents"]


class RecentEvents:
    """The last `capacity` lifecycle events, fed by an EventBus subscription; any thread."""

    def __init__(self, capacity: int = 200) -> None:
        self._lock = threading.Lock()
        self._events: deque[LifecycleEvent] = deque(maxlen=capacity)

    def record(self, event: LifecycleEvent) -> None:
        with self._lock:
            self._events.append(event)

    def attach(self, bus: EventBus) -> Callable[[], None]:
        """Subscribe to `bus`; returns the unsubscriber."""
        return bus.subscribe(self.record)

    def latest(self, limit: int | None = None) -> list[LifecycleEvent]:
        """Newest first."""
        with self._lock:
            events = list(self._events)
        events.reverse()
        return events if limit is None else events[:limit]
