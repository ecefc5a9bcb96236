"""The intake commits each session's events in the order they came, and retries what the outbox
could not take until it can, holding back only that session."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from actors.intake import Intake, retry_delay
from actors.outbox import FILE_NAME, Outbox, OutboxUnavailable, StoredEvent
from tests.helpers import wait_until


class FlakyOutbox:
    """Commits in memory; fails every append of a session in `broken`."""

    def __init__(self) -> None:
        self.broken: set[str] = set()
        self.committed: list[tuple[str, Any]] = []
        self.tries = 0
        self._lock = threading.Lock()

    def append(self, session_id: str, type: str, data: Mapping[str, Any],
               at: float | None = None) -> StoredEvent:
        with self._lock:
            self.tries += 1
            if type == "bogus":
                raise ValueError("unknown event type 'bogus'")
            if session_id in self.broken:
                raise sqlite3.OperationalError("database or disk is full")
            self.committed.append((session_id, data.get("i")))
            seq = sum(1 for s, _ in self.committed if s == session_id)
            return StoredEvent(f"evt_{len(self.committed)}", session_id, seq, type, b"{}")


@pytest.fixture
def flaky() -> FlakyOutbox:
    return FlakyOutbox()


@pytest.fixture
def intake(flaky: FlakyOutbox) -> Iterator[Intake]:
    taking = Intake(flaky, initial=0.001, cap=0.01)
    yield taking
    taking.close()


def test_a_well_outbox_commits_before_submit_returns(intake: Intake, flaky: FlakyOutbox) -> None:
    future = intake.submit("acct-1", "message.received", {"i": 1})
    assert future.done() and future.result().seq == 1
    assert intake.append("acct-1", "message.received", {"i": 2}).seq == 2
    assert flaky.committed == [("acct-1", 1), ("acct-1", 2)]


def test_what_the_outbox_cannot_take_waits_in_order_and_holds_back_only_its_session(
        intake: Intake, flaky: FlakyOutbox) -> None:
    flaky.broken.add("acct-1")
    held = [intake.submit("acct-1", "message.received", {"i": i}) for i in range(3)]
    other = intake.submit("acct-2", "message.received", {"i": 9})

    assert other.done() and flaky.committed == [("acct-2", 9)]
    assert not any(f.done() for f in held)
    assert intake.waiting() == 3 and intake.waiting("acct-1") == 3
    with pytest.raises(OutboxUnavailable, match="queued"):
        intake.append("acct-1", "message.received", {"i": 3})  # queued behind, not lost

    flaky.broken.clear()  # the cause clears
    assert [f.result(timeout=5).seq for f in held] == [1, 2, 3]
    assert wait_until(lambda: [i for s, i in flaky.committed if s == "acct-1"] == [0, 1, 2, 3])
    assert intake.waiting() == 0


def test_a_bad_event_fails_at_once_and_is_not_retried(intake: Intake, flaky: FlakyOutbox) -> None:
    future = intake.submit("acct-1", "bogus", {"i": 1})
    with pytest.raises(ValueError, match="unknown event type"):
        future.result(timeout=0)
    assert flaky.tries == 1 and intake.waiting() == 0


def test_a_bad_event_behind_a_waiting_one_fails_without_blocking_the_rest(
        intake: Intake, flaky: FlakyOutbox) -> None:
    flaky.broken.add("acct-1")
    first = intake.submit("acct-1", "message.received", {"i": 1})
    bad = intake.submit("acct-1", "bogus", {"i": 2})
    last = intake.submit("acct-1", "message.received", {"i": 3})
    flaky.broken.clear()
    assert last.result(timeout=5).seq == 2
    assert first.result(timeout=0).seq == 1
    with pytest.raises(ValueError):
        bad.result(timeout=0)


def test_too_many_waiting_events_of_one_session_are_refused(flaky: FlakyOutbox) -> None:
    intake = Intake(flaky, initial=10.0, cap=10.0, max_waiting=2)
    try:
        flaky.broken.add("acct-1")
        waiting = [intake.submit("acct-1", "message.received", {"i": i}) for i in range(2)]
        refused = intake.submit("acct-1", "message.received", {"i": 2})
        with pytest.raises(OutboxUnavailable, match="2 events of acct-1 already wait"):
            refused.result(timeout=0)
        assert not any(f.done() for f in waiting)
    finally:
        intake.close()
    for future in waiting:  # closing fails what still waits, with a reason
        with pytest.raises(OutboxUnavailable, match="Warden stopped before"):
            future.result(timeout=0)


def test_the_retry_waits_grow_to_a_second() -> None:
    assert [retry_delay(n) for n in (1, 2, 3, 5, 6, 10)] == [0.05, 0.1, 0.2, 0.8, 1.0, 1.0]


def test_a_full_disk_holds_appends_and_they_go_in_once_space_is_freed(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / FILE_NAME)
    intake = Intake(outbox, initial=0.005, cap=0.02)
    try:
        assert intake.submit("acct-1", "session.started", {}).result(timeout=0).seq == 1
        outbox._store.appender.execute("PRAGMA max_page_count = 1")
        futures = [intake.submit("acct-1", "message.received",
                                 {"message_id": f"m{i}", "body": "x" * 20_000}) for i in range(4)]
        assert not any(f.done() for f in futures)
        assert not outbox.health().healthy

        outbox._store.appender.execute("PRAGMA max_page_count = 1073741823")
        assert [f.result(timeout=5).seq for f in futures] == [2, 3, 4, 5]
    finally:
        intake.close()
        outbox.close()

