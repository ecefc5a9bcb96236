"""The outbox's on-disk form: one SQLite file in WAL mode, its tables, and how to connect.

An event is stored once, in `events` (commit order is `pos`); each endpoint that wants it has
one row in `deliveries`, keyed by (pos, endpoint), that carries that endpoint's state of it. The
indexes serve exactly the queries that must stay cheap however many rows are kept: a session's
pending deliveries to an endpoint in order (`deliveries_lane`, partial), an endpoint's dead
letters, and the purge of delivered rows by age. `sessions` remembers each session's last
`seq`, so seq never restarts after old rows are purged. `delivery_counts` is kept by triggers,
so per-endpoint figures are a lookup on every /metrics scrape (inserts count themselves, one
upsert per endpoint per commit, `count_inserted`); its `delivered_total` row
counts every delivery ever made to an endpoint and is never lowered by a purge. `attempts`
logs every attempt that did not deliver (the delivering 2xx is the delivery row's `last_*`).
`meta` holds the `generation`, bumped by every requeue and replay, so an actor notices one
made by another process.

`events.message_id` holds the app's message id of a `message.received` event (NULL for every
other event) and a unique index makes (session_id, message_id) one row.

Versions: 1 had no `message_id`; 1 and 2 kept one global queue, the delivery state on `events`.
`ensure_schema` upgrades them in one transaction: every event's state becomes its delivery to
the endpoint `default`, so pending events and dead letters are kept.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Literal

__all__ = [
    "COUNT_INSERTED",
    "SCHEMA",
    "SCHEMA_VERSION",
    "DeliveryState",
    "SchemaTooNew",
    "connect",
    "ensure_schema",
    "schema_version",
    "transaction",
]


class DeliveryState(StrEnum):
    """Where one event is in its delivery to one endpoint; the `state` column."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


class SchemaTooNew(RuntimeError):
    """The file was written by a newer Warden, whose schema this one does not know."""


SCHEMA_VERSION = 3

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS events (
        pos INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        session_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        body BLOB NOT NULL,
        accepted_at REAL NOT NULL,
        message_id TEXT,
        UNIQUE (session_id, seq)
    )""",
    "CREATE UNIQUE INDEX IF NOT EXISTS events_message ON events (session_id, message_id)"
    " WHERE message_id IS NOT NULL",
    """CREATE TABLE IF NOT EXISTS deliveries (
        pos INTEGER NOT NULL,
        endpoint TEXT NOT NULL,
        session_id TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
        attempts INTEGER NOT NULL DEFAULT 0,
        failures INTEGER NOT NULL DEFAULT 0,
        last_status INTEGER,
        last_error TEXT,
        last_attempt_at REAL,
        last_duration_ms REAL,
        next_attempt_at REAL,
        settled_at REAL,
        PRIMARY KEY (pos, endpoint)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS deliveries_lane ON deliveries (endpoint, session_id, pos)"
    " WHERE state = 'pending'",
    "CREATE INDEX IF NOT EXISTS deliveries_dead ON deliveries (endpoint, pos)"
    " WHERE state = 'dead'",
    "CREATE INDEX IF NOT EXISTS deliveries_delivered ON deliveries (endpoint, settled_at)"
    " WHERE state = 'delivered'",
    """CREATE TABLE IF NOT EXISTS attempts (
        pos INTEGER NOT NULL,
        endpoint TEXT NOT NULL,
        at REAL NOT NULL,
        status INTEGER,
        error TEXT,
        duration_ms REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS attempts_delivery ON attempts (pos, endpoint)",
    """CREATE TABLE IF NOT EXISTS sessions (
        session_id TEXT PRIMARY KEY,
        last_seq INTEGER NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS delivery_counts (
        endpoint TEXT NOT NULL,
        state TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (endpoint, state)
    ) WITHOUT ROWID""",
    """CREATE TRIGGER IF NOT EXISTS deliveries_count_delete AFTER DELETE ON deliveries BEGIN
        UPDATE delivery_counts SET n = n - 1 WHERE endpoint = OLD.endpoint AND state = OLD.state;
    END""",
    """CREATE TRIGGER IF NOT EXISTS deliveries_count_update AFTER UPDATE OF state ON deliveries
    WHEN OLD.state <> NEW.state BEGIN
        UPDATE delivery_counts SET n = n - 1 WHERE endpoint = OLD.endpoint AND state = OLD.state;
        INSERT INTO delivery_counts (endpoint, state, n) VALUES (NEW.endpoint, NEW.state, 1)
        ON CONFLICT (endpoint, state) DO UPDATE SET n = n + 1;
        INSERT INTO delivery_counts (endpoint, state, n)
        SELECT NEW.endpoint, 'delivered_total', 1 WHERE NEW.state = 'delivered'
        ON CONFLICT (endpoint, state) DO UPDATE SET n = n + 1;
    END""",
    """CREATE TABLE IF NOT EXISTS meta (
        key TEXT PRIMARY KEY,
        value
    ) WITHOUT ROWID""",
    "INSERT OR IGNORE INTO meta (key, value) VALUES ('generation', 0)",
)

COUNT_INSERTED = ("INSERT INTO delivery_counts (endpoint, state, n) VALUES (?, 'pending', ?)"
                  " ON CONFLICT (endpoint, state) DO UPDATE SET n = n + excluded.n")

# The endpoint that events queued by a version 1 or 2 file belong to after the upgrade.
LEGACY_ENDPOINT = "default"


def connect(path: Path, synchronous: Literal["FULL", "NORMAL"]) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), usable from any thread
    as long as the caller serializes its use. Raises SchemaTooNew for a newer Warden's file."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    try:
        _checked(conn)  # before WAL mode: a newer Warden's file is left as it was
    except BaseException:
        conn.close()
        raise
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    # Checkpoints run apart (Store.checkpoint), never inside a commit that appenders wait for.
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:  # a failed COMMIT (disk full) may already have rolled back
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the tables in a new file, or bring an older file up to `SCHEMA_VERSION`.

    Idempotent, and safe while another process opens the same file: the upgrade is one
    IMMEDIATE transaction that looks before it alters. A file already up to date is not
    written. A file from a newer Warden raises SchemaTooNew and is left untouched.
    """
    if _checked(conn):
        return
    with transaction(conn):
        if _checked(conn):
            return
        columns = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
        if "state" in columns:  # versions 1 and 2: one global queue
            _upgrade_v2(conn, has_message_id="message_id" in columns)
        for statement in SCHEMA:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _checked(conn: sqlite3.Connection) -> bool:
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(f"schema version {version}, written by a newer Warden "
                           f"(this one knows up to {SCHEMA_VERSION})")
    return version == SCHEMA_VERSION


def _upgrade_v2(conn: sqlite3.Connection, *, has_message_id: bool) -> None:
    """Move the delivery state of a version 1 or 2 `events` table into `deliveries` for the
    endpoint `default`, keeping every event, its seq and its last failed attempt."""
    conn.execute("ALTER TABLE events RENAME TO events_v2")
    for name in ("events_pending", "events_dead", "events_delivered", "events_message"):
        conn.execute(f"DROP INDEX IF EXISTS {name}")
    for name in ("events_count_insert", "events_count_delete", "events_count_update"):
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")
    conn.execute("DROP TABLE IF EXISTS counts")
    for statement in SCHEMA:
        conn.execute(statement)
    message_id = "message_id" if has_message_id else "NULL"
    conn.execute("INSERT INTO events (pos, id, session_id, seq, type, body, accepted_at,"
                 f" message_id) SELECT pos, id, session_id, seq, type, body, accepted_at,"
                 f" {message_id} FROM events_v2")
    conn.execute(
        "INSERT INTO deliveries (pos, endpoint, session_id, state, attempts, failures,"
        " last_status, last_error, last_attempt_at, next_attempt_at, settled_at)"
        " SELECT pos, ?, session_id, state,"
        " attempts + (CASE WHEN state = 'delivered' THEN 1 ELSE 0 END), attempts, last_status,"
        " last_error, last_attempt_at, next_attempt_at, settled_at FROM events_v2",
        (LEGACY_ENDPOINT,))
    conn.execute(
        "INSERT INTO attempts (pos, endpoint, at, status, error, duration_ms)"
        " SELECT pos, ?, last_attempt_at, last_status, last_error, 0 FROM events_v2"
        " WHERE state <> 'delivered' AND last_attempt_at IS NOT NULL", (LEGACY_ENDPOINT,))
    conn.execute("INSERT INTO delivery_counts (endpoint, state, n) SELECT endpoint, state,"
                 " COUNT(*) FROM deliveries GROUP BY endpoint, state")
    conn.execute("INSERT INTO delivery_counts (endpoint, state, n) SELECT endpoint,"
                 " 'delivered_total', COUNT(*) FROM deliveries WHERE state = 'delivered'"
                 " GROUP BY endpoint")
    conn.execute("DROP TABLE events_v2")
