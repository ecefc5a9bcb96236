"""The outbox knows whether it can take appends: its file in place, writable, with disk space;
and it refuses, at open, a file it cannot trust."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

import pytest

from actors.outbox import FILE_NAME, Outbox, OutboxUnavailable
from actors.outbox_health import (
    MIN_FREE_BYTES,
    HealthCheck,
    OutboxUnusable,
    check_outbox,
    marker_path,
)
from runtime.clock import FakeClock


def test_a_new_outbox_is_healthy(outbox: Outbox) -> None:
    health = outbox.health()
    assert health.healthy and health.problems == ()
    assert health.free_bytes is not None and health.free_bytes > 0
    assert health.append_failures == 0 and health.last_failure is None


def test_a_file_deleted_while_running_refuses_appends_and_says_so(outbox: Outbox,
                                                                  clock: FakeClock) -> None:
    kept = outbox.append("acct-1", "session.started", {})
    os.unlink(outbox.path)

    with pytest.raises(OutboxUnavailable, match="was deleted while Warden runs"):
        outbox.append("acct-1", "message.received", {"message_id": "m1"})
    health = outbox.health()
    assert not health.healthy
    assert "was deleted" in health.problems[0]
    assert health.append_failures == 1
    # what was accepted before is still delivered from the open file
    assert [w.pos for w in outbox.endpoint("default").waiting(0, 10)] == [kept.pos]


def test_a_file_replaced_while_running_is_noticed(outbox: Outbox, clock: FakeClock) -> None:
    other = outbox.path.with_name("other.sqlite3")
    Outbox(other, clock).close()
    os.replace(other, outbox.path)

    with pytest.raises(OutboxUnavailable, match="was replaced by another file"):
        outbox.append("acct-1", "session.started", {})
    assert "replaced" in outbox.health().problems[0]


def test_failing_appends_make_it_unhealthy_until_a_write_goes_through_again(
        outbox: Outbox, clock: FakeClock) -> None:
    outbox.append("acct-1", "session.started", {})
    store = outbox._store
    store.appender.execute("PRAGMA max_page_count = 1")  # the disk is full, for appends

    for _ in range(2):
        with pytest.raises(sqlite3.OperationalError, match="full"):
            outbox.append("acct-1", "message.received", {"body": "x" * 5000})
    health = outbox.health()
    assert not health.healthy and health.append_failures == 2
    assert health.last_failure is not None and "database or disk is full" in health.last_failure
    assert "appends to" in health.problems[0]

    clock.advance(0.5)
    assert outbox.health() is health  # read at most once a second
    store.appender.execute("PRAGMA max_page_count = 1073741823")  # space was freed
    clock.advance(0.5)
    health = outbox.health()
    assert health.healthy, health.problems  # the probe went through
    assert health.append_failures == 2  # a count of what happened: it never goes back
    assert outbox.append("acct-1", "message.received", {}).seq == 2  # no seq was spent


def test_little_free_disk_space_is_a_problem(outbox: Outbox, clock: FakeClock) -> None:
    check = HealthCheck(outbox._store, clock, free_bytes=lambda _: MIN_FREE_BYTES - 2**20)
    health = check.now()
    assert not health.healthy and health.free_bytes == MIN_FREE_BYTES - 2**20
    assert "63 MiB free" in health.problems[0]


def test_a_change_of_health_is_logged_once(outbox: Outbox, clock: FakeClock,
                                           caplog: pytest.LogCaptureFixture) -> None:
    free = [10 * MIN_FREE_BYTES]
    check = HealthCheck(outbox._store, clock, free_bytes=lambda _: free[0])
    with caplog.at_level(logging.INFO, logger="actors.outbox_health"):
        check.now()
        free[0] = 0
        for _ in range(3):
            clock.advance(1.0)
            assert not check.now().healthy
        free[0] = MIN_FREE_BYTES
        clock.advance(1.0)
        assert check.now().healthy
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "0 MiB free" in errors[0].getMessage()
    assert caplog.records[-1].getMessage().endswith("is healthy again")


# --- refused at open ----------------------------------------------------------------------------


def test_a_corrupted_file_is_refused_with_one_clear_message(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    box = Outbox(path)
    for i in range(200):
        box.append("acct-1", "message.received", {"i": i, "body": "x" * 200})
    box.close()
    data = bytearray(path.read_bytes())
    page = 4096
    data[3 * page:5 * page] = b"\xff" * (2 * page)  # two pages of the events table
    path.write_bytes(bytes(data))

    with pytest.raises(OutboxUnusable) as refused:
        check_outbox(path, lambda: 0.0)
    message = str(refused.value)
    assert message.startswith(f"{path} is corrupted (")
    assert "Restore it from a backup" in message and "\n" not in message


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    path.write_bytes(b"not sqlite at all" * 300)
    with pytest.raises(OutboxUnusable, match="is corrupted"):
        Outbox(path)


def test_a_missing_file_this_state_dir_had_is_refused_until_the_marker_goes(
        tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    Outbox(path).close()
    assert marker_path(path).exists()
    path.unlink()

    with pytest.raises(OutboxUnusable, match="is missing, but this state_dir had an outbox"):
        Outbox(path)
    assert not path.exists()  # nothing was created in its place

    marker_path(path).unlink()  # the operator chose to start empty
    Outbox(path).close()


def test_a_file_from_elsewhere_is_used_and_the_marker_follows_it(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / FILE_NAME
    Outbox(path).close()
    first = marker_path(path).read_text()
    other = tmp_path / "restored.sqlite3"
    Outbox(other).close()
    os.replace(other, path)

    with caplog.at_level(logging.WARNING):
        Outbox(path).close()
    assert "is not the outbox this state_dir had" in caplog.text
    assert marker_path(path).read_text() != first
