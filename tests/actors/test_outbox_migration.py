"""An outbox file written by an older Warden is upgraded in place, keeping every event: what was
queued for its one endpoint becomes endpoint `default`'s, dead letters and retries included."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from actors.delivery import Outcome
from actors.outbox import FILE_NAME, DeliveryState, Outbox
from actors.outbox_health import OutboxUnusable
from actors.outbox_queue import Answer
from actors.outbox_schema import SCHEMA_VERSION
from runtime.clock import FakeClock

V2_FILE = Path(__file__).with_name("data") / "outbox-v2.sqlite3"  # see data/outbox-v2.md
V2_IDS = {
    "delivered": "evt_01MCC5RM00BK47TSW5C98QZ0QC",
    "dead": "evt_01MCC5RMZ84ZZ1TWZRGYAZGZH6",
    "retrying": "evt_01MCC5RNYGXW2WZCW37556KNF9",
    "pending": "evt_01MCC5RPXRX2GMWFZTXQVGJWJ5",
    "pending2": "evt_01MCC5RQX0J9YQQD3YW66HBXBR",
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(wall_epoch=1_800_000_010.0)


@pytest.fixture
def v2(tmp_path: Path) -> Path:
    path = tmp_path / FILE_NAME
    shutil.copyfile(V2_FILE, path)
    return path


def test_a_version_2_file_keeps_its_pending_events_and_dead_letters_as_endpoint_default(
        v2: Path, clock: FakeClock) -> None:
    box = Outbox(v2, clock)
    try:
        queue = box.endpoint("default")
        stats = queue.stats()
        assert (stats.pending, stats.dead_letters, stats.delivered, stats.delivered_total) == (
            3, 1, 1, 1)
        assert [w.pos for w in queue.waiting(0, 10)] == [3, 4, 5]
        retrying = queue.record(V2_IDS["retrying"])
        assert retrying is not None
        assert (retrying.state, retrying.failures, retrying.last_status,
                retrying.next_attempt_at) == (DeliveryState.PENDING, 1, 503, 1_800_000_305.0)
        dead = queue.dead_letters()
        assert [(d.event_id, d.last_status, d.last_error) for d in dead] == [
            (V2_IDS["dead"], 422, "HTTP 422: no such chat")]
        detail = box.event(V2_IDS["retrying"])
        assert detail is not None
        (_, attempts), = detail.deliveries
        assert [(a.status, a.error) for a in attempts] == [(503, "HTTP 503: busy")]
        # seq goes on where it was, and a message pushed again is still the same event
        assert box.append("acct-1", "message.received", {"message_id": "m-x"}).seq == 5
        again = box.append("acct-1", "message.received", {"message_id": "m-dead"})
        assert again.id == V2_IDS["dead"]
        # the requeue of an old dead letter works as for a new one
        assert queue.requeue(V2_IDS["dead"])
        assert queue.stats().dead_letters == 0
    finally:
        box.close()


def test_the_upgraded_file_delivers_and_opens_again_unchanged(v2: Path, clock: FakeClock) -> None:
    box = Outbox(v2, clock)
    try:
        queue = box.endpoint("default")
        waiting = queue.waiting(0, 10)
        events = queue.events([w.pos for w in waiting])
        assert [events[w.pos].id for w in waiting] == [
            V2_IDS["retrying"], V2_IDS["pending"], V2_IDS["pending2"]]
        assert b'"body":"h\\u00e9llo"' in events[5].body  # the exact bytes stored then
        queue.settle([Answer(w.pos, Outcome.DELIVERED, 204, "", clock.time(), 0.01)
                      for w in waiting])
    finally:
        box.close()
    box = Outbox(v2, clock)
    try:
        assert box.endpoint("default").stats().pending == 0
        assert box.endpoint("default").stats().delivered_total == 4
    finally:
        box.close()
    with sqlite3.connect(v2) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
    assert "state" not in columns


# The outbox file as version 1 wrote it: no message_id column.
OUTBOX_V1 = """
CREATE TABLE events (
    pos INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, session_id TEXT NOT NULL,
    seq INTEGER NOT NULL, type TEXT NOT NULL, body BLOB NOT NULL, accepted_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0, last_status INTEGER, last_error TEXT,
    last_attempt_at REAL, next_attempt_at REAL, settled_at REAL, UNIQUE (session_id, seq)
);
CREATE INDEX events_pending ON events (pos) WHERE state = 'pending';
CREATE INDEX events_dead ON events (pos) WHERE state = 'dead';
CREATE INDEX events_delivered ON events (settled_at) WHERE state = 'delivered';
CREATE TABLE sessions (session_id TEXT PRIMARY KEY, last_seq INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE counts (state TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO counts (state, n) VALUES ('pending', 1), ('delivered', 0), ('dead', 0);
CREATE TRIGGER events_count_insert AFTER INSERT ON events BEGIN
    UPDATE counts SET n = n + 1 WHERE state = NEW.state;
END;
CREATE TRIGGER events_count_delete AFTER DELETE ON events BEGIN
    UPDATE counts SET n = n - 1 WHERE state = OLD.state;
END;
CREATE TRIGGER events_count_update AFTER UPDATE OF state ON events
WHEN OLD.state <> NEW.state BEGIN
    UPDATE counts SET n = n - 1 WHERE state = OLD.state;
    UPDATE counts SET n = n + 1 WHERE state = NEW.state;
END;
INSERT INTO events (id, session_id, seq, type, body, accepted_at)
    VALUES ('evt_old', 'acct-1', 1, 'message.received', x'7b7d', 1800000000.0);
UPDATE counts SET n = 1 WHERE state = 'pending';
INSERT INTO sessions (session_id, last_seq) VALUES ('acct-1', 1);
PRAGMA user_version = 1;
"""




def test_a_version_1_file_without_message_ids_is_upgraded_too(tmp_path: Path,
                                                              clock: FakeClock) -> None:
    path = tmp_path / FILE_NAME
    old = sqlite3.connect(path)
    old.executescript(OUTBOX_V1)
    old.close()

    box = Outbox(path, clock)
    try:
        queue = box.endpoint("default")
        assert [w.pos for w in queue.waiting(0, 10)] == [1]
        assert queue.stats().pending == 1
        first = box.append("acct-1", "message.received", {"message_id": "m1"})
        assert first.seq == 2
    finally:
        box.close()
    box = Outbox(path, clock)  # opening an upgraded file again changes nothing
    try:
        assert box.append("acct-1", "message.received", {"message_id": "m1"}) == first
    finally:
        box.close()


def test_a_file_from_a_newer_warden_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = path.read_bytes()
    with pytest.raises(OutboxUnusable, match="written by a newer Warden"):
        Outbox(path)
    assert path.read_bytes() == before
