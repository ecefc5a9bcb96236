"""The outbox is the durable queue of webhook events: an event is accepted once committed here.

One SQLite file (`state_dir/outbox.sqlite3`, WAL). `append()` may be called from any thread
and returns only after the COMMIT (synchronous=FULL) that holds its row; concurrent appenders
share commits (group commit: one of them writes the whole waiting batch, the others wait for
that COMMIT), which is how durable appends keep up with a flood. Each event gets a per-session
`seq` from 1 without gaps (assigned inside the commit from the `sessions` table, so a purge of
old rows never resets it) and its final body: the exact bytes every attempt POSTs.

A message the app pushes again (its ack was lost when the browser died after the commit) is
the event already committed: an append of a `message.received` whose (session, message_id)
is in the outbox, pending, delivered or dead, returns that event and writes nothing, so the
session acks it again and the receiver sees one webhook-id. Delivered rows are forgotten after
`keep_delivered` (7 days by default): a message pushed again after that is a new event.

Delivery bookkeeping (delivered, retried, dead) is written with synchronous=NORMAL: losing one
of those marks to a power cut only means an event is delivered again, which the contract
allows, whereas losing an append would lose an event. Both connections share one write lock,
so the process never waits on SQLite's own busy sleeps. Readers (`stats()`) use a third
connection and never wait for a writer (WAL); counts are kept by triggers so stats stay O(1).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from actors.outbox_schema import (
    RECORD_COLUMNS,
    EventRecord,
    EventState,
    connect,
    ensure_schema,
    record_from_row,
    transaction,
)
from actors.webhook_event import (
    EventType,
    StoredEvent,
    event_body,
    message_key,
    new_event_id,
    to_json,
)
from runtime.clock import Clock, MonotonicClock

__all__ = [
    "FILE_NAME",
    "EventRecord",
    "EventState",
    "EventType",
    "Outbox",
    "OutboxClosed",
    "OutboxStats",
    "StoredEvent",
]

logger = logging.getLogger(__name__)

FILE_NAME = "outbox.sqlite3"
_PURGE_CHUNK = 2000  # rows per DELETE, so appenders never wait long behind a purge
_ERROR_CHARS = 1000  # how much of an error text is kept


class OutboxClosed(RuntimeError):
    """The outbox was closed; nothing more can be appended."""


@dataclass(frozen=True, slots=True)
class OutboxStats:
    pending: int
    oldest_age_seconds: float | None  # since the oldest pending event was accepted
    dead_letters: int
    delivered: int  # delivered events still kept (see WebhookConfig.keep_delivered)


@dataclass(slots=True)
class _Append:
    """One appender's request, waiting for the commit that holds it."""

    session_id: str
    type: str
    data: str  # the event's data, already JSON
    at: float
    message_id: str | None  # the app's message id of a message.received, else None
    event: StoredEvent | None = None
    error: BaseException | None = None
    done: bool = False


class Outbox:
    """The durable, ordered event queue in `path`. Every method is safe from any thread."""

    def __init__(self, path: Path, clock: Clock | None = None) -> None:
        self.path = Path(path)
        self._clock = clock or MonotonicClock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._appender = connect(self.path, synchronous="FULL")
        ensure_schema(self._appender)
        self._keeper = connect(self.path, synchronous="NORMAL")
        self._reader = connect(self.path, synchronous="NORMAL")
        self._write_lock = threading.Lock()  # one writer at a time, across both connections
        self._read_lock = threading.Lock()
        self._cond = threading.Condition()
        self._queue: list[_Append] = []
        self._leader = False  # an appender is committing a batch right now
        self._closed = False
        self._subscribers: list[Callable[[], None]] = []

    # --- appending ----------------------------------------------------------------------------

    def append(
        self, session_id: str, type: str, data: Mapping[str, Any], at: float | None = None
    ) -> StoredEvent:
        """Commit one event and return it; raises if it was not committed.

        `at` is the event time (wall seconds, default now), written into the body as ISO 8601
        UTC. Unknown types and data that is not JSON are refused before anything is written.
        A `message.received` already in the outbox (same session and `data["message_id"]`)
        returns the event committed then, whatever its state; nothing is written.
        """
        if type not in EventType._value2member_map_:
            raise ValueError(f"unknown event type {type!r} "
                             f"(one of: {', '.join(t.value for t in EventType)})")
        if not session_id:
            raise ValueError("an event needs a session_id")
        request = _Append(session_id, type, to_json(dict(data)),
                          self._clock.time() if at is None else at, message_key(type, data))
        batch: list[_Append] = []
        with self._cond:
            if self._closed:
                raise OutboxClosed(f"outbox {self.path} is closed")
            self._queue.append(request)
            while not request.done and self._leader:
                self._cond.wait()
            if not request.done:  # nobody is committing: lead, taking everyone waiting
                batch, self._queue, self._leader = self._queue, [], True
        if batch:  # this thread leads: commit the batch, then release the followers
            added = False
            try:
                added = self._commit(batch)
            finally:
                with self._cond:
                    for waiting in batch:
                        waiting.done = True
                    self._leader = False
                    self._cond.notify_all()
            if added:
                self._notify()
        if request.error is not None:
            raise request.error
        assert request.event is not None
        return request.event

    def _commit(self, batch: list[_Append]) -> bool:
        """Commit `batch` in one transaction; True if it added any event (not all were known)."""
        accepted_at = self._clock.time()
        try:
            with self._write_lock, transaction(self._appender) as conn:
                last: dict[str, int] = {}
                for session_id in {r.session_id for r in batch}:
                    row = conn.execute("SELECT last_seq FROM sessions WHERE session_id = ?",
                                       (session_id,)).fetchone()
                    last[session_id] = row[0] if row else 0
                rows, events = [], []
                known: dict[tuple[str, str], StoredEvent] = {}  # messages met in this batch
                for r in batch:
                    key = None if r.message_id is None else (r.session_id, r.message_id)
                    event = None if key is None else known.get(key) or _committed(conn, key)
                    if event is None:
                        last[r.session_id] = seq = last[r.session_id] + 1
                        event_id = new_event_id(accepted_at)
                        body = event_body(event_id, r.type, r.at, r.session_id, seq, r.data)
                        rows.append((event_id, r.session_id, seq, r.type, body, accepted_at,
                                     r.message_id))
                        event = StoredEvent(event_id, r.session_id, seq, r.type, body)
                    if key is not None:
                        known[key] = event
                    events.append(event)
                conn.executemany(
                    "INSERT INTO events (id, session_id, seq, type, body, accepted_at, message_id)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
                conn.executemany(
                    "INSERT INTO sessions (session_id, last_seq) VALUES (?, ?) ON CONFLICT"
                    " (session_id) DO UPDATE SET last_seq = excluded.last_seq", last.items())
        except BaseException as exc:
            for r in batch:
                r.error = exc
            return False
        for r, event in zip(batch, events, strict=True):
            r.event = event
        return bool(rows)

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` after every commit that added events; returns an unsubscriber."""
        with self._cond:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._cond:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def _notify(self) -> None:
        with self._cond:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback()
            except Exception:
                logger.exception("outbox subscriber %r failed", callback)

    # --- delivery bookkeeping (the webhook actor) -----------------------------------------------

    def pending(self, limit: int = 100) -> list[StoredEvent]:
        """The next `limit` undelivered events, oldest first (the delivery order)."""
        with self._write_lock:  # the keeper connection serves one thread at a time
            self._check_open()
            rows = self._keeper.execute(
                "SELECT id, session_id, seq, type, body, attempts FROM events"
                " WHERE state = 'pending' ORDER BY pos LIMIT ?", (limit,)).fetchall()
        return [StoredEvent(*row) for row in rows]

    def mark_delivered(self, event_id: str, status: int) -> None:
        self.mark_all_delivered([(event_id, status)])

    def mark_all_delivered(self, answers: Sequence[tuple[str, int]]) -> None:
        """Mark events delivered, given (event id, HTTP status) pairs, in one transaction."""
        now = self._clock.time()
        with self._write_lock:
            self._check_open()
            with transaction(self._keeper) as conn:
                conn.executemany(
                    "UPDATE events SET state = 'delivered', last_status = ?, last_error = NULL,"
                    " last_attempt_at = ?, next_attempt_at = NULL, settled_at = ? WHERE id = ?",
                    [(status, now, now, event_id) for event_id, status in answers])

    def record_retry(self, event_id: str, status: int | None, error: str,
                     next_attempt_at: float | None) -> None:
        """A failed attempt that counts against the retry budget; the event stays pending."""
        self._keep("UPDATE events SET attempts = attempts + 1, last_status = ?, last_error = ?,"
                   " last_attempt_at = ?, next_attempt_at = ? WHERE id = ?",
                   (status, error[:_ERROR_CHARS], self._clock.time(), next_attempt_at, event_id))

    def record_pause(self, event_id: str, status: int | None, error: str,
                     next_attempt_at: float | None) -> None:
        """An attempt refused by a paused endpoint: noted, but the retry budget is not spent."""
        self._keep("UPDATE events SET last_status = ?, last_error = ?, last_attempt_at = ?,"
                   " next_attempt_at = ? WHERE id = ?",
                   (status, error[:_ERROR_CHARS], self._clock.time(), next_attempt_at, event_id))

    def dead_letter(self, event_id: str, status: int | None, error: str) -> None:
        """Give up on an event, keeping its last status and error; the queue moves on."""
        now = self._clock.time()
        self._keep("UPDATE events SET state = 'dead', attempts = attempts + 1, last_status = ?,"
                   " last_error = ?, last_attempt_at = ?, next_attempt_at = NULL,"
                   " settled_at = ? WHERE id = ?",
                   (status, error[:_ERROR_CHARS], now, now, event_id))

    def purge_delivered(self, keep: float) -> int:
        """Forget delivered events settled more than `keep` seconds ago; returns how many."""
        cutoff = self._clock.time() - keep
        purged = 0
        while True:
            count = self._keep("DELETE FROM events WHERE pos IN (SELECT pos FROM events"
                               " WHERE state = 'delivered' AND settled_at <= ? LIMIT ?)",
                               (cutoff, _PURGE_CHUNK))
            purged += count
            if count < _PURGE_CHUNK:
                return purged

    def _keep(self, sql: str, params: tuple[Any, ...]) -> int:
        with self._write_lock:
            self._check_open()
            return self._keeper.execute(sql, params).rowcount

    def _check_open(self) -> None:
        if self._closed:
            raise OutboxClosed(f"outbox {self.path} is closed")

    # --- operators ------------------------------------------------------------------------------

    def requeue(self, event_id: str) -> bool:
        """Queue a dead letter again with a fresh retry budget; False if `event_id` is not dead."""
        return self._requeue("id = ? AND state = 'dead'", (event_id,)) == 1

    def requeue_all_dead(self) -> int:
        """Queue every dead letter again; returns how many."""
        return self._requeue("state = 'dead'", ())

    def _requeue(self, where: str, params: tuple[Any, ...]) -> int:
        # Durable like an append (synchronous=FULL): an operator was told it is queued again.
        with self._write_lock:
            self._check_open()
            with transaction(self._appender) as conn:
                count = conn.execute(
                    "UPDATE events SET state = 'pending', attempts = 0, next_attempt_at = NULL,"
                    f" settled_at = NULL WHERE {where}", params).rowcount
        if count:
            self._notify()
        return count

    def record(self, event_id: str) -> EventRecord | None:
        rows = self._read(f"SELECT {RECORD_COLUMNS} FROM events WHERE id = ?", (event_id,))
        return record_from_row(rows[0]) if rows else None

    def dead_letters(self, limit: int = 100) -> list[EventRecord]:
        """Dead letters, oldest first."""
        rows = self._read(f"SELECT {RECORD_COLUMNS} FROM events WHERE state = 'dead'"
                          " ORDER BY pos LIMIT ?", (limit,))
        return [record_from_row(row) for row in rows]

    def message_high_water(self, session_id: str, recent: int = 200) -> float | None:
        """The newest app time among the last `recent` messages committed for `session_id`
        (None when there is none): where reconciliation reads from."""
        rows = self._read("SELECT body FROM events WHERE session_id = ? AND message_id IS NOT NULL"
                          " ORDER BY seq DESC LIMIT ?", (session_id, recent))
        times = [t for (body,) in rows if (t := _message_time(body)) is not None]
        return max(times, default=None)

    def known_messages(self, session_id: str, message_ids: Sequence[str]) -> set[str]:
        """Which of `message_ids` the outbox holds for `session_id` (any state)."""
        known: set[str] = set()
        ids = list(message_ids)
        for first in range(0, len(ids), 500):  # SQLite's limit on host parameters
            chunk = ids[first:first + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._read(f"SELECT message_id FROM events WHERE session_id = ?"
                              f" AND message_id IN ({marks})", (session_id, *chunk))
            known.update(row[0] for row in rows)
        return known

    def stats(self) -> OutboxStats:
        """Counts and the oldest pending age: a few index lookups, never waiting on a writer."""
        counts = dict(self._read("SELECT state, n FROM counts", ()))
        oldest = self._read("SELECT accepted_at FROM events WHERE state = 'pending'"
                            " ORDER BY pos LIMIT 1", ())
        return OutboxStats(
            pending=counts.get(EventState.PENDING, 0),
            oldest_age_seconds=max(0.0, self._clock.time() - oldest[0][0]) if oldest else None,
            dead_letters=counts.get(EventState.DEAD, 0),
            delivered=counts.get(EventState.DELIVERED, 0),
        )

    def _read(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        with self._read_lock:
            self._check_open()
            return self._reader.execute(sql, params).fetchall()

    def close(self) -> None:
        """Refuse new appends, let a commit in progress finish, and close the file."""
        with self._cond:
            self._closed = True
            while self._leader:
                self._cond.wait()
            for waiting in self._queue:
                waiting.error, waiting.done = OutboxClosed(f"outbox {self.path} is closed"), True
            self._queue = []
            self._cond.notify_all()
        with self._write_lock, self._read_lock:
            for conn in (self._appender, self._keeper, self._reader):
                conn.close()


def _committed(conn: sqlite3.Connection, key: tuple[str, str]) -> StoredEvent | None:
    """The event already holding message `key` (session_id, message_id), if any."""
    row = conn.execute("SELECT id, session_id, seq, type, body, attempts FROM events"
                       " WHERE session_id = ? AND message_id = ?", key).fetchone()
    return None if row is None else StoredEvent(*row)


def _message_time(body: str | bytes) -> float | None:
    """The app time (`data.timestamp`, ISO 8601) of a stored `message.received` body."""
    try:
        stamp = json.loads(body)["data"]["timestamp"]
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
    except (ValueError, KeyError, TypeError):
        return None
