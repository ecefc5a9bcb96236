"""The simulator adapter teaches a browser session the simulator's chat page: it hooks the page's
`window.ChatStore` the way whatsapp-web.js hooks `window.Store` and forwards its events to Python.

The hook (an init script, so it survives reloads) waits for `ChatStore`, subscribes to its
"message" events and replays what is still unacked. Each event goes through one Playwright
binding, `__wardenEvent`, on the session's driver loop:

    {"kind": "message", "message": {id, from, body, timestamp, self}}  -> sink.message(...)
    {"kind": "canary", "token": T}   a self message whose body is "warden-canary:" + T
                                     -> sink.canary_echo(T)

The page acks a message to the simulator (`ChatStore.ack(id)`) only when the binding returned
true, i.e. after the sink committed it; otherwise the simulator pushes it again on the next
connection. Other self messages are acked and dropped: they are not inbound.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from playwright.async_api import Page

from actors.adapters.base import Adapter, AuthState, InboundMessage, SessionSink

__all__ = ["BINDING", "CANARY_PREFIX", "SimulatorAdapter"]

log = logging.getLogger(__name__)

BINDING = "__wardenEvent"
CANARY_PREFIX = "warden-canary:"
KNOWN_KEYS = frozenset({"id", "from", "body", "timestamp", "self"})

HOOK = """
(() => {
  if (window.__wardenHooked) return;
  window.__wardenHooked = true;
  const BINDING = %(binding)s;
  const PREFIX = %(prefix)s;
  const inflight = new Set();
  const forward = (store, m) => {
    if (!m || typeof m.id !== "string" || inflight.has(m.id)) return;
    let event;
    if (m.self) {
      if (typeof m.body !== "string" || !m.body.startsWith(PREFIX)) {
        store.ack(m.id);
        return;
      }
      event = {kind: "canary", token: m.body.slice(PREFIX.length)};
    } else {
      event = {kind: "message", message: m};
    }
    inflight.add(m.id);
    Promise.resolve()
      .then(() => window[BINDING](event))
      .then((committed) => { if (committed === true) store.ack(m.id); })
      .catch(() => {})
      .finally(() => inflight.delete(m.id));
  };
  const hook = () => {
    const store = window.ChatStore;
    if (!store || typeof store.on !== "function") return false;
    store.on("message", (m) => forward(store, m));
    for (const m of store.unacked()) forward(store, m);
    return true;
  };
  if (!hook()) {
    const timer = setInterval(() => { if (hook()) clearInterval(timer); }, 20);
  }
})();
"""

READY = """
() => !!window.ChatStore && (window.ChatStore.state === "ready"
                             || window.ChatStore.state === "auth_required")
"""


class SimulatorAdapter(Adapter):
    """The built-in adapter for `simulator/`'s chat page (`adapter: simulator`)."""

    name: ClassVar[str] = "simulator"
    state_expression: ClassVar[str] = "window.ChatStore ? window.ChatStore.state : 'loading'"

    async def attach(self, page: Page, sink: SessionSink) -> None:
        async def on_event(event: Any) -> bool:
            try:
                return await self._dispatch(event, sink)
            except Exception:  # the page sees false; the message stays unacked for redelivery
                log.exception("session %s: page event %r failed", self.session_id, event)
                return False

        await page.expose_function(BINDING, on_event)
        await page.add_init_script(HOOK % {"binding": json.dumps(BINDING),
                                           "prefix": json.dumps(CANARY_PREFIX)})

    async def open(self, page: Page, timeout: float) -> None:
        ms = timeout * 1000
        await page.goto(self.url, timeout=ms, wait_until="domcontentloaded")
        await page.wait_for_function(READY, timeout=ms, polling=50)

    async def auth_state(self, page: Page) -> AuthState:
        state = await page.evaluate("() => window.ChatStore ? window.ChatStore.state : 'loading'")
        try:
            return AuthState(state)
        except ValueError:
            return AuthState.LOADING

    async def send_canary(self, page: Page, token: str) -> None:
        await page.evaluate("(body) => window.ChatStore.sendToSelf(body)", CANARY_PREFIX + token)

    async def _dispatch(self, event: Any, sink: SessionSink) -> bool:
        if not isinstance(event, Mapping):
            raise ValueError("not an object")
        kind = event.get("kind")
        if kind == "canary":
            sink.canary_echo(str(event["token"]))
            return True
        if kind == "message":
            return await sink.message(_inbound(event["message"]))
        raise ValueError(f"unknown kind {kind!r}")


def _inbound(raw: Any) -> InboundMessage:
    if not isinstance(raw, Mapping):
        raise ValueError("message is not an object")
    message_id, sender, body = raw.get("id"), raw.get("from"), raw.get("body")
    if not (isinstance(message_id, str) and isinstance(sender, str) and isinstance(body, str)):
        raise ValueError("message id, from and body must be strings")
    timestamp = raw.get("timestamp")
    if not isinstance(timestamp, int | float) or isinstance(timestamp, bool):
        raise ValueError("message timestamp must be a number")
    extra = {key: value for key, value in raw.items() if key not in KNOWN_KEYS}
    return InboundMessage(id=message_id, sender=sender, body=body, timestamp=float(timestamp),
                          data=extra)

