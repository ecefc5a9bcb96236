"""The simulator app's entry points: `create_app()` builds it, `serve()` runs it in the foreground
(`warden sim`), and `SimulatorServer` runs it on its own thread inside another process.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable

from aiohttp import web

from httpkit import AppServer, is_loopback
from httpkit.listen import format_host
from simulator.routes import create_app

__all__ = ["SimulatorServer", "create_app", "serve"]


def _require_loopback(host: str) -> None:
    if not is_loopback(host):
        raise ValueError(f"the simulator's control API has no auth: it listens on loopback only, "
                         f"not on {host!r}")


def serve(host: str, port: int) -> int:
    """Run the simulator in the foreground until SIGINT/SIGTERM; 0 when stopped, 1 on failure.

    Raises ValueError for a `host` that is not loopback.
    """
    _require_loopback(host)

    async def run() -> None:
        runner = web.AppRunner(create_app())
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
            print(f"simulator: listening on http://{format_host(host)}:{runner.addresses[0][1]}"
                  "/chat/<session>",
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


class SimulatorServer(AppServer):
    """The simulator on its own thread and event loop, for embedding in a runtime or a test.

    `start()` returns once it listens (port 0 picks a free port; `.port` is the real one);
    `stop()` closes every socket and joins the thread. Also a context manager.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 app_factory: Callable[[], web.Application] = create_app) -> None:
        _require_loopback(host)
        super().__init__(app_factory, host, port, name=f"simulator-{host}")

    def __enter__(self) -> SimulatorServer:
        self.start()
        return self
