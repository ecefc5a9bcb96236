"""The adapter interface: what a browser session needs to know about one web app.

A session actor owns the browser and the page; the adapter only knows the app. Its methods are
coroutines on the session's driver loop (Playwright's async API); the session gives each one a
deadline, so an adapter never needs timeouts of its own for a hung page.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Protocol

from playwright.async_api import Page

__all__ = ["Adapter", "AuthState", "InboundMessage", "SessionSink"]


class AuthState(StrEnum):
    LOADING = "loading"  # the app has not shown either screen yet
    READY = "ready"  # logged in, events flowing
    AUTH_REQUIRED = "auth_required"  # login/QR screen: an operator must act


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One inbound message as the app reported it."""

    id: str  # the app's own id: the receiver's dedupe key
    sender: str
    body: str
    timestamp: float  # app time, seconds since the epoch
    data: Mapping[str, Any] = field(default_factory=dict)  # anything else for the webhook


class SessionSink(Protocol):
    """What the session gives its adapter; called on the driver loop, from page events."""

    def message(self, message: InboundMessage) -> Awaitable[bool]:
        """Accept `message` durably; resolves to True once committed, only then may the app be
        acked."""
        ...

    def canary_echo(self, token: str) -> None:
        """The echo of a canary sent with `send_canary(token)` came back through the app."""
        ...


class Adapter(ABC):
    """One web app. Built-in: `simulator`. Others load from `package.module:Class`."""

    name: ClassVar[str]
    #: A JavaScript expression the page evaluates on each of its heartbeats: which screen the
    #: app shows, "ready", "auth_required" or "loading" (anything else counts as loading).
    state_expression: ClassVar[str] = "'ready'"

    def __init__(self, session_id: str, url: str) -> None:
        self.session_id = session_id
        self.url = url

    @abstractmethod
    async def attach(self, page: Page, sink: SessionSink) -> None:
        """Prepare a fresh page before it loads the app: expose bindings, add init scripts."""

    @abstractmethod
    async def open(self, page: Page, timeout: float) -> None:
        """Load the app and return once it shows either its main screen or its login screen."""

    @abstractmethod
    async def auth_state(self, page: Page) -> AuthState:
        """Which screen the app shows now; must be quick (one `page.evaluate`)."""

    @abstractmethod
    async def send_canary(self, page: Page, token: str) -> None:
        """Send `token` to ourselves through the app; its echo must reach `sink.canary_echo`."""

    async def probe(self, page: Page) -> AuthState:
        """Prove the page's JS thread answers (a hung page never does) and say which screen it
        shows, in one round trip (tools and tests; sessions hear the page's own heartbeats)."""
        return await self.auth_state(page)
