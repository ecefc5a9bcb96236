"""The webhooks are the configured endpoints and the outbox that feeds them, as the front, the
metrics and the CLI see them: which endpoints there are, each one's queue and figures, any
event's deliveries, and the outbox's health.

It holds no state of its own but the endpoint list, which `set_endpoints` replaces (the outbox's
routes with it), so a reload can add, remove or change endpoints without touching what is
queued: deliveries of an endpoint that goes away stay in the outbox until it comes back.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from actors.endpoint import DEFAULT_ENDPOINT, WebhookConfig
from actors.outbox import Outbox
from actors.outbox_health import OutboxHealth
from actors.outbox_queue import EndpointQueue
from actors.outbox_records import EndpointStats, EventDetail

__all__ = ["Webhooks"]


class Webhooks:
    """Endpoints by id, in config order, over one outbox. Safe from any thread."""

    def __init__(self, outbox: Outbox, endpoints: Iterable[WebhookConfig]) -> None:
        self.outbox = outbox
        self._lock = threading.Lock()
        self._endpoints: tuple[WebhookConfig, ...] = ()
        self.set_endpoints(endpoints)

    def set_endpoints(self, endpoints: Iterable[WebhookConfig]) -> None:
        endpoints = tuple(endpoints)
        with self._lock:
            self._endpoints = endpoints
        self.outbox.set_routes(e.route() for e in endpoints)

    def endpoints(self) -> tuple[WebhookConfig, ...]:
        with self._lock:
            return self._endpoints

    def ids(self) -> tuple[str, ...]:
        return tuple(e.id for e in self.endpoints())

    def webhook(self) -> WebhookConfig:
        """The endpoint `default`, else the first (what `/webhook` shows)."""
        endpoints = self.endpoints()
        return next((e for e in endpoints if e.id == DEFAULT_ENDPOINT), endpoints[0])

    def get(self, endpoint_id: str) -> WebhookConfig | None:
        return next((e for e in self.endpoints() if e.id == endpoint_id), None)

    def queue(self, endpoint_id: str) -> EndpointQueue:
        return self.outbox.endpoint(endpoint_id)

    def stats(self, endpoint_id: str) -> EndpointStats:
        return self.outbox.endpoint(endpoint_id).stats()

    def event(self, event_id: str) -> EventDetail | None:
        return self.outbox.event(event_id)

    def health(self) -> OutboxHealth:
        return self.outbox.health()

    def unconfigured(self) -> dict[str, int]:
        """Endpoints the outbox holds pending deliveries for that are not configured."""
        known = set(self.ids())
        return {e: n for e, n in self.outbox.endpoints_with_deliveries().items()
                if e not in known}
