"""Lifecycle webhooks: the supervision events of sessions, turned into outbox events.

One event vocabulary (runtime.vocabulary.EventName) maps to the webhook event types. They are
submitted through the intake, so one the outbox cannot take at once is retried in its
session's order instead of being dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any, Protocol

from actors.ids import incident_id
from actors.views import SESSION
from runtime import EventName, LifecycleEvent

__all__ = ["LifecycleWebhooks", "webhook_for"]

logger = logging.getLogger(__name__)


class Submitter(Protocol):
    """The intake (actors.intake.Intake)."""

    def submit(self, session_id: str, type: str, data: Mapping[str, Any],
               at: float | None = None) -> Future[Any]: ...


def webhook_for(event: LifecycleEvent) -> tuple[str, dict[str, Any]] | None:
    """The webhook type and data for a session's lifecycle event, or None if it has none."""
    match event.name:
        case EventName.CHILD_HEALTHY:
            return "session.started", {}
        case EventName.RESTART_SCHEDULED:
            return "session.restarting", {
                "reason": str(event.reason), "attempt": event.attempt,
                "delay_seconds": round(event.delay or 0.0, 3), "detail": event.detail,
                "incident": incident_id(event.fault_id) if event.fault_id else None}
        case EventName.CHILD_RECOVERED:
            return "session.recovered", {
                "reason": None if event.reason is None else str(event.reason),
                "restarted": True,
                "recovery_seconds": round(event.recovery_seconds or 0.0, 3)}
        case EventName.CHILD_CLEARED:  # e.g. logged in again: healthy without a restart
            return "session.recovered", {"reason": None, "restarted": False,
                                         "cleared": event.detail}
        case EventName.REACHED_MAX_RESTARTS:
            return "session.health_failed", {"reason": str(event.reason), "detail": event.detail}
        case EventName.AUTH_REQUIRED:  # detail: "reason: what it means" (the session says so)
            reason, _, text = event.detail.partition(": ")
            return "session.auth_required", {"reason": reason if text else "logout",
                                             "detail": text or event.detail}
        case EventName.CHILD_OFFLINE:
            return "session.offline", {"detail": event.detail}
        case EventName.CHILD_STOPPED:
            return "session.stopped", {}
    return None


class LifecycleWebhooks:
    """An EventBus subscriber that appends a webhook for each event of a session."""

    def __init__(self, intake: Submitter) -> None:
        self.intake = intake

    def __call__(self, event: LifecycleEvent) -> None:
        if event.kind != SESSION:
            return
        webhook = webhook_for(event)
        if webhook is not None:
            type_, data = webhook
            self.intake.submit(event.child, type_, data, event.at).add_done_callback(_lost)


def _lost(future: Future[Any]) -> None:
    error = future.exception()
    if error is not None:
        logger.error("a lifecycle webhook was not committed: %s", error)
