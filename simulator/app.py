"""The simulator app's entry points: `create_app()` builds it, `serve()` runs it in the foreground
(`warden sim`), and `SimulatorServer` runs it on its own thread inside another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
from collections.abc import Callable

from aiohttp import web

from simulator.routes import DEVICE_COOKIE, create_app

__all__ = ["DEVICE_COOKIE", "SimulatorServer", "create_app", "serve"]


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(host: str, port: int) -> int:
    """Run the simulator in the foreground until SIGINT/SIGTERM; 0 when stopped, 1 on failure."""

    async def run() -> None:
        runner = web.AppRunner(create_app())
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
            print(f"simulator: listening on {_url(host, runner.addresses[0][1])}/chat/<session>",
                  flush=True)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            await stop.wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(run())
    except OSError as exc:
        print(f"simulator: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


class SimulatorServer:
    """The simulator on its own thread and event loop, for embedding in a runtime or a test.

    `start()` returns once it listens (port 0 picks a free port; `.port` is the real one);
    `stop()` closes every socket and joins the thread. Also a context manager.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 app_factory: Callable[[], web.Application] = create_app) -> None:
        self.host = host
        self._requested_port = port
        self._app_factory = app_factory
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("simulator not started")
        return self._port

    @property
    def url(self) -> str:
        return _url(self.host, self.port)

    def start(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            raise RuntimeError("simulator already started")
        self._thread = threading.Thread(target=self._run, name=f"simulator-{self.host}",
                                        daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"simulator did not start listening within {timeout}s")
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise self._error

    def stop(self, timeout: float = 10.0) -> None:
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None:
            return
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(stop.set)
        thread.join(timeout)
        self._thread = None

    def __enter__(self) -> SimulatorServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        runner = web.AppRunner(self._app_factory())
        try:
            await runner.setup()
            await web.TCPSite(runner, self.host, self._requested_port).start()
            self._port = runner.addresses[0][1]
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            await runner.cleanup()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()
