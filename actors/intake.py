"""The intake is where an event waits until the outbox has taken it: each session's events are
committed in the order they were submitted, and one the outbox could not take (a full disk, a
file that was replaced, an I/O error) is retried until it can, holding back only the later
events of its own session.

`submit()` is the interface for sessions and lifecycle webhooks: it returns a future that
resolves to the committed `StoredEvent` once the commit is done; when nothing of the session
waits and the outbox is well, that happens before `submit` returns (the caller's thread commits,
sharing group commits with other appenders). Otherwise the event waits here, in memory, and a
worker thread retries the head of each waiting session, 50 ms after a failure, doubling up to
1 s, so a cause that clears (space freed) is noticed within a second. A future fails only for a
permanent reason: a bad event (`ValueError`, `TypeError`), a closed outbox, or more than
`MAX_WAITING` events of one session already waiting.

`append()` keeps the blocking interface of `Outbox.append` for callers that cannot wait on a
future: it returns the event if it was committed at once, else raises `OutboxUnavailable` while
the event stays queued (a message re-pushed by the app later is deduplicated to the same event).
Futures are resolved on the committing thread; their callbacks must be quick.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from actors.outbox_health import OutboxUnavailable
from actors.webhook_event import StoredEvent

__all__ = ["MAX_WAITING", "RETRY_INITIAL", "RETRY_MAX", "Appender", "Intake", "Ledger",
           "retry_delay"]

logger = logging.getLogger(__name__)

RETRY_INITIAL = 0.05  # seconds after the first failure
RETRY_MAX = 1.0  # ... doubling up to this
MAX_WAITING = 10_000  # events of one session held in memory; the app keeps the rest unacked
RETRYABLE = (sqlite3.Error, OSError, OutboxUnavailable)


class Appender(Protocol):
    def append(self, session_id: str, type: str, data: Mapping[str, Any],
               at: float | None = None) -> StoredEvent: ...


@runtime_checkable
class Ledger(Appender, Protocol):
    """An outbox that also answers what reconciliation asks (`actors.reconcile.Ledger`)."""

    def message_high_water(self, session_id: str) -> float | None: ...
    def known_messages(self, session_id: str, message_ids: Sequence[str]) -> set[str]: ...


def retry_delay(failures: int, initial: float = RETRY_INITIAL, cap: float = RETRY_MAX) -> float:
    """Seconds before the next try after `failures` failed tries in a row (1, 2, ...)."""
    return min(cap, initial * 2.0 ** max(failures - 1, 0))


@dataclass(slots=True)
class _Item:
    session_id: str
    type: str
    data: Mapping[str, Any]
    at: float | None
    future: Future[StoredEvent] = field(default_factory=Future)


@dataclass(slots=True)
class _Lane:
    lock: threading.Lock = field(default_factory=threading.Lock)  # one commit at a time
    waiting: deque[_Item] = field(default_factory=deque)


class Intake:
    """Submits events to `outbox` in per-session order, retrying what it cannot take yet."""

    def __init__(self, outbox: Appender, *, initial: float = RETRY_INITIAL,
                 cap: float = RETRY_MAX, max_waiting: int = MAX_WAITING) -> None:
        self._outbox = outbox
        self._initial = initial
        self._cap = cap
        self._max_waiting = max_waiting
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._lanes: dict[str, _Lane] = {}
        self._worker: threading.Thread | None = None
        self._closed = False

    # --- submitting (any thread) ----------------------------------------------------------------

    def submit(self, session_id: str, type: str, data: Mapping[str, Any],
               at: float | None = None) -> Future[StoredEvent]:
        """The event, committed after every event of `session_id` submitted before it."""
        item = _Item(session_id, type, data, at)
        with self._lock:
            if self._closed:
                item.future.set_exception(OutboxUnavailable("the intake is closed"))
                return item.future
            lane = self._lanes.setdefault(session_id, _Lane())
        with lane.lock:
            if not lane.waiting and self._try(item):
                return item.future
            if not item.future.done():
                if len(lane.waiting) >= self._max_waiting:
                    item.future.set_exception(OutboxUnavailable(
                        f"{self._max_waiting} events of {session_id} already wait for the outbox"))
                    return item.future
                lane.waiting.append(item)
        if not item.future.done():
            self._start_worker()
        return item.future

    def append(self, session_id: str, type: str, data: Mapping[str, Any],
               at: float | None = None) -> StoredEvent:
        """`Outbox.append`'s interface: the event if committed at once; else raises (the event
        stays queued and is committed as soon as the outbox takes writes again)."""
        future = self.submit(session_id, type, data, at)
        if not future.done():
            raise OutboxUnavailable(f"the outbox cannot take {session_id}'s events now;"
                                    " they are queued and will be committed in order")
        return future.result()

    # --- what reconciliation asks (sessions) ---------------------------------------------------

    def message_high_water(self, session_id: str) -> float | None:
        return self._ledger().message_high_water(session_id)

    def known_messages(self, session_id: str, message_ids: Sequence[str]) -> set[str]:
        """Which of `message_ids` the outbox holds, or wait here for it: a waiting message is
        not missing, and reading it again from the app would only queue it twice."""
        known = self._ledger().known_messages(session_id, message_ids)
        with self._lock:
            lane = self._lanes.get(session_id)
        if lane is not None:
            with lane.lock:
                waiting = {str(item.data.get("message_id")) for item in lane.waiting}
            known |= waiting.intersection(message_ids)
        return known

    def _ledger(self) -> Ledger:
        if not isinstance(self._outbox, Ledger):
            raise TypeError(f"{self._outbox!r} cannot say which messages it holds")
        return self._outbox

    def waiting(self, session_id: str | None = None) -> int:
        """Events waiting for the outbox, of one session or all."""
        with self._lock:
            lanes = list(self._lanes.items())
        return sum(len(lane.waiting) for sid, lane in lanes
                   if session_id is None or sid == session_id)

    def _try(self, item: _Item, quiet: bool = False) -> bool:
        """One commit attempt, under the lane's lock: True if the item is settled (committed
        or failed for good), False if it should wait and be tried again."""
        try:
            event = self._outbox.append(item.session_id, item.type, item.data, item.at)
        except RETRYABLE as exc:
            if not quiet:
                logger.warning("the outbox cannot take a %s event of %s (%s); it waits, with"
                               " the session's later events, and is tried again",
                               item.type, item.session_id, exc)
            return False
        except BaseException as exc:
            item.future.set_exception(exc)
            return True
        item.future.set_result(event)
        return True

    # --- retrying (the worker thread) -----------------------------------------------------------

    def _start_worker(self) -> None:
        with self._lock:
            if self._worker is None and not self._closed:
                self._worker = threading.Thread(target=self._work, name="warden-intake",
                                                daemon=True)
                self._worker.start()
            self._wake.notify_all()

    def _work(self) -> None:
        failures = 0
        while True:
            with self._lock:
                lanes = [lane for lane in self._lanes.values() if lane.waiting]
                if self._closed or not lanes:
                    self._worker = None
                    return
            stuck = False
            for lane in lanes:
                stuck = not self._drain(lane) or stuck
            if not stuck:
                failures = 0
                continue
            failures += 1
            with self._lock:
                if not self._closed:
                    self._wake.wait(retry_delay(failures, self._initial, self._cap))

    def _drain(self, lane: _Lane) -> bool:
        """Commit a lane's waiting events in order; False if its head still cannot be."""
        committed = 0
        with lane.lock:
            while lane.waiting:
                if not self._try(lane.waiting[0], quiet=True):
                    return False
                lane.waiting.popleft()
                committed += 1
        if committed:
            logger.info("the outbox took %d waiting events", committed)
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Stop retrying; what still waits fails with OutboxUnavailable."""
        with self._lock:
            self._closed = True
            worker = self._worker
            self._wake.notify_all()
            lanes = list(self._lanes.values())
        if worker is not None:
            worker.join(timeout)
        for lane in lanes:
            with lane.lock:
                for item in lane.waiting:
                    item.future.set_exception(OutboxUnavailable(
                        f"Warden stopped before the outbox could take this {item.type} event"))
                if lane.waiting:
                    logger.error("%d events of a session were never committed: the outbox"
                                 " did not take writes before Warden stopped", len(lane.waiting))
                lane.waiting.clear()
