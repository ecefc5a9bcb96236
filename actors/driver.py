"""A driver is one Playwright driver process (Node) on one asyncio loop thread, shared by a shard.

Playwright's async API runs many browsers from one driver and dispatches their events while the
loop idles, so the sessions of a shard hear their pages without polling. Every call on it has a
deadline (`submit`), so a hung page costs a timeout, never a thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import psutil
from playwright.async_api import Playwright, async_playwright

from runtime import LoopThread

__all__ = ["Driver", "DriverGone"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Drivers start one at a time so each can tell its own Node process from the others'.
_STARTING = threading.Lock()


class DriverGone(RuntimeError):
    """The driver process died or stopped answering."""


class Driver:
    """Start once, stop once. Any thread may `submit` work; results come back as futures."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._thread = LoopThread(name)
        self._playwright: Playwright | None = None
        self._process: psutil.Process | None = None

    @property
    def playwright(self) -> Playwright:
        if self._playwright is None:
            raise DriverGone(f"{self.name} is not running")
        return self._playwright

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self, timeout: float = 30.0) -> Driver:
        self._thread.start()
        with _STARTING:
            before = _driver_children()
            try:
                self._playwright = self._thread.run(async_playwright().start(), timeout)
            except BaseException:
                self._kill_new(before)
                self._thread.stop(5.0)
                raise
            started = [p for pid, p in _driver_children().items() if pid not in before]
        if len(started) != 1:
            self.stop()
            raise DriverGone(f"{self.name}: found {len(started)} new driver processes, not one")
        self._process = started[0]
        return self

    def submit(self, coro: Coroutine[Any, Any, T], timeout: float) -> concurrent.futures.Future[T]:
        """Run `coro` on the loop for at most `timeout` seconds (then TimeoutError)."""
        return self._thread.submit(asyncio.wait_for(coro, timeout))

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """`submit` and wait for the result on the calling thread (never the loop's own)."""
        return self.submit(coro, timeout).result(timeout + 5.0)

    def call_soon(self, callback: Callable[[], object]) -> bool:
        return self._thread.call_soon(callback)

    async def ping(self) -> None:
        """One round trip through the driver that touches no browser (about 3 ms here)."""
        context = await self.playwright.request.new_context()
        await context.dispose()

    def alive(self) -> bool:
        process = self._process
        if process is None:
            return False
        try:
            return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def kill(self) -> None:
        """SIGKILL the driver process; from any thread, any number of times."""
        if self._process is not None:
            with contextlib.suppress(psutil.Error):  # psutil checks the create time: a
                self._process.kill()  # reused pid is never hit

    def stop(self, timeout: float = 10.0) -> None:
        """Kill the driver (its browsers must be closed or killed first) and wait on the loop
        until Playwright has seen it exit, so its pipes and process are closed and reaped."""
        playwright, self._playwright = self._playwright, None
        self.kill()
        if playwright is not None:
            try:
                self._thread.run(asyncio.wait_for(playwright.stop(), timeout), timeout + 1.0)
            except Exception as exc:
                logger.warning("%s: Playwright did not see its driver exit: %r", self.name, exc)
        if not self._thread.stop(timeout):
            logger.error("%s: the loop thread did not end within %gs", self.name, timeout)

    def _kill_new(self, before: dict[int, psutil.Process]) -> None:
        for pid, process in _driver_children().items():
            if pid not in before:
                with contextlib.suppress(psutil.Error):
                    process.kill()


def _driver_children() -> dict[int, psutil.Process]:
    """This process's Playwright driver children, by pid."""
    found = {}
    for child in psutil.Process().children():
        try:
            if "run-driver" in child.cmdline():
                found[child.pid] = child
        except psutil.Error:
            continue
    return found
