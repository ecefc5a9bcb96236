"""The outbox accepts an event once committed, numbers each session gaplessly, and keeps it
until every endpoint that wants it is done with it."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import defaultdict
from pathlib import Path

import pytest

from actors.delivery import Outcome
from actors.outbox import (
    FILE_NAME,
    DeliveryState,
    EndpointQueue,
    Outbox,
    OutboxClosed,
    StoredEvent,
)
from actors.outbox_queue import Answer
from runtime.clock import FakeClock
from tests.helpers import wait_until

REPO = Path(__file__).resolve().parents[2]


def queue(box: Outbox) -> EndpointQueue:
    return box.endpoint("default")


def pending(box: Outbox, limit: int = 10_000) -> list[StoredEvent]:
    """What the default endpoint still owes, in delivery order."""
    waiting = queue(box).waiting(0, limit)
    events = queue(box).events([w.pos for w in waiting])
    return [events[w.pos] for w in waiting]


def settle(box: Outbox, event: StoredEvent, outcome: Outcome, status: int | None = 204,
           error: str = "", next_attempt_at: float | None = None,
           at: float = 1_800_000_000.0) -> None:
    queue(box).settle([Answer(event.pos, outcome, status, error, at, 0.01, next_attempt_at)])


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
    assert pending(outbox) == [event]


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

    stored = pending(outbox)
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
    unsubscribe = outbox.subscribe(lambda: seen.append(len(pending(outbox))))
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
        assert pending(second) == kept
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
    assert queue(outbox).stats().pending == 1


def test_stats_count_states_and_age_the_oldest_pending(outbox: Outbox, clock: FakeClock) -> None:
    assert queue(outbox).stats().oldest_age_seconds is None
    first = outbox.append("a", "session.started", {})
    clock.advance(30)
    second = outbox.append("a", "message.received", {})
    third = outbox.append("b", "message.received", {})
    clock.advance(12)

    stats = queue(outbox).stats()
    assert (stats.pending, stats.oldest_age_seconds, stats.dead_letters, stats.delivered) == (
        3, 42.0, 0, 0)

    settle(outbox, first, Outcome.DELIVERED, 200)
    settle(outbox, second, Outcome.DEAD_LETTER, 422, "HTTP 422: no such chat")
    stats = queue(outbox).stats()
    assert (stats.pending, stats.oldest_age_seconds, stats.dead_letters, stats.delivered) == (
        1, 12.0, 1, 1)
    assert pending(outbox) == [third]


def test_stats_do_not_wait_for_a_long_write(outbox: Outbox) -> None:
    outbox.append("a", "session.started", {})
    writer = sqlite3.connect(outbox.path, isolation_level=None)
    answered = threading.Event()
    try:
        writer.execute("BEGIN IMMEDIATE")  # a write in progress, holding SQLite's write lock
        writer.execute("UPDATE deliveries SET state = 'dead'")
        reader = threading.Thread(target=lambda: (queue(outbox).stats(), answered.set()))
        reader.start()
        assert answered.wait(10), "stats() waited for the writer"
        reader.join()
        assert queue(outbox).stats().pending == 1  # the uncommitted write is not seen
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_a_dead_letter_keeps_its_last_status_and_error_and_can_be_requeued(
        outbox: Outbox) -> None:
    event = outbox.append("a", "message.received", {})
    settle(outbox, event, Outcome.RETRY, 503, "HTTP 503")
    settle(outbox, event, Outcome.DEAD_LETTER, 400, "HTTP 400: bad payload")

    record = queue(outbox).record(event.id)
    assert record is not None
    assert (record.state, record.attempts, record.failures, record.last_status,
            record.last_error) == (DeliveryState.DEAD, 2, 2, 400, "HTTP 400: bad payload")
    assert pending(outbox) == []

    assert queue(outbox).requeue(event.id)
    assert not queue(outbox).requeue(event.id)  # no longer dead
    assert not queue(outbox).requeue("evt_unknown")
    assert pending(outbox) == [event]
    assert queue(outbox).waiting(0, 1)[0].failures == 0  # with a fresh budget


def test_a_pause_does_not_spend_the_retry_budget(outbox: Outbox) -> None:
    event = outbox.append("a", "message.received", {})
    settle(outbox, event, Outcome.PAUSED, 410, "HTTP 410", 1_800_000_100.0)
    settle(outbox, event, Outcome.RETRY, 500, "HTTP 500", 1_800_000_200.0)
    record = queue(outbox).record(event.id)
    assert record is not None
    assert (record.attempts, record.failures, record.last_status, record.next_attempt_at) == (
        2, 1, 500, 1_800_000_200.0)


def test_delivered_events_are_kept_for_the_configured_time(outbox: Outbox,
                                                           clock: FakeClock) -> None:
    old = outbox.append("a", "message.received", {})
    settle(outbox, old, Outcome.DELIVERED, at=clock.time())
    clock.advance(100)
    recent = outbox.append("a", "message.received", {})
    settle(outbox, recent, Outcome.DELIVERED, at=clock.time())
    clock.advance(50)

    assert queue(outbox).prune(keep=120) == 1
    assert queue(outbox).record(old.id) is None
    assert outbox.event(old.id) is None  # no endpoint keeps it: the event goes too
    assert queue(outbox).record(recent.id) is not None
    assert queue(outbox).stats().delivered == 1
    assert queue(outbox).stats().delivered_total == 2  # a purge never lowers the total
    assert outbox.append("a", "message.received", {}).seq == 3  # seq never goes back


def test_pruning_goes_in_batches_of_the_size_asked(outbox: Outbox, clock: FakeClock) -> None:
    events = [outbox.append("a", "message.received", {"i": i}) for i in range(12)]
    queue(outbox).settle([Answer(e.pos, Outcome.DELIVERED, 204, "", clock.time(), 0.01)
                          for e in events])
    clock.advance(100)
    assert [queue(outbox).prune(keep=60, limit=5) for _ in range(4)] == [5, 5, 2, 0]
    assert queue(outbox).stats().delivered == 0
    assert outbox.event(events[10].id) is None
    assert outbox.event(events[11].id) is not None  # the newest event stays: its pos is not reused
    assert outbox.append("a", "session.stopped", {}).pos == events[11].pos + 1


def test_a_closed_outbox_refuses_everything_with_one_clear_error(tmp_path: Path) -> None:
    box = Outbox(tmp_path / FILE_NAME)
    event = box.append("a", "session.started", {})
    box.close()
    for call in (lambda: box.append("a", "session.started", {}),
                 lambda: queue(box).waiting(0, 1), queue(box).stats,
                 lambda: settle(box, event, Outcome.DELIVERED),
                 lambda: queue(box).requeue(event.id)):
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
    assert pending(outbox) == [first]
    assert queue(outbox).stats().pending == 1
    assert outbox.append("acct-1", "message.received", message("m2")).seq == 2  # no seq spent


@pytest.mark.parametrize("settle_as", ["delivered", "dead"])
def test_a_message_pushed_again_after_it_settled_is_not_sent_again(outbox: Outbox,
                                                                    settle_as: str) -> None:
    first = outbox.append("acct-1", "message.received", message("m1"))
    if settle_as == "delivered":
        settle(outbox, first, Outcome.DELIVERED)
    else:
        settle(outbox, first, Outcome.DEAD_LETTER, 422, "HTTP 422")
    woken: list[None] = []
    outbox.subscribe(lambda: woken.append(None))

    again = outbox.append("acct-1", "message.received", message("m1"))

    assert (again.id, again.seq, again.body) == (first.id, first.seq, first.body)
    assert pending(outbox) == []
    assert woken == []  # nothing new to deliver
    record = queue(outbox).record(first.id)
    assert record is not None and record.state == settle_as


def test_a_message_pushed_again_after_a_restart_is_the_same_event(tmp_path: Path,
                                                                   clock: FakeClock) -> None:
    before = Outbox(tmp_path / FILE_NAME, clock)
    first = before.append("acct-1", "message.received", message("m1"))
    before.close()  # the browser died before the page acked: the app will push m1 again

    after = Outbox(tmp_path / FILE_NAME, clock)
    try:
        assert after.append("acct-1", "message.received", message("m1")) == first
        assert pending(after) == [first]
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
    settle(outbox, first, Outcome.DELIVERED, at=clock.time())
    outbox.append("acct-1", "session.stopped", {})  # the newest event is never purged
    clock.advance(100)
    assert queue(outbox).prune(keep=60) == 1

    again = outbox.append("acct-1", "message.received", message("m1"))
    assert again.id != first.id and again.seq == 3


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
    stored = pending(outbox)
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


class RecordingLock:
    """A lock that notes who tried to take it and who got it, in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.log: list[tuple[str, str]] = []

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        self.log.append(("try", threading.current_thread().name))
        got = self._lock.acquire(blocking, timeout)
        if got:
            self.log.append(("got", threading.current_thread().name))
        return got

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *_: object) -> None:
        self.release()


def test_bookkeeping_does_not_try_for_the_lock_before_an_append_waiting_for_it(
        outbox: Outbox) -> None:
    """Prune batches back to back once took the lock again and again before a waiting append
    got it (Python's locks are not fair): appends' p99 went to 37-204 ms while pruning."""
    first = outbox.append("a", "session.started", {})
    store = outbox._store
    store.write_lock = lock = RecordingLock()  # type: ignore[assignment]
    lock.acquire()  # a write in progress
    try:
        appender = threading.Thread(target=outbox.append, name="appender",
                                    args=("a", "session.stopped", {}))
        appender.start()
        assert wait_until(lambda: store._appends_waiting == 1)
        keeper = threading.Thread(target=settle, name="keeper",
                                  args=(outbox, first, Outcome.DELIVERED))
        keeper.start()
        assert wait_until(lambda: ("try", "keeper") in lock.log, timeout=0.3) is False
    finally:
        lock.release()
    appender.join(10)
    keeper.join(10)
    tries = [entry for entry in lock.log if entry[1] in ("appender", "keeper")]
    assert tries.index(("got", "appender")) < tries.index(("try", "keeper")), tries
