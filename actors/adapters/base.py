"""The adapter interface: what a browser session needs to know about one web app.

A session actor owns the browser and the page; the adapter only knows the app. Its methods are
coroutines on the session's driver loop (Playwright's async API); the session gives each one a
deadline, so an adapter never needs timeouts of its own for a hung page.

The page talks to Warden one way, through a binding the session installs in every document of
the page before the app's own scripts run: `window[EVENT_BINDING](json)`. The session hands each
call to `page_event`, which decodes it for the sink. Nothing the page receives waits for Warden:
the app confirms messages to its server as they enter its store (as WhatsApp Web does), and
what the page took while Warden was not listening is found again by `history`.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Protocol

from playwright.async_api import BrowserContext, Page

from actors.policy import Policy

__all__ = ["EVENT_BINDING", "Adapter", "AuthState", "InboundMessage", "SessionSink", "add_bindings"]

logger = logging.getLogger(__name__)

EVENT_BINDING = "__wardenEvent"


async def add_bindings(context: BrowserContext, page: Page, names: Iterable[str],
                       called: Callable[[dict[str, Any]], None]) -> None:
    """Give `page` the functions `names` (in every document it loads from now on), whose calls
    reach `called` as CDP `Runtime.bindingCalled` events ({"name", "payload", ...})."""
    cdp = await context.new_cdp_session(page)
    await cdp.send("Runtime.enable")  # without it, documents loaded later lack the bindings
    for name in names:
        await cdp.send("Runtime.addBinding", {"name": name})
    cdp.on("Runtime.bindingCalled", called)


class AuthState(StrEnum):
    """Which screen the app shows, as the page's heartbeat reports it."""

    LOADING = "loading"  # the app has not shown either screen yet
    READY = "ready"  # logged in and connected to its server
    AUTH_REQUIRED = "auth_required"  # login/QR screen: an operator must act
    OFFLINE = "offline"  # logged in, but the app cannot reach its server


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

    def message(self, message: InboundMessage) -> None:
        """A new inbound message entered the app's store."""
        ...

    def acked(self, message_id: str, ack: int) -> None:
        """The app's server acknowledged a message this page sent (1 server, 2 delivered...)."""
        ...

    def skipped(self, detail: str) -> None:
        """A page event could not be read (e.g. a message missing fields): logged and counted."""
        ...

    def login_code(self, payload: str | None, expires_at: float | None) -> None:
        """The login QR code the app shows now (the text it encodes), or None for none."""
        ...

    def app_state(self, state: str) -> None:
        """The app changed screens (an `AuthState` value): heard at once, not at the next
        heartbeat."""
        ...


class Adapter(ABC):
    """One web app. Built-in: `simulator`. Others load from `package.module:Class`."""

    name: ClassVar[str]
    #: The app's address when a session gives none (None: a session must give its `url`).
    default_url: ClassVar[str | None] = None
    #: Seconds the app may take to load and show a screen (a session's launch timeout, if more).
    load_timeout: ClassVar[float] = 30.0
    #: Whether the app can log in with a pairing code typed on the phone (`pairing_code`).
    pairing: ClassVar[bool] = False
    #: The policy for this app's sessions that give none, as a policy named after the adapter
    #: (a config may redefine it); None: the `default` policy.
    default_policy: ClassVar[Policy | None] = None
    #: A JavaScript expression the page evaluates on each of its heartbeats: which screen the
    #: app shows, an `AuthState` value (anything else counts as loading), optionally followed
    #: by ":" and why (`auth_required:conflict`, `offline:...`).
    state_expression: ClassVar[str] = "'ready'"

    def __init__(self, session_id: str, url: str) -> None:
        self.session_id = session_id
        self.url = url

    @abstractmethod
    async def attach(self, page: Page) -> None:
        """Prepare a fresh page before it loads the app: add the init scripts that hook the
        app's store and call `window[EVENT_BINDING](json)` for each event."""

    @abstractmethod
    async def open(self, page: Page, timeout: float) -> None:
        """Load the app and return once it shows either its main screen or its login screen;
        raise on a page that cannot be loaded (the session tells an outage from a fault)."""

    @abstractmethod
    async def send_canary(self, page: Page, body: str) -> str:
        """Send `body` to the account itself through the app; the app's id of the message.

        Only the server's acknowledgement of that id (`SessionSink.acked` with ack >= 1) counts:
        the page's own local copy of a sent message proves nothing about the connection."""

    @abstractmethod
    async def history(self, page: Page, since: float, limit: int) -> list[InboundMessage]:
        """Inbound messages in the app's store (history included) newer than `since` (app time),
        oldest first, at most `limit`."""

    async def pairing_code(self, page: Page, phone: str) -> str:
        """Start a login by pairing code for `phone` (digits, country code first); the code the
        user types on the phone. Only for adapters with `pairing = True`."""
        raise NotImplementedError(f"the {self.name} adapter has no pairing-code login")

    async def auth_state(self, page: Page) -> AuthState:
        """Which screen the app shows now (one `evaluate` of `state_expression`)."""
        state = await page.evaluate(f"() => {{ try {{ return String({self.state_expression}); }}"
                                    " catch (e) { return 'loading'; } }")
        try:
            return AuthState(state)
        except ValueError:
            return AuthState.LOADING

    def page_event(self, payload: str, sink: SessionSink) -> None:
        """Decode one event the page sent and hand it to `sink` (on the driver loop).

        The default reads `{"kind": "message", "message": {...}}`, `{"kind": "ack", "id",
        "ack"}`, `{"kind": "qr", "qr": text or null, "expires_at": seconds or null}` and
        `{"kind": "state", "state"}`; anything unreadable is skipped, logged and counted,
        never raised."""
        try:
            event = json.loads(payload)
            kind = event.get("kind") if isinstance(event, dict) else None
            if kind == "message":
                sink.message(self.inbound(event.get("message")))
            elif kind == "ack":
                message_id, ack = event.get("id"), event.get("ack")
                if not isinstance(message_id, str) or not isinstance(ack, int):
                    raise ValueError("an ack needs a string id and a whole number ack")
                sink.acked(message_id, ack)
            elif kind == "state":
                sink.app_state(str(event.get("state")))
            elif kind == "qr":
                payload, expires = event.get("qr"), event.get("expires_at")
                if not (payload is None or isinstance(payload, str)) or not (
                        expires is None or isinstance(expires, int | float)):
                    raise ValueError("a login code is a string (or null) with its expiry")
                sink.login_code(payload or None, None if expires is None else float(expires))
            else:
                raise ValueError(f"unknown event kind {kind!r}")
        except (ValueError, TypeError) as exc:
            logger.warning("session %s: skipped a page event: %s", self.session_id, exc)
            sink.skipped(str(exc))

    def inbound(self, raw: Any) -> InboundMessage:
        """One message as the page sent it: `{id, from, body, timestamp, ...}` (the rest goes to
        the webhook's data); ValueError when a field is missing or of the wrong type."""
        return inbound_message(raw)


def inbound_message(raw: Any, known: frozenset[str] = frozenset(
        {"id", "from", "body", "timestamp"})) -> InboundMessage:
    if not isinstance(raw, Mapping):
        raise ValueError("message is not an object")
    message_id, sender, body = raw.get("id"), raw.get("from"), raw.get("body")
    if not (isinstance(message_id, str) and message_id and isinstance(sender, str)
            and isinstance(body, str)):
        raise ValueError("message id, from and body must be strings")
    timestamp = raw.get("timestamp")
    if not isinstance(timestamp, int | float) or isinstance(timestamp, bool):
        raise ValueError("message timestamp must be a number")
    extra = {key: value for key, value in raw.items() if key not in known}
    return InboundMessage(id=message_id, sender=sender, body=body, timestamp=float(timestamp),
                          data=extra)
