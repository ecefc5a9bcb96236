"""Lifecycle events: fixed names in structured log lines, and a bus that calls every subscriber."""

from __future__ import annotations

import logging

import pytest

from runtime import EventBus, EventName, LifecycleEvent, Reason

EVENT = LifecycleEvent(name=EventName.RESTART_SCHEDULED, supervisor="sessions", child="acct-1",
                       at=1_800_000_000.0, reason=Reason.HEARTBEAT, attempt=2, delay=2.5,
                       detail="no heartbeat for 10.5s")


def test_event_names_are_the_fixed_vocabulary() -> None:
    assert [str(n) for n in EventName] == [
        "child_started", "child_healthy", "child_unhealthy", "child_exited",
        "restart_scheduled", "child_restarted", "child_recovered", "child_cleared",
        "reached_max_restarts",
        "auth_required", "child_offline", "child_stopped", "child_killed", "child_abandoned",
        "supervisor_escalated",
    ]


def test_every_subscriber_hears_every_event_in_order_until_it_unsubscribes() -> None:
    bus = EventBus()
    first: list[LifecycleEvent] = []
    second: list[LifecycleEvent] = []
    bus.subscribe(first.append)
    unsubscribe = bus.subscribe(second.append)
    healthy = LifecycleEvent(name=EventName.CHILD_HEALTHY, supervisor="s", child="c", at=1.0)
    bus.emit(EVENT)
    unsubscribe()
    unsubscribe()
    bus.emit(healthy)
    assert first == [EVENT, healthy]
    assert second == [EVENT]


def test_a_failing_subscriber_is_logged_and_the_others_still_hear(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = EventBus()
    heard: list[LifecycleEvent] = []

    def broken(event: LifecycleEvent) -> None:
        raise KeyError("subscriber bug")

    bus.subscribe(broken)
    bus.subscribe(heard.append)
    bus.emit(EVENT)
    assert heard == [EVENT]
    assert "subscriber bug" in caplog.text


def test_each_event_is_one_structured_log_line_with_its_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="warden.events")
    bus = EventBus()
    bus.emit(EVENT)
    bus.emit(LifecycleEvent(name=EventName.CHILD_HEALTHY, supervisor="sessions",
                            child="acct-1", at=1_800_000_001.0))
    warning, info = [r for r in caplog.records if r.name == "warden.events"]
    assert warning.levelno == logging.WARNING
    assert warning.getMessage() == ("restart_scheduled sessions/acct-1 reason=heartbeat "
                                    "attempt=2 delay=2.50s detail='no heartbeat for 10.5s'")
    assert warning.event == {  # type: ignore[attr-defined]
        "name": "restart_scheduled", "supervisor": "sessions", "child": "acct-1",
        "at": 1_800_000_000.0, "reason": "heartbeat", "attempt": 2, "delay": 2.5,
        "detail": "no heartbeat for 10.5s",
    }
    assert info.levelno == logging.INFO
    assert info.getMessage() == "child_healthy sessions/acct-1"


def test_fields_leave_out_what_is_empty_but_keep_zeros() -> None:
    event = LifecycleEvent(name=EventName.RESTART_SCHEDULED, supervisor="s", child="c", at=5.0,
                           reason=Reason.MANUAL, attempt=0, delay=0.0)
    assert event.fields() == {"name": "restart_scheduled", "supervisor": "s", "child": "c",
                              "at": 5.0, "reason": "manual", "attempt": 0, "delay": 0.0}
    recovered = LifecycleEvent(name=EventName.CHILD_RECOVERED, supervisor="s", child="c", at=5.0,
                               recovery_seconds=1.25)
    assert recovered.describe() == "child_recovered s/c recovery=1.25s"
