"""The outbox's on-disk form: one SQLite file in WAL mode, its tables, and how to connect.

`events` holds every event in commit order (`pos`); partial indexes serve exactly the three
queries that must stay cheap however many rows are kept: the delivery head (pending by
`pos`), the purge (delivered by age) and the dead-letter list. `sessions` remembers each
session's last `seq`, so seq never restarts even after old rows are purged. `counts` is kept
by triggers, so `Outbox.stats()` is a few lookups on every /metrics scrape. An `EventRecord`
is one row of `events` as operators see it.

`events.message_id` holds the app's message id of a `message.received` event (NULL for every
other event) and a unique index makes (session_id, message_id) one row, so SQLite itself
refuses a message committed twice. Version 1 files had no such column: `ensure_schema` adds
it and the index; their rows keep NULL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "RECORD_COLUMNS",
    "SCHEMA",
    "SCHEMA_VERSION",
    "EventRecord",
    "EventState",
    "connect",
    "ensure_schema",
    "record_from_row",
    "transaction",
]


class EventState(StrEnum):
    """Where an event is in its delivery; the `state` column."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    pos INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    body BLOB NOT NULL,
    accepted_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_status INTEGER,
    last_error TEXT,
    last_attempt_at REAL,
    next_attempt_at REAL,
    settled_at REAL,
    message_id TEXT,
    UNIQUE (session_id, seq)
);
CREATE INDEX IF NOT EXISTS events_pending ON events (pos) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS events_dead ON events (pos) WHERE state = 'dead';
CREATE INDEX IF NOT EXISTS events_delivered ON events (settled_at) WHERE state = 'delivered';

CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS counts (state TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO counts (state, n) VALUES ('pending', 0), ('delivered', 0), ('dead', 0);

CREATE TRIGGER IF NOT EXISTS events_count_insert AFTER INSERT ON events BEGIN
    UPDATE counts SET n = n + 1 WHERE state = NEW.state;
END;
CREATE TRIGGER IF NOT EXISTS events_count_delete AFTER DELETE ON events BEGIN
    UPDATE counts SET n = n - 1 WHERE state = OLD.state;
END;
CREATE TRIGGER IF NOT EXISTS events_count_update AFTER UPDATE OF state ON events
WHEN OLD.state <> NEW.state BEGIN
    UPDATE counts SET n = n - 1 WHERE state = OLD.state;
    UPDATE counts SET n = n + 1 WHERE state = NEW.state;
END;
"""

SCHEMA_VERSION = 2  # 1: no events.message_id

_MESSAGE_INDEX = ("CREATE UNIQUE INDEX IF NOT EXISTS events_message"
                  " ON events (session_id, message_id) WHERE message_id IS NOT NULL")


@dataclass(frozen=True, slots=True)
class EventRecord:
    """Everything the outbox knows about one event (for operators and tests)."""

    id: str
    session_id: str
    seq: int
    type: str
    state: EventState
    attempts: int
    last_status: int | None
    last_error: str | None
    accepted_at: float  # wall seconds
    next_attempt_at: float | None
    settled_at: float | None  # when it was delivered or dead-lettered


def connect(path: Path, synchronous: Literal["FULL", "NORMAL"]) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), usable from any thread
    as long as the caller serializes its use."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the tables in a new file, or bring an older file up to `SCHEMA_VERSION`.

    Idempotent, and safe while another process opens the same file: the upgrade is one
    IMMEDIATE transaction that looks before it alters. A file already up to date is not written.
    """
    conn.executescript(SCHEMA)
    if conn.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
        return
    with transaction(conn):
        columns = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
        if "message_id" not in columns:
            conn.execute("ALTER TABLE events ADD COLUMN message_id TEXT")
        conn.execute(_MESSAGE_INDEX)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


RECORD_COLUMNS = ("id, session_id, seq, type, state, attempts, last_status, last_error,"
                  " accepted_at, next_attempt_at, settled_at")


def record_from_row(row: tuple[Any, ...]) -> EventRecord:
    """An EventRecord from a row of `SELECT <RECORD_COLUMNS>`."""
    (event_id, session_id, seq, type, state, attempts, last_status, last_error, accepted_at,
     next_attempt_at, settled_at) = row
    return EventRecord(event_id, session_id, seq, type, EventState(state), attempts, last_status,
                       last_error, accepted_at, next_attempt_at, settled_at)
