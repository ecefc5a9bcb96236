"""An outbox record is what operators see of deliveries: an endpoint's figures, one event at
one endpoint, and one event with its deliveries and attempts, read without waiting on a writer.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from actors.outbox_schema import DeliveryState
from actors.outbox_store import Store
from runtime.clock import Clock

__all__ = [
    "Attempt",
    "DeliveryRecord",
    "EndpointStats",
    "EventDetail",
    "endpoint_stats",
    "event_detail",
    "records",
]


@dataclass(frozen=True, slots=True)
class EndpointStats:
    pending: int
    oldest_age_seconds: float | None  # since the oldest pending event was accepted
    dead_letters: int
    delivered: int  # delivered events still kept (see WebhookConfig.keep_delivered)
    delivered_total: int = 0  # deliveries ever made to the endpoint; purges never lower it


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One event at one endpoint, as operators see it."""

    event_id: str
    endpoint: str
    session_id: str
    seq: int
    type: str
    timestamp: str  # the event time, as in its body
    state: DeliveryState
    attempts: int  # every attempt made
    failures: int  # failed attempts that counted against the retry schedule
    last_status: int | None
    last_error: str | None
    accepted_at: float  # wall seconds
    last_attempt_at: float | None
    next_attempt_at: float | None
    settled_at: float | None  # when it was delivered or dead-lettered


@dataclass(frozen=True, slots=True)
class Attempt:
    at: float  # wall seconds
    status: int | None  # None: no whole HTTP answer (timeout, refused, cut short)
    error: str | None  # None for a 2xx
    duration_ms: float


@dataclass(frozen=True, slots=True)
class EventDetail:
    """One event, and its delivery to every endpoint that wanted it, with their attempts."""

    id: str
    type: str
    session_id: str
    seq: int
    timestamp: str
    accepted_at: float
    data: Any
    deliveries: tuple[tuple[DeliveryRecord, tuple[Attempt, ...]], ...]


_RECORD = ("e.id, d.endpoint, e.session_id, e.seq, e.type,"
           " json_extract(CAST(e.body AS TEXT), '$.timestamp'), d.state, d.attempts, d.failures,"
           " d.last_status, d.last_error, e.accepted_at, d.last_attempt_at, d.next_attempt_at,"
           " d.settled_at FROM deliveries d JOIN events e ON e.pos = d.pos")


def _record(row: tuple[Any, ...]) -> DeliveryRecord:
    (event_id, endpoint, session_id, seq, type_, timestamp, state, attempts, failures,
     last_status, last_error, accepted_at, last_attempt_at, next_attempt_at, settled_at) = row
    return DeliveryRecord(event_id, endpoint, session_id, seq, type_, timestamp,
                          DeliveryState(state), attempts, failures, last_status, last_error,
                          accepted_at, last_attempt_at, next_attempt_at, settled_at)


def endpoint_stats(store: Store, clock: Clock, endpoint: str) -> EndpointStats:
    """Counts and the oldest pending age: a few index lookups per session."""
    counts = dict(store.read(
        "SELECT state, n FROM delivery_counts WHERE endpoint = ?", (endpoint,)))
    (oldest,) = store.read(
        "SELECT MIN(e.accepted_at) FROM sessions s JOIN events e ON e.pos = (SELECT d.pos"
        " FROM deliveries d WHERE d.endpoint = ? AND d.session_id = s.session_id"
        " AND d.state = 'pending' ORDER BY d.pos LIMIT 1)", (endpoint,))[0]
    return EndpointStats(
        pending=counts.get(DeliveryState.PENDING, 0),
        oldest_age_seconds=None if oldest is None else max(0.0, clock.time() - oldest),
        dead_letters=counts.get(DeliveryState.DEAD, 0),
        delivered=counts.get(DeliveryState.DELIVERED, 0),
        delivered_total=counts.get("delivered_total", 0),
    )


def records(store: Store, endpoint: str, state: DeliveryState | None = None,
            session_id: str | None = None, event_id: str | None = None,
            limit: int = 100) -> list[DeliveryRecord]:
    """An endpoint's deliveries, oldest first, of one state, session or event, or all."""
    where, params = "d.endpoint = ?", [endpoint]
    for column, value in (("d.state", state), ("d.session_id", session_id), ("e.id", event_id)):
        if value is not None:
            where += f" AND {column} = ?"
            params.append(value)
    rows = store.read(f"SELECT {_RECORD} WHERE {where} ORDER BY d.pos LIMIT ?", [*params, limit])
    return [_record(row) for row in rows]


def event_detail(conn: sqlite3.Connection, event_id: str) -> EventDetail | None:
    """The event `event_id` with every delivery and its attempts, read on `conn`."""
    row = conn.execute("SELECT pos, id, type, session_id, seq, CAST(body AS TEXT), accepted_at"
                       " FROM events WHERE id = ?", (event_id,)).fetchone()
    if row is None:
        return None
    pos, _, type_, session_id, seq, body, accepted_at = row
    parsed = json.loads(body)
    logged: dict[str, list[Attempt]] = {}
    for endpoint, *attempt in conn.execute(
            "SELECT endpoint, at, status, error, duration_ms FROM attempts WHERE pos = ?"
            " ORDER BY rowid", (pos,)):
        logged.setdefault(endpoint, []).append(Attempt(*attempt))
    deliveries = []
    for delivery in conn.execute(f"SELECT {_RECORD} WHERE d.pos = ? ORDER BY d.endpoint",
                                 (pos,)):
        record = _record(delivery)
        attempts = logged.get(record.endpoint, [])
        if record.state is DeliveryState.DELIVERED and record.last_attempt_at is not None:
            duration = conn.execute("SELECT last_duration_ms FROM deliveries WHERE pos = ?"
                                    " AND endpoint = ?", (pos, record.endpoint)).fetchone()[0]
            attempts = [*attempts, Attempt(record.last_attempt_at, record.last_status, None,
                                           duration or 0.0)]
        deliveries.append((record, tuple(attempts)))
    return EventDetail(event_id, type_, session_id, seq, parsed.get("timestamp", ""),
                       accepted_at, parsed.get("data"), tuple(deliveries))
