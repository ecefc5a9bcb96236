"""An endpoint queue is one endpoint's view of the outbox: the deliveries it owes, the answers
written back to them, and what operators see of them (`actors.outbox_records`) and do with
them.

Its webhook actor reads what is waiting (`waiting`, or one session's `lane`), fetches the
bodies of what it sends next (`events`) and writes every answer back (`settle`, one transaction
for many answers). An attempt that did not deliver is logged in `attempts`; the delivering 2xx
is the delivery row's own `last_*`, so the common case writes one row, not two. Requeues and
replays are durable like appends (an operator was told it is queued again) and bump the file's
`generation`, which the actor watches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from actors.delivery import Outcome
from actors.outbox_records import DeliveryRecord, EndpointStats, endpoint_stats, records
from actors.outbox_schema import DeliveryState
from actors.outbox_store import Store
from actors.webhook_event import StoredEvent
from runtime.clock import Clock

__all__ = ["NOT_NEWEST", "Answer", "EndpointQueue", "Waiting"]

ERROR_CHARS = 1000  # how much of an error text is kept
# The newest event is never deleted, so SQLite never hands its pos out again.
NOT_NEWEST = "pos < (SELECT MAX(pos) FROM events)"


@dataclass(frozen=True, slots=True)
class Waiting:
    """A pending delivery, as much as deciding when to send it needs."""

    pos: int
    session_id: str
    failures: int  # failed attempts so far that count against the retry schedule
    next_attempt_at: float | None  # wall seconds; not before then (a retry's wait)


@dataclass(frozen=True, slots=True)
class Answer:
    """What one attempt came to, to be written back."""

    pos: int
    outcome: Outcome
    status: int | None
    error: str
    at: float  # wall seconds, when the attempt began
    seconds: float
    next_attempt_at: float | None = None  # wall seconds, for a retry or a pause


_WHERE_PENDING = " WHERE pos = ? AND endpoint = ? AND state = 'pending'"
_SETTLE = {
    Outcome.DELIVERED:
        "UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, last_status = ?,"
        " last_error = NULL, last_attempt_at = ?, last_duration_ms = ?, next_attempt_at = NULL,"
        " settled_at = ?" + _WHERE_PENDING,
    Outcome.RETRY:
        "UPDATE deliveries SET attempts = attempts + 1, failures = failures + 1,"
        " last_status = ?, last_error = ?, last_attempt_at = ?, last_duration_ms = ?,"
        " next_attempt_at = ?" + _WHERE_PENDING,
    Outcome.PAUSED:  # a paused endpoint's probe: the retry schedule is not spent
        "UPDATE deliveries SET attempts = attempts + 1, last_status = ?, last_error = ?,"
        " last_attempt_at = ?, last_duration_ms = ?, next_attempt_at = ?" + _WHERE_PENDING,
    Outcome.DEAD_LETTER:
        "UPDATE deliveries SET state = 'dead', attempts = attempts + 1, failures = failures + 1,"
        " last_status = ?, last_error = ?, last_attempt_at = ?, last_duration_ms = ?,"
        " next_attempt_at = NULL, settled_at = ?" + _WHERE_PENDING,
}


class EndpointQueue:
    """The deliveries of `endpoint`. Every method is safe from any thread."""

    def __init__(self, endpoint: str, store: Store, clock: Clock,
                 requeued: Callable[[], None]) -> None:
        self.endpoint = endpoint
        self._store = store
        self._clock = clock
        self._requeued = requeued

    # --- delivering (the endpoint's actor) ------------------------------------------------------

    def waiting(self, after: int, limit: int) -> list[Waiting]:
        """Pending deliveries after `after`, in commit order."""
        # `+`: walk the primary key from `after`; the planner would rather sort every pending
        # row of the endpoint from its lane index (1 ms a read with 5,000 pending).
        rows = self._store.read(
            "SELECT pos, session_id, failures, next_attempt_at FROM deliveries"
            " WHERE pos > ? AND +endpoint = ? AND +state = 'pending' ORDER BY pos LIMIT ?",
            (after, self.endpoint, limit))
        return [Waiting(*row) for row in rows]

    def lane(self, session_id: str, after: int, limit: int) -> list[Waiting]:
        """One session's pending deliveries after `after`, in order."""
        rows = self._store.read(
            "SELECT pos, session_id, failures, next_attempt_at FROM deliveries"
            " WHERE endpoint = ? AND session_id = ? AND state = 'pending' AND pos > ?"
            " ORDER BY pos LIMIT ?", (self.endpoint, session_id, after, limit))
        return [Waiting(*row) for row in rows]

    def events(self, positions: Sequence[int]) -> dict[int, StoredEvent]:
        """The events at `positions` (missing ones were purged)."""
        found: dict[int, StoredEvent] = {}
        for start in range(0, len(positions), 500):
            chunk = positions[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._store.read("SELECT id, session_id, seq, type, body, pos FROM events"
                                        f" WHERE pos IN ({marks})", list(chunk)):
                found[row[5]] = StoredEvent(*row)
        return found

    def settle(self, answers: Sequence[Answer]) -> None:
        """Write `answers` back, in one transaction."""
        if not answers:
            return
        endpoint = self.endpoint
        updates: dict[Outcome, list[tuple[Any, ...]]] = {o: [] for o in Outcome}
        logged = []
        for a in answers:
            error = a.error[:ERROR_CHARS]
            ms = round(a.seconds * 1000, 3)
            if a.outcome is Outcome.DELIVERED:
                updates[a.outcome].append((a.status, a.at, ms, a.at + a.seconds, a.pos, endpoint))
                continue
            logged.append((a.pos, endpoint, a.at, a.status, error, ms))
            if a.outcome is Outcome.DEAD_LETTER:
                updates[a.outcome].append((a.status, error, a.at, ms, a.at + a.seconds, a.pos,
                                           endpoint))
            else:
                updates[a.outcome].append((a.status, error, a.at, ms, a.next_attempt_at, a.pos,
                                           endpoint))
        with self._store.writing() as conn:
            for outcome, rows in updates.items():
                if rows:
                    conn.executemany(_SETTLE[outcome], rows)
            if logged:
                conn.executemany("INSERT INTO attempts (pos, endpoint, at, status, error,"
                                 " duration_ms) VALUES (?, ?, ?, ?, ?, ?)", logged)

    def prune(self, keep: float, limit: int = 200) -> int:
        """Forget up to `limit` deliveries delivered more than `keep` seconds ago, their
        attempts, and their events if no other endpoint keeps them; returns how many."""
        cutoff = self._clock.time() - keep
        with self._store.writing() as conn:
            doomed = [(pos, self.endpoint) for (pos,) in conn.execute(
                "SELECT pos FROM deliveries WHERE endpoint = ? AND state = 'delivered'"
                " AND settled_at <= ? LIMIT ?", (self.endpoint, cutoff, limit))]
            conn.executemany("DELETE FROM attempts WHERE pos = ? AND endpoint = ?", doomed)
            conn.executemany("DELETE FROM deliveries WHERE pos = ? AND endpoint = ?", doomed)
            conn.executemany(
                f"DELETE FROM events WHERE pos = ? AND {NOT_NEWEST}"
                " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.pos = events.pos)",
                [(pos,) for pos, _ in doomed])
        return len(doomed)

    def first_pending(self) -> int:
        """The position of the oldest pending delivery, or one past the newest event."""
        (first,) = self._store.read(
            "SELECT COALESCE(MIN((SELECT d.pos FROM deliveries d WHERE d.endpoint = ?"
            " AND d.session_id = s.session_id AND d.state = 'pending' ORDER BY d.pos LIMIT 1)),"
            " (SELECT COALESCE(MAX(pos), 0) + 1 FROM events)) FROM sessions s",
            (self.endpoint,))[0]
        return int(first)

    def generation(self) -> int:
        """The file's count of requeues and replays, whichever process made them."""
        return int(self._store.read("SELECT value FROM meta WHERE key = 'generation'")[0][0])

    # --- operators ------------------------------------------------------------------------------

    def requeue(self, event_id: str) -> bool:
        """Queue a dead letter again with a fresh retry budget; False if it is not dead here."""
        return self._requeue("state = 'dead' AND pos = (SELECT pos FROM events WHERE id = ?)",
                             (event_id,)) == 1

    def requeue_all_dead(self) -> int:
        """Queue every dead letter of this endpoint again; returns how many."""
        return self._requeue("state = 'dead'", ())

    def replay(self, since: float, session_id: str | None = None) -> int:
        """Deliver again every event delivered here that was accepted at or after `since`
        (wall seconds), of one session or all; returns how many."""
        where = ("state = 'delivered' AND pos >= (SELECT COALESCE(MIN(pos), 1 << 62)"
                 " FROM events WHERE accepted_at >= ?)")
        params: tuple[Any, ...] = (since,)
        if session_id is not None:
            where += " AND session_id = ?"
            params += (session_id,)
        return self._requeue(where, params, keep_delivering_attempt=True)

    def _requeue(self, where: str, params: tuple[Any, ...],
                 keep_delivering_attempt: bool = False) -> int:
        with self._store.writing(durable=True) as conn:
            if keep_delivering_attempt:  # the 2xx lives on the row: log it before it goes
                conn.execute(
                    "INSERT INTO attempts (pos, endpoint, at, status, error, duration_ms)"
                    " SELECT pos, endpoint, last_attempt_at, last_status, NULL,"
                    " COALESCE(last_duration_ms, 0) FROM deliveries"
                    f" WHERE endpoint = ? AND {where}",
                    (self.endpoint, *params))
            count = conn.execute(
                "UPDATE deliveries SET state = 'pending', failures = 0, next_attempt_at = NULL,"
                f" settled_at = NULL WHERE endpoint = ? AND {where}",
                (self.endpoint, *params)).rowcount
            if count:
                conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'generation'")
        if count:
            self._requeued()
        return count

    def stats(self) -> EndpointStats:
        """Counts and the oldest pending age, never waiting on a writer."""
        return endpoint_stats(self._store, self._clock, self.endpoint)

    def records(self, state: DeliveryState | None = None, session_id: str | None = None,
                limit: int = 100) -> list[DeliveryRecord]:
        """This endpoint's deliveries, oldest first, of one state and session or all."""
        return records(self._store, self.endpoint, state, session_id, limit=limit)

    def record(self, event_id: str) -> DeliveryRecord | None:
        found = records(self._store, self.endpoint, event_id=event_id, limit=1)
        return found[0] if found else None

    def dead_letters(self, limit: int = 100) -> list[DeliveryRecord]:
        return self.records(DeliveryState.DEAD, limit=limit)
