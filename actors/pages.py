"""The page directory holds each session's live page, for what must act on a page from outside
its actor without asking the actor: a screenshot, a pairing code, an incident's capture.

A session registers its page once it is open and withdraws it when it stops. Every call goes to
the page's driver loop with a deadline, so a hung page answers with a timeout, never a wait.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from playwright.async_api import Page

from actors.adapters.base import Adapter
from actors.browser import BrowserTree
from actors.driver import Driver

__all__ = ["LivePage", "NoPage", "Pages"]

T = TypeVar("T")


class NoPage(LookupError):
    """The session has no open page now (starting, restarting, stopped)."""


@dataclass(frozen=True, slots=True)
class LivePage:
    """One session's open page and what goes with it."""

    session_id: str
    driver: Driver
    page: Page
    adapter: Adapter
    tree: BrowserTree
    console: deque[str]  # the page's last console lines, appended on the driver loop


class Pages:
    """Live pages by session id; any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pages: dict[str, LivePage] = {}

    def register(self, live: LivePage) -> Callable[[], None]:
        """Make `live` reachable; returns the remover (which removes only this registration)."""
        with self._lock:
            self._pages[live.session_id] = live

        def remove() -> None:
            with self._lock:
                if self._pages.get(live.session_id) is live:
                    del self._pages[live.session_id]

        return remove

    def get(self, session_id: str) -> LivePage | None:
        with self._lock:
            return self._pages.get(session_id)

    def _live(self, session_id: str) -> LivePage:
        live = self.get(session_id)
        if live is None:
            raise NoPage(f"session {session_id} has no open page")
        return live

    async def call(self, session_id: str, work: Callable[[LivePage], Coroutine[Any, Any, T]],
                   timeout: float) -> T:
        """Run `work(live)` on the page's driver loop, awaited from another event loop (the
        front's); TimeoutError after `timeout` seconds, NoPage when there is no page."""
        live = self._live(session_id)
        return await asyncio.wrap_future(live.driver.submit(work(live), timeout))

    def call_blocking(self, session_id: str,
                      work: Callable[[LivePage], Coroutine[Any, Any, T]], timeout: float) -> T:
        """The same from a plain thread: waits at most `timeout` seconds (and a little)."""
        live = self._live(session_id)
        return live.driver.run(work(live), timeout)
