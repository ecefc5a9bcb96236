"""The outbox accepts an event once committed, numbers each session gaplessly, and keeps it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.outbox import FILE_NAME, EventState, Outbox, OutboxClosed, StoredEvent
from runtime.clock import FakeClock

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(wall_epoch=1_800_000_000.0)


@pytest.fixture
def outbox(tmp_path: Path, clock: FakeClock) -> Iterator[Outbox]:
    box = Outbox(tmp_path / FILE_NAME, clock)
    yield box
    box.close()


def test_an_appended_event_has_the_documented_body(outbox: Outbox) -> None:
    event = outbox.append("acct-1", "message.received", {"from": "ann", "body": "héllo"},
                          at=1_800_000_000.25)

    assert event.id.startswith("evt_") and len(event.id) == 30
    assert event.seq == 1
    assert list(json.loads(event.body)) == ["id", "type", "timestamp", "session_id", "seq", "data"]
    assert json.loads(event.body) == {
        "id": event.id, "type": "message.received", "timestamp": "2027-01-15T08:00:00.250Z",
        "session_id": "acct-1", "seq": 1, "data": {"from": "ann", "body": "héllo"},
    }
    assert outbox.pending() == [event]


def test_the_event_time_defaults_to_now_on_the_clock(outbox: Outbox, clock: FakeClock) -> None:
    clock.advance(90)
    event = outbox.append("acct-1", "session.started", {})
    assert json.loads(event.body)["timestamp"] == "2027-01-15T08:01:30.000Z"


def test_seq_counts_per_session_from_one(outbox: Outbox) -> None:
    seqs = [(e.session_id, e.seq) for e in (
        outbox.append("a", "session.started", {}),
        outbox.append("b", "session.started", {}),
        outbox.append("a", "message.received", {}),
        outbox.append("a", "message.received", {}),
    )]
    assert seqs == [("a", 1), ("b", 1), ("a", 2), ("a", 3)]


def test_concurrent_appenders_get_gapless_unique_seqs_in_commit_order(outbox: Outbox) -> None:
    returned: list[StoredEvent] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def appender(n: int) -> None:
        start.wait()
        for i in range(150):
            event = outbox.append(f"s{(n + i) % 3}", "message.received", {"n": n, "i": i})
            with lock:
                returned.append(event)

    threads = [threading.Thread(target=appender, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    stored = outbox.pending(10_000)
    assert sorted(stored, key=lambda e: e.id) == sorted(returned, key=lambda e: e.id)
    by_session: dict[str, list[int]] = defaultdict(list)
    for event in stored:  # delivery order
        by_session[event.session_id].append(event.seq)
    for seqs in by_session.values():
        assert seqs == list(range(1, len(seqs) + 1))
    assert sum(len(s) for s in by_session.values()) == 8 * 150
    assert len({e.id for e in stored}) == 8 * 150


def test_a_subscriber_hears_of_a_commit_after_it_is_readable(outbox: Outbox) -> None:
    seen: list[int] = []
    unsubscribe = outbox.subscribe(lambda: seen.append(len(outbox.pending())))
    outbox.append("a", "session.started", {})
    unsubscribe()
    outbox.append("a", "session.stopped", {})
    assert seen == [1]


def test_the_outbox_survives_a_reopen_and_seq_continues(tmp_path: Path, clock: FakeClock) -> None:
    first = Outbox(tmp_path / FILE_NAME, clock)
    kept = [first.append("a", "message.received", {"i": i}) for i in range(3)]
    first.close()

    second = Outbox(tmp_path / FILE_NAME, clock)
    try:
        assert second.pending() == kept
        assert second.append("a", "message.received", {}).seq == 4
    finally:
        second.close()


def test_the_file_is_in_wal_mode(outbox: Outbox) -> None:
    outbox.append("a", "session.started", {})
    conn = sqlite3.connect(outbox.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        conn.close()


def test_bad_events_are_refused_before_anything_is_written(outbox: Outbox) -> None:
    with pytest.raises(TypeError):
        outbox.append("a", "message.received", {"when": object()})
    with pytest.raises(ValueError, match="unknown event type"):
        outbox.append("a", "message.sent", {})
    with pytest.raises(ValueError):
        outbox.append("a", "message.received", {"x": float("nan")})
    assert outbox.append("a", "session.started", {}).seq == 1
    assert outbox.stats().pending == 1


def test_stats_count_states_and_age_the_oldest_pending(outbox: Outbox, clock: FakeClock) -> None:
    assert outbox.stats().oldest_age_seconds is None
    first = outbox.append("a", "session.started", {})
    clock.advance(30)
    second = outbox.append("a", "message.received", {})
    third = outbox.append("b", "message.received", {})
    clock.advance(12)

    stats = outbox.stats()
    assert (stats.pending, stats.oldest_age_seconds, stats.dead_letters, stats.delivered) == (
        3, 42.0, 0, 0)

    outbox.mark_delivered(first.id, 200)
    outbox.dead_letter(second.id, 422, "HTTP 422: no such chat")
    stats = outbox.stats()
    assert (stats.pending, stats.oldest_age_seconds, stats.dead_letters, stats.delivered) == (
        1, 12.0, 1, 1)
    assert outbox.pending() == [third]


def test_stats_do_not_wait_for_a_long_write(outbox: Outbox) -> None:
    outbox.append("a", "session.started", {})
    writer = sqlite3.connect(outbox.path, isolation_level=None)
    answered = threading.Event()
    try:
        writer.execute("BEGIN IMMEDIATE")  # a write in progress, holding SQLite's write lock
        writer.execute("UPDATE events SET state = 'dead'")
        reader = threading.Thread(target=lambda: (outbox.stats(), answered.set()))
        reader.start()
        assert answered.wait(10), "stats() waited for the writer"
        reader.join()
        assert outbox.stats().pending == 1  # the uncommitted write is not seen
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_a_dead_letter_keeps_its_last_status_and_error_and_can_be_requeued(
        outbox: Outbox) -> None:
    event = outbox.append("a", "message.received", {})
    outbox.record_retry(event.id, 503, "HTTP 503", None)
    outbox.dead_letter(event.id, 400, "HTTP 400: bad payload")

    record = outbox.record(event.id)
    assert record is not None
    assert (record.state, record.attempts, record.last_status, record.last_error) == (
        EventState.DEAD, 2, 400, "HTTP 400: bad payload")
    assert outbox.pending() == []

    assert outbox.requeue(event.id)
    assert not outbox.requeue(event.id)  # no longer dead
    assert not outbox.requeue("evt_unknown")
    assert outbox.pending() == [event]  # with a fresh budget: attempts back to 0


def test_a_pause_does_not_spend_the_retry_budget(outbox: Outbox) -> None:
    event = outbox.append("a", "message.received", {})
    outbox.record_pause(event.id, 410, "HTTP 410", 1_800_000_100.0)
    outbox.record_retry(event.id, 500, "HTTP 500", 1_800_000_200.0)
    record = outbox.record(event.id)
    assert record is not None
    assert (record.attempts, record.last_status, record.next_attempt_at) == (
        1, 500, 1_800_000_200.0)


def test_delivered_events_are_kept_for_the_configured_time(outbox: Outbox,
                                                           clock: FakeClock) -> None:
    old = outbox.append("a", "message.received", {})
    outbox.mark_delivered(old.id, 204)
    clock.advance(100)
    recent = outbox.append("a", "message.received", {})
    outbox.mark_delivered(recent.id, 204)
    clock.advance(50)

    assert outbox.purge_delivered(keep=120) == 1
    assert outbox.record(old.id) is None
    assert outbox.record(recent.id) is not None
    assert outbox.stats().delivered == 1
    assert outbox.append("a", "message.received", {}).seq == 3  # seq never goes back


def test_a_closed_outbox_refuses_everything_with_one_clear_error(tmp_path: Path) -> None:
    box = Outbox(tmp_path / FILE_NAME)
    event = box.append("a", "session.started", {})
    box.close()
    for call in (lambda: box.append("a", "session.started", {}), box.pending, box.stats,
                 lambda: box.mark_delivered(event.id, 200), lambda: box.requeue(event.id)):
        with pytest.raises(OutboxClosed):
            call()


# --- a message the app pushes again -------------------------------------------------------------


def message(message_id: str, body: str = "hi") -> dict[str, str]:
    return {"message_id": message_id, "from": "ann", "body": body}


def test_a_message_pushed_again_returns_the_event_already_committed(outbox: Outbox,
                                                                     clock: FakeClock) -> None:
    first = outbox.append("acct-1", "message.received", message("m1"))
    clock.advance(5)
    again = outbox.append("acct-1", "message.received", message("m1", body="hi, again"))

    assert again == first
    assert outbox.pending() == [first]
    assert outbox.stats().pending == 1
    assert outbox.append("acct-1", "message.received", message("m2")).seq == 2  # no seq spent


@pytest.mark.parametrize("settle", ["delivered", "dead"])
def test_a_message_pushed_again_after_it_settled_is_not_sent_again(outbox: Outbox,
                                                                    settle: str) -> None:
    first = outbox.append("acct-1", "message.received", message("m1"))
    if settle == "delivered":
        outbox.mark_delivered(first.id, 204)
    else:
        outbox.dead_letter(first.id, 422, "HTTP 422")
    woken: list[None] = []
    outbox.subscribe(lambda: woken.append(None))

    again = outbox.append("acct-1", "message.received", message("m1"))

    assert (again.id, again.seq, again.body) == (first.id, first.seq, first.body)
    assert outbox.pending() == []
    assert woken == []  # nothing new to deliver
    record = outbox.record(first.id)
    assert record is not None and record.state == settle


def test_a_message_pushed_again_after_a_restart_is_the_same_event(tmp_path: Path,
                                                                   clock: FakeClock) -> None:
    before = Outbox(tmp_path / FILE_NAME, clock)
    first = before.append("acct-1", "message.received", message("m1"))
    before.close()  # the browser died before the page acked: the app will push m1 again

    after = Outbox(tmp_path / FILE_NAME, clock)
    try:
        assert after.append("acct-1", "message.received", message("m1")) == first
        assert after.pending() == [first]
    finally:
        after.close()


def test_only_the_same_message_in_the_same_session_is_one_event(outbox: Outbox) -> None:
    events = [
        outbox.append("acct-1", "message.received", message("m1")),
        outbox.append("acct-2", "message.received", message("m1")),  # another account
        outbox.append("acct-1", "message.received", {"from": "ann", "body": "no id"}),
        outbox.append("acct-1", "message.received", {"from": "ann", "body": "no id"}),
        outbox.append("acct-1", "session.started", {"message_id": "m1"}),  # not a message
        outbox.append("acct-1", "session.started", {"message_id": "m1"}),
    ]
    assert len({e.id for e in events}) == 6
    assert [e.seq for e in events if e.session_id == "acct-1"] == [1, 2, 3, 4, 5]


def test_a_message_pushed_again_after_the_purge_is_new_again(outbox: Outbox,
                                                              clock: FakeClock) -> None:
    first = outbox.append("acct-1", "message.received", message("m1"))
    outbox.mark_delivered(first.id, 204)
    clock.advance(100)
    assert outbox.purge_delivered(keep=60) == 1

    again = outbox.append("acct-1", "message.received", message("m1"))
    assert again.id != first.id and again.seq == 2


def test_concurrent_pushes_of_the_same_messages_commit_each_once(outbox: Outbox) -> None:
    returned: dict[str, set[StoredEvent]] = defaultdict(set)
    lock = threading.Lock()
    start = threading.Barrier(8)

    def pusher() -> None:
        start.wait()
        for i in range(60):  # every thread pushes the same 60 messages
            event = outbox.append(f"s{i % 2}", "message.received", message(f"m{i}"))
            with lock:
                returned[f"m{i}"].add(event)

    threads = [threading.Thread(target=pusher) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert all(len(events) == 1 for events in returned.values())
    stored = outbox.pending(1000)
    assert sorted(stored, key=lambda e: e.id) == sorted(
        (e for events in returned.values() for e in events), key=lambda e: e.id)
    for session in ("s0", "s1"):
        assert [e.seq for e in stored if e.session_id == session] == list(range(1, 31))


def test_sqlite_itself_refuses_a_second_row_for_a_message(outbox: Outbox) -> None:
    outbox.append("acct-1", "message.received", message("m1"))
    conn = sqlite3.connect(outbox.path)
    try:
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO events (id, session_id, seq, type, body, accepted_at,"
                         " message_id) VALUES ('evt_x', 'acct-1', 99, 'message.received',"
                         " x'7b7d', 0, 'm1')")
    finally:
        conn.close()


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


def test_a_version_1_file_gains_the_message_column_and_keeps_its_events(
        tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / FILE_NAME
    old = sqlite3.connect(path)
    old.executescript(OUTBOX_V1)
    old.close()

    box = Outbox(path, clock)
    try:
        assert [e.id for e in box.pending()] == ["evt_old"]
        assert box.stats().pending == 1
        first = box.append("acct-1", "message.received", message("m1"))
    finally:
        box.close()
    box = Outbox(path, clock)  # opening an upgraded file again changes nothing
    try:
        assert box.append("acct-1", "message.received", message("m1")) == first
        assert [e.id for e in box.pending()] == ["evt_old", first.id]
    finally:
        box.close()

    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT id, seq, message_id FROM events ORDER BY pos").fetchall()
        assert rows == [("evt_old", 1, None), (first.id, 2, "m1")]
        assert conn.execute("PRAGMA user_version").fetchone() == (2,)
    finally:
        conn.close()


# --- `warden outbox` -----------------------------------------------------------------------------


def warden(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "warden", *args], capture_output=True,
                          text=True, timeout=60, cwd=REPO, env=env, check=False)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "supervisor.yaml"
    path.write_text(f"state_dir: {tmp_path / 'state'}\n"
                    "webhook:\n  url: http://127.0.0.1:9/hook\n  keep_delivered: 2h\n")
    return path


def test_warden_outbox_shows_pending_oldest_and_dead_letters(config_file: Path,
                                                            tmp_path: Path) -> None:
    box = Outbox(tmp_path / "state" / FILE_NAME)
    try:
        dead = box.append("acct-1", "message.received", {})
        box.dead_letter(dead.id, 400, "HTTP 400: bad payload")
        head = box.append("acct-1", "message.received", {})
        box.record_retry(head.id, 503, "HTTP 503", None)
        box.append("acct-2", "session.started", {})
    finally:
        box.close()

    result = warden("outbox", "-c", str(config_file))

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split()[:2] == ["pending", "2"]
    assert "oldest accepted" in lines[1]
    assert lines[2].split() == ["dead", "letters", "1"]
    assert lines[3].split()[:2] == ["delivered", "0"] and "kept 2h" in lines[3]
    assert head.id in lines[4] and "1 failed attempt, last: HTTP 503" in lines[4]
    assert any(dead.id in line and "HTTP 400: bad payload" in line for line in lines[5:])


def test_warden_outbox_requeue_moves_a_dead_letter_back(config_file: Path,
                                                         tmp_path: Path) -> None:
    box = Outbox(tmp_path / "state" / FILE_NAME)
    try:
        events = [box.append("acct-1", "message.received", {"i": i}) for i in range(3)]
        for event in events:
            box.dead_letter(event.id, 422, "HTTP 422")
    finally:
        box.close()

    one = warden("outbox", "-c", str(config_file), "requeue", events[0].id)
    again = warden("outbox", "-c", str(config_file), "requeue", events[0].id)
    unknown = warden("outbox", "-c", str(config_file), "requeue", "evt_nosuchevent")
    rest = warden("outbox", "-c", str(config_file), "requeue", "--all-dead")

    assert one.returncode == 0, one.stderr
    assert again.returncode == 2 and "not a dead letter" in again.stderr
    assert unknown.returncode == 2 and "no event evt_nosuchevent" in unknown.stderr
    assert rest.returncode == 0 and "requeued 2 dead letters" in rest.stdout
    box = Outbox(tmp_path / "state" / FILE_NAME)
    try:
        assert [e.id for e in box.pending()] == [e.id for e in events]
        assert box.stats().dead_letters == 0
    finally:
        box.close()


def test_warden_outbox_without_a_file_or_with_a_bad_config(config_file: Path,
                                                            tmp_path: Path) -> None:
    empty = warden("outbox", "-c", str(config_file))
    bad = tmp_path / "bad.yaml"
    bad.write_text("webhook:\n  secret: whsec_***\n")
    broken = warden("outbox", "-c", str(bad))

    assert empty.returncode == 0 and "nothing queued yet" in empty.stdout
    assert broken.returncode == 2 and "webhook.secret" in broken.stderr
