"""A loop thread is an asyncio event loop that runs forever on a daemon thread of its own.

Other threads hand it coroutines (`run` waits for the result, `submit` does not) and
callbacks (`call_soon`). `stop()` awaits an optional last coroutine on the loop, stops the
loop, cancels what is left, closes it and joins the thread. It knows nothing of HTTP: the
front, the simulator server and the webhook poster each keep their aiohttp objects on one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class LoopThread:
    """One asyncio loop on one daemon thread: started once, stopped once (`stop` is idempotent)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopping = False
        self._finishing: asyncio.Task[None] | None = None  # held: the loop keeps weak refs

    def start(self) -> LoopThread:
        """Start the thread; its loop accepts work at once."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError(f"{self.name} was already started")
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=_run_until_stopped, args=(self._loop,),
                                            name=self.name, daemon=True)
        self._thread.start()
        return self

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule `coro` on the loop; any thread. RuntimeError when the loop is not running."""
        loop = self._loop
        try:
            if loop is None:
                raise RuntimeError(f"{self.name} was not started")
            return asyncio.run_coroutine_threadsafe(coro, loop)
        except RuntimeError:
            coro.close()  # never scheduled: close it so it is not reported as never awaited
            raise

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run `coro` on the loop and wait for its result; never from the loop's own thread.

        Raises what `coro` raised, or TimeoutError (after cancelling it) once `timeout` passes.
        """
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def call_soon(self, callback: Callable[[], object]) -> bool:
        """Have the loop call `callback` soon; any thread. False when the loop has closed."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return False
        try:
            loop.call_soon_threadsafe(callback)
        except RuntimeError:  # closed meanwhile
            return False
        return True

    def stop(self, timeout: float = 10.0,
             last: Callable[[], Awaitable[object]] | None = None) -> bool:
        """Await `last()` on the loop (for at most `timeout`), then stop and close the loop.

        Waits at most `timeout` real seconds for the thread to end and answers whether it
        has (True also when it never started). A second call only waits. From the loop's
        own thread it only asks: the thread ends once the current callback returns.
        """
        with self._lock:
            thread, first = self._thread, not self._stopping
            if thread is None:
                return True
            self._stopping = True
        if first:
            self.call_soon(lambda: self._finish(last, timeout))
        if thread is not threading.current_thread():
            thread.join(timeout)
        return not thread.is_alive()

    def _finish(self, last: Callable[[], Awaitable[object]] | None, timeout: float) -> None:
        """On the loop: await `last`, then stop the loop whatever `last` did."""
        loop = asyncio.get_running_loop()

        async def finish() -> None:
            try:
                if last is not None:
                    async with asyncio.timeout(timeout):  # in this task: `last` may cancel others
                        await last()
            except TimeoutError:
                logger.warning("%s: the last work before stopping did not end within %gs",
                               self.name, timeout)
            except Exception:
                logger.exception("%s: the last work before stopping failed", self.name)
            finally:
                loop.stop()

        self._finishing = loop.create_task(finish())


def _run_until_stopped(loop: asyncio.AbstractEventLoop) -> None:
    """The thread's body: run the loop until stopped, then clean up as `asyncio.run` does."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        try:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
