"""The outbox is the durable store of webhook events: an event is accepted once committed here.

One SQLite file (`state_dir/outbox.sqlite3`, WAL). `append()` may be called from any thread
and returns only after the COMMIT (synchronous=FULL) that holds its row; concurrent appenders
share commits (group commit: one of them writes the whole waiting batch, the others wait for
that COMMIT), which is how durable appends keep up with a flood. Each event gets a per-session
`seq` from 1 without gaps (assigned inside the commit, so a purge of old rows never resets it)
and its final body: the exact bytes every attempt POSTs. The same commit gives the event one
delivery per endpoint whose route wants it; each endpoint reads and settles its deliveries
through its `EndpointQueue` (`outbox.endpoint(id)`).

A message the app pushes again (its ack was lost when the browser died after the commit) is
the event already committed: an append of a `message.received` whose (session, message_id)
is in the outbox returns that event and writes nothing, so the session acks it again and the
receiver sees one webhook-id. Events are forgotten once none of their deliveries is kept.

An append is refused (`OutboxUnavailable`) when the file at the outbox's path is no longer the
one it opened (deleted or replaced while running): an event committed into a deleted file would
be lost at the next start. `health()` says whether appends can be committed now.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from actors.endpoint import DEFAULT_ENDPOINT, Route
from actors.outbox_health import HealthCheck, OutboxHealth, OutboxUnavailable, open_checked
from actors.outbox_queue import NOT_NEWEST, EndpointQueue
from actors.outbox_records import (
    Attempt,
    DeliveryRecord,
    EndpointStats,
    EventDetail,
    event_detail,
)
from actors.outbox_schema import COUNT_INSERTED, DeliveryState, transaction
from actors.outbox_store import FileIdentity, OutboxClosed
from actors.webhook_event import (
    EventType,
    StoredEvent,
    body_parts,
    message_key,
    new_event_id,
    to_json,
)
from runtime.clock import Clock, MonotonicClock

__all__ = [
    "FILE_NAME",
    "Attempt",
    "DeliveryRecord",
    "DeliveryState",
    "EndpointQueue",
    "EndpointStats",
    "EventDetail",
    "EventType",
    "Outbox",
    "OutboxClosed",
    "OutboxHealth",
    "OutboxUnavailable",
    "StoredEvent",
]

logger = logging.getLogger(__name__)

FILE_NAME = "outbox.sqlite3"
_KNOWN_TYPES = frozenset(t.value for t in EventType)
GATHER_WAIT = 0.001  # seconds a leader waits at most for the appenders of the last commits
CHECKPOINT_EVERY = 10_000  # commits after which an appender copies the WAL itself


@dataclass(slots=True)
class _Append:
    """One appender's request, built on its own thread, waiting for the commit that holds it."""

    session_id: str
    type: str
    event_id: str
    head: str  # the body up to its seq
    tail: str  # the body after its seq
    message_id: str | None  # the app's message id of a message.received, else None
    thread: int  # the appending thread
    event: StoredEvent | None = None
    error: BaseException | None = None
    done: bool = False


class Outbox:
    """The durable event store in `path`. Every method is safe from any thread.

    `routes` say which endpoint wants which event (default: one endpoint, `default`, that wants
    all); `set_routes` changes them for events committed from then on.
    """

    def __init__(self, path: Path, clock: Clock | None = None,
                 routes: Iterable[Route] | None = None) -> None:
        self.path = Path(path)
        self._clock = clock or MonotonicClock()
        self._routes: tuple[Route, ...] = (
            (Route(DEFAULT_ENDPOINT),) if routes is None else tuple(routes))
        self._store = open_checked(self.path, self._clock.time)
        self._health = HealthCheck(self._store, self._clock)
        lock = threading.Lock()
        self._cond = threading.Condition(lock)  # a commit ended
        self._grew = threading.Condition(lock)  # a request joined the queue
        self._queue: list[_Append] = []
        self._recent: tuple[frozenset[int], frozenset[int]] = (frozenset(), frozenset())
        self._committed_at = 0.0  # time.monotonic() when the last commit ended
        self._uncheckpointed = 0  # commits since the last checkpoint (roughly: not locked)
        self._leader = False  # an appender is committing a batch right now
        self._closed = False
        self._subscribers: list[Callable[[], None]] = []
        self._last_seq: dict[str, int] = {}  # leader only, under the write lock
        (last_pos,) = self._store.read("SELECT COALESCE(MAX(pos), 0) FROM events")[0]
        self._next_pos = int(last_pos) + 1  # leader only; never reused (see prune)
        self._queues: dict[str, EndpointQueue] = {}
        self._unrouted_cursor = 0  # events up to this pos were looked at by prune_unrouted
        self.generation = 0  # bumped by every requeue and replay made through this object

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
        if type not in _KNOWN_TYPES:
            raise ValueError(f"unknown event type {type!r} "
                             f"(one of: {', '.join(t.value for t in EventType)})")
        if not session_id:
            raise ValueError("an event needs a session_id")
        data_json = to_json(dict(data))
        now = self._clock.time()
        event_id = new_event_id(now)
        head, tail = body_parts(event_id, type, now if at is None else at, session_id,
                                data_json)
        request = _Append(session_id, type, event_id, head, tail, message_key(type, data),
                          threading.get_ident())
        batch: list[_Append] = []
        with self._cond:
            if self._closed:
                raise OutboxClosed(f"outbox {self.path} is closed")
            self._queue.append(request)
            self._grew.notify()
            while not request.done and self._leader:
                self._cond.wait()
            if not request.done:  # nobody is committing: lead, taking everyone waiting
                self._leader = True
                self._gather()
                batch, self._queue = self._queue, []
                self._recent = (self._recent[1], frozenset(r.thread for r in batch))
        if batch:  # this thread leads: commit the batch, then release the followers
            added = False
            try:
                added = self._commit(batch)
            finally:
                with self._cond:
                    for waiting in batch:
                        waiting.done = True
                    self._leader = False
                    self._committed_at = time.monotonic()
                    self._cond.notify_all()
            if added:
                self._notify()
            self._uncheckpointed += 1
            if self._uncheckpointed >= CHECKPOINT_EVERY:  # nobody else does: no webhook actor
                self.checkpoint()
        if request.error is not None:
            raise request.error
        assert request.event is not None
        return request.event

    def _gather(self) -> None:
        """While commits follow each other, let the appenders the last one released come back
        before committing (under the lock): they return a few at a time, so without this the
        batches split into two groups that alternate. With 8 appending threads batches grew from
        4.3 to 7.8 events and durable appends from 3,800 to 5,800/s (bench/bench_webhook.py,
        2 shared cores). Real time, not the injected clock: this bounds a wait on real threads."""
        now = time.monotonic()
        if now - self._committed_at > GATHER_WAIT:
            return  # no flood: commit at once
        expected = len(self._recent[0] | self._recent[1])
        deadline = now + GATHER_WAIT
        while len(self._queue) < expected and (left := deadline - time.monotonic()) > 0:
            self._grew.wait(left)

    def _commit(self, batch: list[_Append]) -> bool:
        """Commit `batch` in one transaction; True if it added any event (not all were known)."""
        store = self._store
        try:
            with store.append_turn():
                store.check_open()
                if FileIdentity.of(self.path) != store.identity:
                    raise OutboxUnavailable(self._health.identity_problem())
                try:
                    events, rows = self._write(batch)
                except sqlite3.Error as exc:
                    store.write_failed(exc, durable=True)
                    self._last_seq.clear()  # the rollback took back the seqs it handed out
                    raise
            store.wrote(durable=True)
        except BaseException as exc:
            if not isinstance(exc, OutboxClosed):
                store.count_append_failures(len(batch))
            for r in batch:
                r.error = exc
            return False
        for r, event in zip(batch, events, strict=True):
            r.event = event
        return rows > 0

    def _write(self, batch: list[_Append]) -> tuple[list[StoredEvent], int]:
        """The transaction of `_commit`, under the write lock."""
        accepted_at = self._clock.time()
        routes = self._routes
        last = self._last_seq
        rows: list[tuple[Any, ...]] = []
        deliveries: list[tuple[int, str, str]] = []
        events: list[StoredEvent] = []
        known: dict[tuple[str, str], StoredEvent] = {}  # messages met in this batch
        next_pos = self._next_pos
        with transaction(self._store.appender) as conn:
            for r in batch:
                key = None if r.message_id is None else (r.session_id, r.message_id)
                event = None if key is None else known.get(key) or _committed(conn, key)
                if event is None:
                    seq = last.get(r.session_id)
                    if seq is None:
                        row = conn.execute("SELECT last_seq FROM sessions WHERE session_id = ?",
                                           (r.session_id,)).fetchone()
                        seq = row[0] if row else 0
                    last[r.session_id] = seq = seq + 1
                    body = f"{r.head}{seq}{r.tail}".encode("ascii")
                    rows.append((next_pos, r.event_id, r.session_id, seq, r.type, body,
                                 accepted_at, r.message_id))
                    deliveries.extend((next_pos, route.endpoint, r.session_id)
                                      for route in routes if route.wants(r.type, r.session_id))
                    event = StoredEvent(r.event_id, r.session_id, seq, r.type, body, next_pos)
                    next_pos += 1
                if key is not None:
                    known[key] = event
                events.append(event)
            conn.executemany(
                "INSERT INTO events (pos, id, session_id, seq, type, body, accepted_at,"
                " message_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            conn.executemany("INSERT INTO deliveries (pos, endpoint, session_id) VALUES (?, ?, ?)",
                             deliveries)
            # one count per endpoint and commit: a trigger per row cost 3.7 us an event (+11%)
            conn.executemany(COUNT_INSERTED, Counter(d[1] for d in deliveries).items())
            conn.executemany(
                "INSERT INTO sessions (session_id, last_seq) VALUES (?, ?) ON CONFLICT"
                " (session_id) DO UPDATE SET last_seq = excluded.last_seq",
                [(s, last[s]) for s in {r[2] for r in rows}])
        self._next_pos = next_pos
        return events, len(deliveries)

    def set_routes(self, routes: Iterable[Route]) -> None:
        """Which endpoints want which events, for events committed from now on."""
        routes = tuple(routes)
        with self._store.write_lock:
            self._routes = routes

    @property
    def routes(self) -> tuple[Route, ...]:
        return self._routes

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` after every commit that queued deliveries, and after every requeue or
        replay; returns an unsubscriber."""
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

    # --- endpoints and operators ----------------------------------------------------------------

    def endpoint(self, endpoint_id: str) -> EndpointQueue:
        """The deliveries of one endpoint: what its actor sends and operators look at."""
        with self._cond:
            queue = self._queues.get(endpoint_id)
            if queue is None:
                queue = self._queues[endpoint_id] = EndpointQueue(
                    endpoint_id, self._store, self._clock, self._requeued)
            return queue

    def _requeued(self) -> None:
        with self._cond:
            self.generation += 1
        self._notify()

    def endpoints_with_deliveries(self) -> dict[str, int]:
        """Every endpoint the file holds pending deliveries for, with how many."""
        return dict(self._store.read(
            "SELECT endpoint, n FROM delivery_counts WHERE state = 'pending' AND n > 0"))

    def event(self, event_id: str) -> EventDetail | None:
        """One event with its deliveries to every endpoint and their attempts."""
        return self._store.read_with(lambda conn: event_detail(conn, event_id))

    def prune_unrouted(self, keep: float, limit: int = 500) -> int:
        """Forget events older than `keep` seconds that no endpoint wanted, looking at up to
        `limit` events not looked at before; returns how many it forgot."""
        cutoff = self._clock.time() - keep
        with self._cond:
            cursor = self._unrouted_cursor
        rows = self._store.read(
            "SELECT pos, accepted_at, EXISTS (SELECT 1 FROM deliveries d WHERE d.pos = e.pos)"
            " FROM events e WHERE pos > ? ORDER BY pos LIMIT ?", (cursor, limit))
        doomed = []
        for pos, accepted_at, routed in rows:
            if accepted_at > cutoff:
                break
            cursor = pos
            if not routed:
                doomed.append((pos,))
        with self._cond:
            self._unrouted_cursor = max(self._unrouted_cursor, cursor)
        if not doomed:
            return 0
        with self._store.writing() as conn:
            conn.executemany(f"DELETE FROM events WHERE pos = ? AND {NOT_NEWEST} AND NOT"
                             " EXISTS (SELECT 1 FROM deliveries d WHERE d.pos = events.pos)",
                             doomed)
        return len(doomed)

    def checkpoint(self) -> bool:
        """Copy the WAL into the database, beside appends (see `Store.checkpoint`); the webhook
        actors call it every second, and an appender after `CHECKPOINT_EVERY` commits without."""
        done = self._store.checkpoint()
        if done:
            self._uncheckpointed = 0
        return done

    def health(self) -> OutboxHealth:
        """Whether appends can be committed now, and why not (see `actors.outbox_health`)."""
        return self._health.now()

    # --- reconciliation (sessions) --------------------------------------------------------------

    def message_high_water(self, session_id: str, recent: int = 200) -> float | None:
        """The newest app time among the last `recent` messages committed for `session_id`
        (None when there is none): where reconciliation reads from."""
        rows = self._store.read(
            "SELECT body FROM events WHERE session_id = ? AND message_id IS NOT NULL"
            " ORDER BY seq DESC LIMIT ?", (session_id, recent))
        times = [t for (body,) in rows if (t := _message_time(body)) is not None]
        return max(times, default=None)

    def known_messages(self, session_id: str, message_ids: Sequence[str]) -> set[str]:
        """Which of `message_ids` the outbox holds for `session_id`, whatever their deliveries."""
        known: set[str] = set()
        ids = list(message_ids)
        for first in range(0, len(ids), 500):  # SQLite's limit on host parameters
            chunk = ids[first:first + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._store.read(f"SELECT message_id FROM events WHERE session_id = ?"
                                    f" AND message_id IN ({marks})", (session_id, *chunk))
            known.update(row[0] for row in rows)
        return known

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
        self._store.close()


def _committed(conn: sqlite3.Connection, key: tuple[str, str]) -> StoredEvent | None:
    """The event already holding message `key` (session_id, message_id), if any."""
    row = conn.execute("SELECT id, session_id, seq, type, body, pos FROM events"
                       " WHERE session_id = ? AND message_id = ?", key).fetchone()
    return None if row is None else StoredEvent(*row)


def _message_time(body: str | bytes) -> float | None:
    """The app time (`data.timestamp`, ISO 8601) of a stored `message.received` body."""
    try:
        stamp = json.loads(body)["data"]["timestamp"]
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
    except (ValueError, KeyError, TypeError):
        return None
