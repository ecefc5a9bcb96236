"""The simulator adapter teaches a browser session the simulator's chat page: it hooks the page's
`window.ChatStore` the way whatsapp-web.js hooks WhatsApp Web's `Msg` collection.

The hook (an init script, so it is in place in every document before the page's own scripts)
waits for the store and forwards, one way, through the session's event binding:

    {"kind": "message", "message": {id, from, body, timestamp}}   a new inbound message
                                                                  ("add" with isNewMsg, not self)
    {"kind": "ack", "id", "ack"}                                  the server acknowledged a
                                                                  message this page sent
    {"kind": "qr", "qr", "expires_at"}                            the login code shown now
    {"kind": "state", "state"}                                    the screen changed

The page confirms each message to its server as it enters the store, whatever Warden does, so
the hook asks nothing back; what the page took while no hook listened is read from the store's
history by `history`. The local copy of a sent message ("add" with self and ack 0) is never
forwarded: a canary is proven by the server's ack alone.
"""

from __future__ import annotations

import json
from typing import ClassVar

from playwright.async_api import Page

from actors.adapters.base import EVENT_BINDING, Adapter, InboundMessage, inbound_message

__all__ = ["HOOK", "SimulatorAdapter"]

HOOK = """
(() => {
  if (window.__wardenHooked) return;
  window.__wardenHooked = true;
  const post = (event) => window[%(binding)s](JSON.stringify(event));
  const hook = (store) => {
    store.on("add", (m) => {
      if (m && m.isNewMsg && !m.self) {
        post({kind: "message",
              message: {id: m.id, from: m.from, body: m.body, timestamp: m.timestamp}});
      }
    });
    store.on("ack", (a) => post({kind: "ack", id: a.id, ack: a.ack}));
    const seen = (state) => {
      if (state === "connected") window.__wardenWasConnected = true;
      post({kind: "state", state: %(state)s});
    };
    store.on("state", seen);
    seen(store.state);
    const code = (q) => post({kind: "qr", qr: q ? q.payload : null,
                              expires_at: q ? q.expires_at : null});
    store.on("qr", code);
    code(store.qr);
  };
  if (window.ChatStore) hook(window.ChatStore);
  else window.addEventListener("chatstore", (e) => hook(e.detail), {once: true});
})();
"""

# The screen the page shows, as an AuthState value: "connecting" after having been connected (the
# hook notes it) is a page that lost its server; it reconnects by itself.
STATE = ("(() => { const s = window.ChatStore && window.ChatStore.state;"
         " if (s === 'connected') return 'ready';"
         " if (s === 'auth_required') return s;"
         " return window.__wardenWasConnected ? 'offline' : 'loading'; })()")

READY = """
() => ["connected", "auth_required"].includes(window.ChatStore && window.ChatStore.state)
"""

HISTORY = """
([since, limit]) => window.ChatStore.messages()
  .filter((m) => !m.self && m.timestamp > since)
  .slice(0, limit)
  .map((m) => ({id: m.id, from: m.from, body: m.body, timestamp: m.timestamp}))
"""


class SimulatorAdapter(Adapter):
    """The built-in adapter for `simulator/`'s chat page (`adapter: simulator`)."""

    name: ClassVar[str] = "simulator"
    state_expression: ClassVar[str] = STATE

    async def attach(self, page: Page) -> None:
        await page.add_init_script(HOOK % {"binding": json.dumps(EVENT_BINDING),
                                           "state": STATE})

    async def open(self, page: Page, timeout: float) -> None:
        ms = timeout * 1000
        await page.goto(self.url, timeout=ms, wait_until="domcontentloaded")
        await page.wait_for_function(READY, timeout=ms, polling=50)

    async def send_canary(self, page: Page, body: str) -> str:
        return str(await page.evaluate("(body) => window.ChatStore.send(body)", body))

    async def history(self, page: Page, since: float, limit: int) -> list[InboundMessage]:
        raw = await page.evaluate(HISTORY, [since, limit])
        return [inbound_message(m) for m in raw]
