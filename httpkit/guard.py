"""A connection guard bounds what clients can hold on a server: time and connections.

Each connection between requests has a deadline: `idle_timeout` while it sends nothing, and
`header_timeout` from the first byte of a request until its head is whole (a client sending a
header a byte every 20 s was held for ever). While a request is handled no guard deadline
runs; reading its body has `body_timeout` (see `read_body`). At most `max_connections` are
open at once; one more is answered 503 and closed at once, so the server's file descriptors
stay bounded whatever clients do, and the rest of the process keeps its own.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

from httpkit.ratelog import RateLimitedLog

__all__ = ["BODY_TIMEOUT", "ConnectionGuard", "Limits", "default_max_connections"]

logger = logging.getLogger(__name__)

BODY_TIMEOUT = web.AppKey("httpkit_body_timeout", float)


def _answer(status: str, error: str, *extra: str) -> bytes:
    """A whole HTTP/1.1 answer written straight to a transport, outside aiohttp."""
    body = b'{"error":"%s"}' % error.encode()
    head = [f"HTTP/1.1 {status}", "Content-Type: application/json", *extra,
            "Connection: close", f"Content-Length: {len(body)}"]
    return "\r\n".join(head).encode() + b"\r\n\r\n" + body


_REFUSED = _answer("503 Service Unavailable", "too many connections", "Retry-After: 1")
_TIMED_OUT = _answer("408 Request Timeout", "the request head did not arrive in time")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Limits:
    """What one server allows each client; `max_connections` None: `default_max_connections()`."""

    header_timeout: float = 10.0
    idle_timeout: float = 30.0
    body_timeout: float = 10.0
    max_connections: int | None = None


def default_max_connections() -> int:
    """An eighth of the process's file-descriptor limit, from 16 to 1024: two servers (front and
    simulator) can never take more than a quarter of the descriptors browsers need."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1024
    return max(16, min(1024, soft // 8))


class ConnectionGuard:
    """Wraps a server's protocol factory (`protocol_factory`) and its app (`middleware`);
    lives on the server's event loop."""

    def __init__(self, limits: Limits, name: str) -> None:
        self.limits = limits
        self.name = name
        self.max_connections = limits.max_connections or default_max_connections()
        self.log = RateLimitedLog(logger)
        self.refused = 0
        self.timed_out = 0
        self._open: dict[asyncio.BaseTransport, _Guarded] = {}
        # Counted from the protocol's creation: asyncio accepts a burst before any of it is
        # connected; weak, so one asyncio drops before connecting frees its place.
        self._members: weakref.WeakSet[_Guarded] = weakref.WeakSet()

    @property
    def connections(self) -> int:
        """How many connections are open now (refused ones excepted)."""
        return len(self._open)

    def protocol_factory(self, inner: Callable[[], asyncio.Protocol]
                         ) -> Callable[[], asyncio.Protocol]:
        def make() -> asyncio.Protocol:
            if len(self._members) >= self.max_connections:
                self.refused += 1
                self.log.log(logging.WARNING, "cap", "%s: %d connections open (the cap): "
                             "refusing more", self.name, self.max_connections)
                return _Refused()
            conn = _Guarded(self, inner())
            self._members.add(conn)
            return conn

        return make

    @property
    def middleware(self) -> Middleware:
        """Marks a connection busy while its request is handled: no deadline then."""

        @web.middleware
        async def guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
            transport = request.transport
            conn = self._open.get(transport) if transport is not None else None
            if conn is None:
                return await handler(request)
            conn.begin()
            try:
                return await handler(request)
            finally:
                conn.end()

        return guarded

    def _opened(self, conn: _Guarded, transport: asyncio.BaseTransport) -> None:
        self._open[transport] = conn

    def _closed(self, conn: _Guarded, transport: asyncio.BaseTransport | None) -> None:
        self._members.discard(conn)
        if transport is not None:
            self._open.pop(transport, None)

    def _expired(self, heading: bool) -> None:
        self.timed_out += 1
        if heading:  # a client too slow to be a browser, or one holding sockets on purpose
            self.log.log(logging.INFO, "header-timeout", "%s: closed a connection whose "
                         "request head was not whole after %gs", self.name,
                         self.limits.header_timeout)
        else:  # kept-alive connections end this way all the time
            self.log.log(logging.DEBUG, "idle-timeout", "%s: closed a connection idle for "
                         "%gs", self.name, self.limits.idle_timeout)


class _Guarded(asyncio.Protocol):
    """The server's own protocol (aiohttp's request handler) behind a deadline."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self.guard = guard
        self.inner = inner
        self.transport: asyncio.Transport | None = None
        self.busy = False
        self.heading = False  # bytes of a request head arrived and no handler runs yet
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.guard._opened(self, transport)
        self._arm(self.guard.limits.idle_timeout)
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self.busy and not self.heading:
            self.heading = True
            self._arm(self.guard.limits.header_timeout)
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        self.guard._closed(self, self.transport)
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def begin(self) -> None:
        self.busy, self.heading = True, False
        self._cancel()

    def end(self) -> None:
        self.busy = False
        self._arm(self.guard.limits.idle_timeout)

    def _arm(self, seconds: float) -> None:
        self._cancel()
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(seconds, self._expire)

    def _cancel(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        transport = self.transport
        if self.busy or transport is None or transport.is_closing():
            return
        self.guard._expired(self.heading)
        if self.heading:
            transport.write(_TIMED_OUT)
        transport.close()
        # close() waits to flush; a client that never reads must not keep the socket
        asyncio.get_running_loop().call_later(1.0, transport.abort)


class _Refused(asyncio.Protocol):
    """One connection over the cap: a 503 and the door."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(_REFUSED)
        transport.close()
        asyncio.get_running_loop().call_later(1.0, transport.abort)

    def data_received(self, data: bytes) -> None:
        pass  # what a refused client sends is read and dropped
