"""An app server runs one aiohttp application on an event loop of its own, on a daemon thread."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from httpkit.listen import format_host
from runtime.loop_thread import LoopThread

__all__ = ["AppServer"]


class AppServer:
    """`start()` returns once the socket listens (port 0 picks a free one: see `.port`);
    `stop()` closes the server, the loop and the thread. Also a context manager."""

    def __init__(self, app_factory: Callable[[], web.Application], host: str, port: int, *,
                 name: str, shutdown_timeout: float = 2.0) -> None:
        self.host = host
        self.name = name
        self._requested_port = port
        self._app_factory = app_factory
        self._shutdown_timeout = shutdown_timeout
        self._thread: LoopThread | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

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
        if self._thread is not None:
            raise RuntimeError(f"{self.name} was already started")
        self._thread = LoopThread(self.name).start()
        try:
            self._runner, self._port = self._thread.run(self._listen(), timeout)
        except TimeoutError:
            self.stop(timeout)
            raise TimeoutError(
                f"{self.name} did not start listening within {timeout:g}s") from None
        except BaseException:
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

    async def _listen(self) -> tuple[web.AppRunner, int]:
        runner = web.AppRunner(self._app_factory(), access_log=None,
                               shutdown_timeout=self._shutdown_timeout)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self._requested_port).start()
        except BaseException:
            await runner.cleanup()
            raise
        return runner, runner.addresses[0][1]
