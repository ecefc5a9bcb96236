"""An app server runs one aiohttp application on an event loop of its own, on a daemon thread.

It listens on a socket bound before anything else starts (its own, or one it is given and
serves on a duplicate of, so a restarted server gets the same address back), and every
connection goes through a `ConnectionGuard`: header and idle deadlines, a cap on open
connections. Its loop reports repeated errors (accept failing for want of file descriptors)
through a rate-limited log.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

from aiohttp import web

from httpkit.guard import BODY_TIMEOUT, ConnectionGuard, Limits
from httpkit.listen import bind_listen, format_host
from httpkit.ratelog import RateLimitedLog
from runtime.loop_thread import LoopThread

__all__ = ["AppServer", "Limits"]

logger = logging.getLogger(__name__)


class AppServer:
    """`start()` returns once the socket listens (port 0 picks a free one: see `.port`);
    `stop()` closes the server, the loop and the thread. Also a context manager.

    With `sock` (a listening socket, see `bind_listen`) it serves there and leaves `sock` open
    for its owner; otherwise it binds `host:port` itself at `start()`.
    """

    def __init__(self, app_factory: Callable[[], web.Application], host: str, port: int, *,
                 name: str, shutdown_timeout: float = 2.0, sock: socket.socket | None = None,
                 limits: Limits | None = None) -> None:
        self.host = host
        self.name = name
        self.limits = limits or Limits()
        self._requested_port = port
        self._app_factory = app_factory
        self._shutdown_timeout = shutdown_timeout
        self._sock = sock
        self._thread: LoopThread | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self.guard: ConnectionGuard | None = None
        self.loop_errors = _QuietRepeats(name)

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"{self.name} is not listening")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{format_host(self.host)}:{self.port}"

    @property
    def loop_thread(self) -> LoopThread:
        if self._thread is None:
            raise RuntimeError(f"{self.name} was not started")
        return self._thread

    def call_soon(self, callback: Callable[[], object]) -> bool:
        """Have the server's event loop call `callback`; False once the loop has closed."""
        return self._thread is not None and self._thread.call_soon(callback)

    def start(self, timeout: float = 10.0) -> AppServer:
        """Listen and serve; raises ListenError (an OSError) when the address cannot be had."""
        if self._thread is not None:
            raise RuntimeError(f"{self.name} was already started")
        # A duplicate: closing the server closes it, never the socket its owner keeps.
        sock = self._sock.dup() if self._sock is not None else bind_listen(
            self.host, self._requested_port)
        self._thread = LoopThread(self.name).start()
        try:
            self._runner, self._port = self._thread.run(self._listen(sock), timeout)
        except TimeoutError:
            sock.close()
            self.stop(timeout)
            raise TimeoutError(
                f"{self.name} did not start listening within {timeout:g}s") from None
        except BaseException:
            sock.close()
            self.stop(timeout)
            raise
        return self

    def stop(self, timeout: float = 10.0) -> bool:
        """Close the listening socket and the connections; whether the thread has ended."""
        thread, runner = self._thread, self._runner
        if thread is None:
            return True
        self._thread = self._runner = None  # `port` stays readable
        return thread.stop(timeout, last=None if runner is None else runner.cleanup)

    def __enter__(self) -> AppServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _listen(self, sock: socket.socket) -> tuple[web.AppRunner, int]:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(self.loop_errors)
        self.guard = guard = ConnectionGuard(self.limits, self.name)
        app = self._app_factory()
        app.middlewares.insert(0, guard.middleware)  # outermost: it marks the request's span
        app[BODY_TIMEOUT] = self.limits.body_timeout
        # lingering: after an early answer, the rest of a body is read for 2 s, not aiohttp's 10
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=self._shutdown_timeout,
                               lingering_time=2.0)
        await runner.setup()
        try:
            await _GuardedSite(runner, sock, guard).start()
        except BaseException:
            await runner.cleanup()
            raise
        return runner, int(sock.getsockname()[1])


class _GuardedSite(web.BaseSite):
    """A site serving on a ready socket, each connection behind the guard."""

    __slots__ = ("_guard", "_sock")

    def __init__(self, runner: web.BaseRunner, sock: socket.socket,
                 guard: ConnectionGuard) -> None:
        super().__init__(runner)
        self._sock = sock
        self._guard = guard

    @property
    def name(self) -> str:
        host, port = self._sock.getsockname()[:2]
        return f"http://{format_host(host)}:{port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._guard.protocol_factory(server), sock=self._sock)


class _QuietRepeats:
    """The loop's exception handler: the first of each kind in full, then one line a minute
    (asyncio retries a failed accept up to 100 times a second while descriptors lack)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.log = RateLimitedLog(logger)

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message") or "unhandled error")
        exc = context.get("exception")
        cause = f": {exc}" if isinstance(exc, BaseException) else ""
        if isinstance(exc, OSError) and "out of system resource" in message:
            self.log.log(logging.ERROR, message, "%s: %s%s", self.name, message, cause)
        elif isinstance(exc, ValueError) and "_start_serving" in message:
            # asyncio schedules an accept retry per failed accept (up to 100 a second); those
            # still pending when the server closes fail on its closed socket: nothing is wrong
            self.log.log(logging.DEBUG, "_start_serving", "%s: accept retry after close%s",
                         self.name, cause)
        else:
            self.log.log(logging.ERROR, message, "%s: %s%s", self.name, message, cause,
                         exc_info=exc)
