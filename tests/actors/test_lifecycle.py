"""Supervision events of sessions become the webhook event types."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any

from actors.intake import Intake
from actors.lifecycle import LifecycleWebhooks
from runtime.events import LifecycleEvent
from runtime.vocabulary import EventName, Reason
from tests.actors.test_intake import FlakyOutbox
from tests.helpers import wait_until


class Recorder:
    """An intake that takes everything at once."""

    def __init__(self) -> None:
        self.appended: list[tuple[str, str, dict[str, Any], float | None]] = []

    def submit(self, session_id: str, type: str, data: Mapping[str, Any],
               at: float | None = None) -> Future[None]:
        self.appended.append((session_id, type, dict(data), at))
        future: Future[None] = Future()
        future.set_result(None)
        return future


def event(name: EventName, supervisor: str = "sessions", **fields: Any) -> LifecycleEvent:
    fields.setdefault("kind", "session" if supervisor == "sessions" else "")
    return LifecycleEvent(name=name, supervisor=supervisor, child="acct-1", at=1800.0, **fields)


def test_restart_cycle_becomes_restarting_then_recovered() -> None:
    outbox = Recorder()
    hooks = LifecycleWebhooks(outbox)
    hooks(event(EventName.RESTART_SCHEDULED, reason=Reason.CANARY, attempt=2, delay=2.1234,
                fault_id="019a4c0e2b1f7c3d2e"))
    hooks(event(EventName.CHILD_RECOVERED, reason=Reason.CANARY, recovery_seconds=3.5))
    assert [(s, t) for s, t, _, _ in outbox.appended] == [
        ("acct-1", "session.restarting"), ("acct-1", "session.recovered")]
    assert outbox.appended[0][2] | {"detail": ""} == {
        "reason": "canary", "attempt": 2, "delay_seconds": 2.123, "detail": "",
        "incident": "inc_019a4c0e2b1f7c3d2e"}
    assert outbox.appended[0][3] == 1800.0


def test_every_session_webhook_type_has_its_event() -> None:
    outbox = Recorder()
    hooks = LifecycleWebhooks(outbox)
    for name in (EventName.CHILD_HEALTHY, EventName.REACHED_MAX_RESTARTS,
                 EventName.AUTH_REQUIRED, EventName.CHILD_STOPPED):
        hooks(event(name, reason=Reason.CANARY))
    assert [t for _, t, _, _ in outbox.appended] == [
        "session.started", "session.health_failed", "session.auth_required", "session.stopped"]


def test_a_problem_cleared_without_a_restart_is_a_recovery_not_a_start() -> None:
    outbox = Recorder()
    LifecycleWebhooks(outbox)(event(EventName.CHILD_CLEARED, detail="auth_required"))
    assert [(t, d) for _, t, d, _ in outbox.appended] == [
        ("session.recovered", {"reason": None, "restarted": False, "cleared": "auth_required"})]


def test_events_of_other_supervisors_and_internal_events_send_nothing() -> None:
    outbox = Recorder()
    hooks = LifecycleWebhooks(outbox)
    hooks(event(EventName.RESTART_SCHEDULED, supervisor="root", reason=Reason.CRASH, attempt=1,
                delay=1.0))
    hooks(event(EventName.CHILD_STARTED))
    hooks(event(EventName.CHILD_KILLED))
    assert outbox.appended == []


def test_a_lifecycle_webhook_the_outbox_cannot_take_yet_is_retried_not_dropped() -> None:
    flaky = FlakyOutbox()
    flaky.broken.add("acct-1")
    intake = Intake(flaky, initial=0.001, cap=0.01)
    try:
        hooks = LifecycleWebhooks(intake)
        hooks(event(EventName.CHILD_STOPPED))
        assert intake.waiting("acct-1") == 1 and flaky.committed == []
        flaky.broken.clear()
        assert wait_until(lambda: len(flaky.committed) == 1)
    finally:
        intake.close()
