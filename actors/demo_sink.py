"""The demo sink is the built-in webhook receiver: it verifies Standard Webhooks signatures and
keeps the last verified events for the dashboard.

It is what the embedded `supervisor.yaml` points its webhook at, so a fresh `make run` shows
end-to-end delivery without any other service. Safe from any thread.
"""

from __future__ import annotations

import binascii
import json
import threading
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError

from actors.signing import signing_key
from runtime import Clock, MonotonicClock

__all__ = ["DemoSink", "ReceivedEvent", "SinkRejected"]


class SinkRejected(Exception):
    """A delivery the sink refused; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    """One verified delivery, as the dashboard shows it."""

    webhook_id: str
    type: str | None
    session_id: str | None
    seq: int | None
    timestamp: str | None  # the event's own time, as sent
    received_at: float  # wall-clock seconds
    duplicate: bool  # this webhook-id was seen before (a retry after a lost answer)
    data: Mapping[str, Any]


class DemoSink:
    """Verifies, records and counts deliveries; keeps the last `capacity` verified events."""

    def __init__(
        self, secret: str, *, capacity: int = 100, clock: Clock | None = None,
        remember_ids: int = 10_000,
    ) -> None:
        self._webhook = Webhook(signing_key(secret))
        self._clock = clock or MonotonicClock()
        self._lock = threading.Lock()
        self._events: deque[ReceivedEvent] = deque(maxlen=capacity)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._remember_ids = remember_ids
        self.accepted = 0
        self.rejected = 0
        self.duplicates = 0

    def rekey(self, secret: str) -> None:
        """Verify with `secret` from now on (the webhook's secret changed on a reload)."""
        self._webhook = Webhook(signing_key(secret))

    def receive(self, body: bytes, headers: Mapping[str, str]) -> ReceivedEvent:
        """Verify and record one delivery; raises SinkRejected (401 bad signature, 400 bad body)."""
        try:
            self._webhook.verify(body, dict(headers), json_parse=False)
        except (WebhookVerificationError, ValueError, binascii.Error) as exc:
            # ValueError also covers a body that is not UTF-8 and a malformed signature list.
            self._count_rejected()
            raise SinkRejected(401, f"signature verification failed: {exc}") from None
        try:
            payload = json.loads(body, parse_constant=_not_json)
        except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
            self._count_rejected()
            raise SinkRejected(400, "body is not JSON") from None
        if not isinstance(payload, dict):
            self._count_rejected()
            raise SinkRejected(400, "body is not a JSON object")
        data = payload.get("data")
        webhook_id = next(v for k, v in headers.items() if k.lower() == "webhook-id")
        with self._lock:
            duplicate = webhook_id in self._seen
            self._seen[webhook_id] = None
            self._seen.move_to_end(webhook_id)
            while len(self._seen) > self._remember_ids:
                self._seen.popitem(last=False)
            event = ReceivedEvent(
                webhook_id=webhook_id,
                type=_text(payload.get("type")),
                session_id=_text(payload.get("session_id")),
                seq=_whole(payload.get("seq")),
                timestamp=_text(payload.get("timestamp")),
                received_at=self._clock.time(),
                duplicate=duplicate,
                data=data if isinstance(data, dict) else {},
            )
            self._events.append(event)
            self.accepted += 1
            self.duplicates += duplicate
        return event

    def events(self) -> list[ReceivedEvent]:
        """The kept events, newest first."""
        with self._lock:
            return list(reversed(self._events))

    def _count_rejected(self) -> None:
        with self._lock:
            self.rejected += 1


def _not_json(constant: str) -> Any:
    """NaN and Infinity are not JSON (RFC 8259): kept, they would make every answer that
    shows the event invalid JSON for the dashboard."""
    raise ValueError(f"{constant} is not JSON")


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _whole(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
