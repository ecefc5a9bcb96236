"""The adapter interface: what a browser session needs to know about one web app.

A session actor owns the browser and the page; the adapter only knows the app. All methods
run on the session actor's thread, with Playwright's sync API.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Protocol

from playwright.sync_api import Page

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
    """What the session gives its adapter; called from inside Playwright calls on its thread."""

    def message(self, message: InboundMessage) -> bool:
        """Accept `message` durably. True means committed: only then may the app be acked."""
        ...

    def canary_echo(self, token: str) -> None:
        """The echo of a canary sent with `send_canary(token)` came back through the app."""
        ...


class Adapter(ABC):
    """One web app. Built-in: `simulator`. Others load from `package.module:Class`."""

    name: ClassVar[str]

    def __init__(self, session_id: str, url: str) -> None:
        self.session_id = session_id
        self.url = url

    @abstractmethod
    def attach(self, page: Page, sink: SessionSink) -> None:
        """Prepare a fresh page before it loads the app: expose bindings, add init scripts."""

    @abstractmethod
    def open(self, page: Page, timeout: float) -> None:
        """Load the app and return once it shows either its main screen or its login screen."""

    @abstractmethod
    def auth_state(self, page: Page) -> AuthState:
        """Which screen the app shows now; must be quick (one `page.evaluate`)."""

    @abstractmethod
    def send_canary(self, page: Page, token: str) -> None:
        """Send `token` to ourselves through the app; its echo must reach `sink.canary_echo`."""

    def probe(self, page: Page) -> None:
        """Prove the page's JS thread answers; blocks while it is busy (a hung page)."""
        page.evaluate("() => 1")
