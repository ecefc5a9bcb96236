"""The simulator app's entry points: `create_app()` builds it, `serve()` runs it in the foreground
(`warden sim`), and `SimulatorServer` runs it on its own thread inside another process.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable

from aiohttp import web

from runtime.loop_thread import LoopThread
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
    """The simulator on its own thread and event loop (a `LoopThread`), for embedding in a
    runtime or a test.

    `start()` returns once it listens (port 0 picks a free port; `.port` is the real one);
    `stop()` closes every socket and joins the thread. Also a context manager.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 app_factory: Callable[[], web.Application] = create_app) -> None:
        self.host = host
        self._requested_port = port
        self._app_factory = app_factory
        self._port: int | None = None
        self._thread: LoopThread | None = None
        self._runner: web.AppRunner | None = None

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
        self._thread = LoopThread(f"simulator-{self.host}").start()
        try:
            self._runner, self._port = self._thread.run(self._listen(), timeout)
        except TimeoutError:
            self.stop(timeout)
            raise RuntimeError(f"simulator did not start listening within {timeout}s") from None
        except BaseException:
            self.stop(timeout)
            raise

    def stop(self, timeout: float = 10.0) -> None:
        thread, runner = self._thread, self._runner
        if thread is None:
            return
        thread.stop(timeout, last=None if runner is None else runner.cleanup)
        self._thread = self._runner = None

    def __enter__(self) -> SimulatorServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _listen(self) -> tuple[web.AppRunner, int]:
        runner = web.AppRunner(self._app_factory())
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self._requested_port).start()
        except BaseException:
            await runner.cleanup()
            raise
        return runner, runner.addresses[0][1]
