"""The API's JSON shapes are rendered from board snapshots alone."""

from __future__ import annotations

from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import pytest

from actors.demo_sink import DemoSink, SinkRejected
from actors.views import (
    RenderCache,
    event_json,
    health_detail_json,
    health_json,
    iso,
    session_json,
    sink_json,
    webhook_json,
)
from runtime import ChildState, ChildStatus, EventName, FakeClock, LifecycleEvent, Reason
from tests.actors.test_demo_sink import SECRET, event, signed

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z

SESSION_FIELDS = {
    "id", "state", "adapter", "restarts", "restarts_total", "last_restart_reason",
    "last_heartbeat", "last_activity", "last_canary", "inactive_seconds", "browser_pid",
    "memory_bytes", "uptime_seconds", "abandoned",
}


def make_status(child_id: str = "acct-1", state: ChildState = ChildState.HEALTHY,
                **overrides: Any) -> ChildStatus:
    fields: dict[str, Any] = {
        "id": child_id, "supervisor": "sessions", "state": state, "restarts": 0,
        "restarts_total": 0, "last_restart_reason": None, "last_heartbeat": None,
        "last_activity": None, "started_at": None, "abandoned_threads": 0,
        "published_at": NOW, "kind": "session",
    }
    details = overrides.pop("details", {})
    fields.update(overrides)
    return ChildStatus(**fields, details=MappingProxyType(dict(details)))


def test_iso_is_utc_with_milliseconds_and_a_z() -> None:
    assert iso(NOW) == "2027-01-15T08:00:00.000Z"
    assert iso(NOW + 0.1234) == "2027-01-15T08:00:00.123Z"
    assert iso(NOW + 59.9996) == "2027-01-15T08:01:00.000Z"  # rounding carries into seconds
    assert iso(None) is None


def test_iso_round_trips_through_the_standard_parser() -> None:
    stamp = NOW + 12_345.678
    parsed = datetime.fromisoformat(iso(stamp).replace("Z", "+00:00"))  # type: ignore[union-attr]
    assert parsed.tzinfo == UTC
    assert abs(parsed.timestamp() - stamp) < 0.001


def test_a_session_shows_every_field_from_the_snapshot_and_its_details() -> None:
    status = make_status(
        state=ChildState.UNHEALTHY, restarts=2, restarts_total=5,
        last_restart_reason=Reason.CANARY, last_heartbeat=NOW - 1.5, last_activity=NOW - 30.25,
        started_at=NOW - 100.0, abandoned_threads=1,
        details={"adapter": "simulator", "browser_pid": 4242, "memory_bytes": 123_456_789,
                 "last_canary": NOW - 7.0, "events_total": 9},
    )
    session = session_json(status, NOW)
    assert set(session) == SESSION_FIELDS
    assert session == {
        "id": "acct-1", "state": "unhealthy", "adapter": "simulator", "restarts": 2,
        "restarts_total": 5, "last_restart_reason": "canary",
        "last_heartbeat": "2027-01-15T07:59:58.500Z",
        "last_activity": "2027-01-15T07:59:29.750Z",
        "last_canary": "2027-01-15T07:59:53.000Z",
        "inactive_seconds": 30.25, "browser_pid": 4242, "memory_bytes": 123_456_789,
        "uptime_seconds": 100.0, "abandoned": 1,
    }


def test_a_session_that_never_reported_shows_nulls() -> None:
    session = session_json(make_status(state=ChildState.STOPPED), NOW)
    assert set(session) == SESSION_FIELDS
    for key in ("adapter", "last_restart_reason", "last_heartbeat", "last_activity",
                "last_canary", "inactive_seconds", "browser_pid", "memory_bytes",
                "uptime_seconds"):
        assert session[key] is None, key


def test_inactivity_counts_from_the_start_until_the_first_event() -> None:
    status = make_status(state=ChildState.STARTING, started_at=NOW - 4.0)
    assert session_json(status, NOW)["inactive_seconds"] == 4.0


def test_details_of_the_wrong_type_are_not_passed_through() -> None:
    status = make_status(details={"browser_pid": "12", "memory_bytes": True, "adapter": 3})
    session = session_json(status, NOW)
    assert (session["browser_pid"], session["memory_bytes"], session["adapter"]) == (
        None, None, None)


def test_the_health_summary_counts_healthy_and_stuck_sessions() -> None:
    statuses = (
        make_status("a", ChildState.HEALTHY, last_activity=NOW - 2.0, restarts=1),
        make_status("b", ChildState.BACKOFF, started_at=NOW - 3.0),
        make_status("c", ChildState.STOPPED),
        make_status("d", ChildState.STARTING, started_at=NOW),
        make_status("e", ChildState.FAILED, restarts=3),
    )
    summary = health_json(statuses, NOW)
    assert (summary["totalSessions"], summary["healthySessions"], summary["stuckSessions"]) == (
        5, 1, 2)
    first = summary["sessions"][0]
    assert first == {"sessionId": "a", "lastActivity": "2027-01-15T07:59:58.000Z",
                     "inactiveDuration": 2000, "isHealthy": True, "restartAttempts": 1,
                     "state": "healthy"}
    assert [s["sessionId"] for s in summary["sessions"]] == ["a", "b", "c", "d", "e"]
    assert summary["sessions"][1]["inactiveDuration"] == 3000
    assert summary["sessions"][2]["inactiveDuration"] is None
    assert summary["sessions"][4]["restartAttempts"] == 3


def test_an_event_renders_with_its_time_and_reason() -> None:
    event = LifecycleEvent(EventName.RESTART_SCHEDULED, "sessions", "acct-1", NOW,
                           reason=Reason.HEARTBEAT, attempt=2, delay=2.5, detail="quiet")
    assert event_json(event) == {
        "name": "restart_scheduled", "supervisor": "sessions", "child": "acct-1",
        "at": "2027-01-15T08:00:00.000Z", "reason": "heartbeat", "attempt": 2, "delay": 2.5,
        "recovery_seconds": None, "detail": "quiet", "incident": None,
    }


class Stats:
    pending = 4
    oldest_age_seconds = 12.5
    dead_letters = 1
    delivered = 99


def test_the_webhook_view_joins_the_board_and_the_outbox() -> None:
    webhook = make_status("webhook", details={"endpoint_state": "paused",
                                              "paused_reason": "HTTP 410"})
    assert webhook_json(webhook, Stats()) == {
        "state": "healthy", "endpoint_state": "paused", "paused_reason": "HTTP 410",
        "pending": 4, "oldest_age_seconds": 12.5, "dead_letters": 1, "delivered": 99,
    }
    assert webhook_json(None, None)["pending"] is None


def test_the_cache_renders_again_for_a_new_snapshot_or_a_later_moment() -> None:
    cache = RenderCache(resolution=0.1)
    renders: list[float] = []

    def render(statuses: tuple[ChildStatus, ...], now: float) -> dict[str, Any]:
        renders.append(now)
        return {"n": len(statuses), "now": now}

    snapshot = (make_status("a"),)
    first = cache.get("v", snapshot, NOW + 0.03, render)
    assert cache.get("v", snapshot, NOW + 0.05, render) is first
    assert len(renders) == 1
    cache.get("v", (make_status("a"),), NOW + 0.05, render)  # an equal but new snapshot
    assert len(renders) == 2
    cache.get("v", snapshot, NOW + 0.5, render)
    assert len(renders) == 3


def test_the_sink_view_counts_and_keeps_the_last_deliveries_newest_first() -> None:
    sink = DemoSink(SECRET, clock=FakeClock(start=0.0, wall_epoch=NOW))
    for seq in (1, 2, 3):
        sink.receive(event(seq), signed(event(seq), msg_id=f"evt_{seq}"))
    sink.receive(event(3), signed(event(3), msg_id="evt_3"))
    with pytest.raises(SinkRejected):
        sink.receive(event(4), signed(event(5)))
    view = sink_json(sink, 2)
    assert view is not None
    assert (view["accepted"], view["rejected"], view["duplicates"]) == (4, 1, 1)
    assert [(e["seq"], e["duplicate"]) for e in view["events"]] == [(3, True), (3, False)]
    assert view["events"][0] == {
        "webhook_id": "evt_3", "type": "message.received", "session_id": "acct-1", "seq": 3,
        "timestamp": "2027-01-15T08:00:00Z", "received_at": "2027-01-15T08:00:00.000Z",
        "duplicate": True, "data": {"body": "hi"}}
    assert sink_json(None, 10) is None


def test_health_detail_is_ok_with_nothing_wrong() -> None:
    detail = health_detail_json([make_status("acct-1"), make_status("webhook", kind="webhook")],
                                True, {"healthy": True, "problems": []})
    assert detail["status"] == "ok" and detail["problems"] == []
    assert detail["children"] == {"healthy": 2} and detail["abandoned"] == 0


def test_health_detail_names_each_problem() -> None:
    children = [
        make_status("acct-1", abandoned_threads=2),
        make_status("acct-2", ChildState.FAILED, restarts=3, last_restart_reason=Reason.MEMORY),
        make_status("driver-1", ChildState.FAILED, restarts=3, kind="driver"),
        make_status("acct-3", ChildState.BACKOFF, abandoned_threads=1),
    ]
    outbox = {"healthy": False, "problems": ["12 MiB free on /var/lib/warden, under the 64 MiB"
                                             " an outbox needs to take appends"]}
    detail = health_detail_json(children, True, outbox)
    assert detail["status"] == "degraded"
    assert detail["problems"] == [
        "acct-2 gave up after 3 restarts (last: memory); start it again once the cause is fixed",
        "driver-1 gave up after 3 restarts; start it again once the cause is fixed",
        "3 threads are left blocked in pages that were killed (acct-1, acct-3); they are freed"
        " by a restart of the runtime",
        "outbox: 12 MiB free on /var/lib/warden, under the 64 MiB an outbox needs to take"
        " appends",
    ]
    assert detail["children"] == {"healthy": 1, "backoff": 1, "failed": 2}
    assert detail["abandoned"] == 3 and detail["outbox"] == outbox


def test_health_detail_names_a_session_whose_messages_wait_in_the_apps_store() -> None:
    owing = make_status("acct-1", details={"reconcile_owed_since": NOW - 90})
    detail = health_detail_json([owing], True, None)
    assert detail["status"] == "degraded"
    assert detail["problems"] == [
        "acct-1: messages wait in the app's store since 2027-01-15T07:58:30.000Z: reconciling"
        " them with the outbox keeps failing (see the log)"]


def test_health_detail_is_down_while_the_root_does_not_run() -> None:
    detail = health_detail_json([], False, None)
    assert detail["status"] == "down"
    assert detail["problems"] == ["the root supervisor does not run"]
