"""A webhook receiver for tests: a real aiohttp server on loopback that answers from a script.

It runs on its own event loop thread, records every request (path, headers, exact body) and
answers each POST to /hook with the reply its `rule` picks for the event, else the next scripted
`Reply` (the default one when the script is empty). It can go down and come back up on the same
port, and it notes the most requests it was answering at once.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["Received", "Receiver", "Reply"]


@dataclass(frozen=True, slots=True)
class Reply:
    status: int = 204
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (the client may time out first)
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Received:
    path: str
    headers: Mapping[str, str]
    body: bytes
    status: int  # what the receiver answered

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


class Receiver:
    def __init__(self, default: Reply | None = None) -> None:
        self.default = default or Reply()
        self._script: deque[Reply] = deque()
        self._received: list[Received] = []
        self._cond = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="test-receiver",
                                        daemon=True)
        self._thread.start()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.port = 0
        self.rule: Callable[[dict[str, Any]], Reply | None] = lambda _: None
        self.in_flight = 0
        self.most_in_flight = 0
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    # --- scripting and reading -----------------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        with self._cond:
            self._script.extend(replies)

    @property
    def received(self) -> list[Received]:
        with self._cond:
            return list(self._received)

    def hook_calls(self) -> list[Received]:
        return [r for r in self.received if r.path == "/hook"]

    def delivered(self) -> list[Received]:
        """Requests to /hook that were answered 2xx."""
        return [r for r in self.hook_calls() if 200 <= r.status < 300]

    def wait_for(self, predicate: Callable[[Receiver], bool], timeout: float = 15.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    # --- serving ------------------------------------------------------------------------------

    def up(self) -> None:
        self._call(self._up())

    def down(self) -> None:
        self._call(self._down())

    def close(self) -> None:
        self._call(self._down())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(15)

    async def _up(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        app.router.add_post("/moved", self._moved)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True,
                                     shutdown_timeout=0.5)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await self._site.start()
        server = self._site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def _down(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        with self._cond:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self._cond.notify_all()
            reply = self.rule(json.loads(body))
            if reply is None:
                reply = self._script.popleft() if self._script else self.default
        try:
            if reply.delay:
                await asyncio.sleep(reply.delay)
        finally:
            with self._cond:
                self.in_flight -= 1
        self._record(Received("/hook", dict(request.headers), body, reply.status))
        return web.Response(status=reply.status, headers=dict(reply.headers), body=reply.body)

    async def _moved(self, request: web.Request) -> web.Response:
        self._record(Received("/moved", dict(request.headers), await request.read(), 204))
        return web.Response(status=204)

    def _record(self, received: Received) -> None:
        with self._cond:
            self._received.append(received)
            self._cond.notify_all()
