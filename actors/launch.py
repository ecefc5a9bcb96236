"""A launch gate lets a few browsers launch at once, first come, first served.

Thirty browsers launched together on two cores each take longer than a heartbeat timeout; a
gate that makes them queue in arrival order brings a fleet up at the speed the machine allows,
and no launch waits behind others that came later.
"""

from __future__ import annotations

import os
import threading
from collections import deque

__all__ = ["LaunchCancelled", "LaunchGate", "Ticket", "default_launches"]


class LaunchCancelled(RuntimeError):
    """The session was stopped while it waited for its turn to launch."""


def default_launches() -> int:
    """Launches at once: one per core, at least two."""
    return max(2, os.cpu_count() or 2)


class Ticket:
    """One session's place in the queue; `cancel()` (any thread, e.g. a kill hook) gives it up."""

    __slots__ = ("_wake", "cancelled", "granted")

    def __init__(self) -> None:
        self._wake = threading.Event()
        self.granted = False
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
        self._wake.set()


class LaunchGate:
    """`slots` launches at a time; waiters are served strictly in the order they arrived."""

    def __init__(self, slots: int | None = None) -> None:
        self.slots = default_launches() if slots is None else slots
        if self.slots < 1:
            raise ValueError(f"a launch gate needs at least one slot, got {self.slots}")
        self._lock = threading.Lock()
        self._free = self.slots
        self._queue: deque[Ticket] = deque()

    def acquire(self, ticket: Ticket) -> None:
        """Wait for a slot; raises LaunchCancelled if `ticket` is cancelled before or meanwhile."""
        with self._lock:
            if ticket.cancelled:
                raise LaunchCancelled("stopped before its turn to launch")
            if self._free > 0 and not self._queue:
                self._free -= 1
                ticket.granted = True
                return
            self._queue.append(ticket)
        ticket._wake.wait()
        with self._lock:
            if ticket.granted and not ticket.cancelled:
                return
            if ticket in self._queue:
                self._queue.remove(ticket)
            granted, ticket.granted = ticket.granted, False
        if granted:  # given a slot just as it was cancelled: pass it on
            self.release()
        raise LaunchCancelled("stopped while waiting to launch")

    def release(self) -> None:
        with self._lock:
            while self._queue:
                ticket = self._queue.popleft()
                if not ticket.cancelled:
                    ticket.granted = True  # the slot goes straight to the longest waiter
                    ticket._wake.set()
                    return
            self._free = min(self.slots, self._free + 1)

    @property
    def waiting(self) -> int:
        return len(self._queue)
