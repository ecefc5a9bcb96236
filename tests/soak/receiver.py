"""A webhook receiver is the soak's backend: a loopback aiohttp server that checks every signature
with `standardwebhooks`, records every event it accepts, and can be taken down for a while.

It runs on its own thread and event loop (port 0, kept across down/up). Down comes in two kinds:
`refuse` closes the listening socket and every open connection (the runtime sees connection
errors), `unavailable` keeps listening and answers 503. A bad signature answers 401 and is
counted; the soak demands that count stay at zero.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

__all__ = ["Down", "Received", "WebhookReceiver"]


class Down(StrEnum):
    """How the receiver is unavailable."""

    REFUSE = "refuse"  # nothing listens: connection refused
    UNAVAILABLE = "unavailable"  # listens, answers 503


@dataclass(frozen=True, slots=True)
class Received:
    """One event the receiver accepted (answered 2xx)."""

    webhook_id: str
    id: str
    type: str
    session_id: str
    seq: int
    timestamp: str  # the event time, as in the body
    data: dict[str, Any]
    received_at: float  # wall seconds


class WebhookReceiver:
    """Start with `WebhookReceiver(secret).start()`; `close()` stops it and joins its thread."""

    def __init__(self, secret: str, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self._verifier = Webhook(secret)
        self._hex_key = _key(secret)
        self._lock = threading.Lock()
        self._events: list[Received] = []
        self._down: Down | None = None
        self._counts = {"bad_signatures": 0, "refused_503": 0, "down_periods": 0}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="soak-receiver")
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hook"

    def start(self) -> WebhookReceiver:
        self._thread.start()
        self._call(self._listen())
        return self

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._stop_listening())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    # --- faults ---------------------------------------------------------------------------------

    @property
    def down(self) -> Down | None:
        return self._down

    def go_down(self, how: Down) -> None:
        if self._down is not None:
            return
        with self._lock:
            self._counts["down_periods"] += 1
        self._down = how
        if how is Down.REFUSE:
            self._call(self._stop_listening())

    def come_up(self) -> None:
        was, self._down = self._down, None
        if was is Down.REFUSE:
            self._call(self._listen())

    # --- reading --------------------------------------------------------------------------------

    def events(self) -> list[Received]:
        with self._lock:
            return list(self._events)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def message_ids(self) -> set[str]:
        with self._lock:
            return {str(e.data.get("message_id")) for e in self._events
                    if e.type == "message.received"}

    # --- the server (its own loop) --------------------------------------------------------------

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    async def _listen(self) -> None:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post("/hook", self._hook)
        runner = web.AppRunner(app, shutdown_timeout=2.0, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        await site.start()
        self.port = runner.addresses[0][1]
        self._runner = runner

    async def _stop_listening(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()  # closes the socket and every keep-alive connection

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self._down is not None:
            with self._lock:
                self._counts["refused_503"] += 1
            return web.Response(status=503, text="receiver down")
        headers = request.headers  # case-insensitive
        try:
            event = self._verifier.verify(body, dict(headers))
            if not isinstance(event, dict) or event.get("id") != headers.get("webhook-id"):
                raise WebhookVerificationError("webhook-id is not the event id")
            if not self._hex_matches(body, headers):
                raise WebhookVerificationError("X-HMAC-Signature does not match")
        except (WebhookVerificationError, ValueError) as exc:
            with self._lock:
                self._counts["bad_signatures"] += 1
            return web.json_response({"error": str(exc)}, status=401)
        received = Received(
            webhook_id=headers["webhook-id"], id=event["id"], type=event["type"],
            session_id=event["session_id"], seq=int(event["seq"]),
            timestamp=event["timestamp"], data=dict(event["data"]), received_at=time.time())
        with self._lock:
            self._events.append(received)
        return web.Response(status=204)

    def _hex_matches(self, body: bytes, headers: Mapping[str, str]) -> bool:
        signed = f"{headers['webhook-id']}.{headers.get('X-Timestamp', '')}.".encode() + body
        expected = hmac.new(self._hex_key, signed, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, headers.get("X-HMAC-Signature", ""))


def _key(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        return base64.b64decode(secret.removeprefix("whsec_"))
    return secret.encode()
