"""A receiver that answers webhooks the way a broken or hostile server does, for tests.

A raw TCP server on loopback, on its own event loop thread: it reads a request and writes
whatever its current `mode` says: a 2xx cut short of its Content-Length, a status line that is
not HTTP, a redirect, a 1 GB body streamed until the client hangs up, a close in the middle of
the headers, or a proper 204. It counts the requests it got.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

__all__ = ["MODES", "HostileReceiver"]

MODES = {
    "truncated": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc",
    "garbage": b"HELLO THERE\r\n\r\n",
    "redirect": b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/elsewhere\r\n"
                b"Content-Length: 0\r\n\r\n",
    "close": b"HTTP/1.1 200 OK\r\nContent-",
    "ok": b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
}
HUGE = 2**30


class HostileReceiver:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.requests = 0
        self._cond = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="test-hostile",
                                        daemon=True)
        self._thread.start()
        self._server: asyncio.Server | None = None
        self.port = self._call(self._start())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def wait_requests(self, count: int, timeout: float = 15.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.requests >= count, timeout)

    def close(self) -> None:
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(15)

    async def _start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        for task in [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]:
            task.cancel()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            await reader.readexactly(length)
            with self._cond:
                self.requests += 1
                self._cond.notify_all()
            if self.mode == "huge":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % HUGE)
                chunk = b"x" * 65536
                for _ in range(HUGE // len(chunk)):
                    writer.write(chunk)
                    await writer.drain()
            else:
                writer.write(MODES[self.mode])
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
