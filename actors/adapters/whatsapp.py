"""The WhatsApp Web adapter teaches a browser session WhatsApp Web itself, through the app's own
module system (`window.require`), with the module and event names whatsapp-web.js 1.34.x uses.

What it hooks, in the page, on every load (an init script; a reload loses hooks):
- `WAWebCollections.Msg` "add": new inbound messages (`isNewMsg`, not `fromMe`); a message still
  `ciphertext` is forwarded once its "change:type" makes it readable.
- `Msg` "change:ack" of the account's own messages: the server's ack (>= 1) proves the canary,
  never the local copy a send adds at once with ack 0.
- `WAWebSocketModel.Socket` "change:state": the screen Warden acts on (below); on
  `UNPAIRED_IDLE` the page is asked for a new QR code (`WAWebCmd.Cmd.refreshQR()`).
- `WAWebConnModel.Conn` "change:ref": the login QR code's text, rebuilt as the app does
  (`ref,staticKey,identityKey,advSecret,platform`).

Socket states: CONNECTED is ready; OPENING, PAIRING and UNLAUNCHED are loading; TIMEOUT and
PROXYBLOCK mean the app cannot reach its server (offline, no restart); UNPAIRED and UNPAIRED_IDLE
need a login; CONFLICT (the account opened in another browser) needs an operator, reported as a
login with reason `conflict`; TOS_BLOCK, SMB_TOS_BLOCK and DEPRECATED_VERSION need an operator
too, each named. None of them spends a restart. WhatsApp Web changes its internals often: a
page where the module loader never appears fails to open with an error that says so.
"""

from __future__ import annotations

import json
from typing import ClassVar

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from actors.adapters.base import EVENT_BINDING, Adapter, InboundMessage
from actors.policy import CanaryPolicy, Policy

__all__ = ["WhatsAppAdapter", "WhatsAppChanged"]

URL = "https://web.whatsapp.com/"
LOADER_TIMEOUT = 120.0  # seconds for the app's bundle to load and define its modules
QR_LIFETIME = 20.0  # seconds a code is shown before the app draws the next one

# Socket state -> what the heartbeat reports (an AuthState value, with a reason after ":").
SCREENS = {
    "CONNECTED": "ready",
    "OPENING": "loading", "PAIRING": "loading", "UNLAUNCHED": "loading",
    "TIMEOUT": "offline", "PROXYBLOCK": "offline:the network blocks WhatsApp (PROXYBLOCK)",
    "UNPAIRED": "auth_required:logout", "UNPAIRED_IDLE": "auth_required:logout",
    "CONFLICT": "auth_required:conflict",
    "TOS_BLOCK": "auth_required:blocked: the account is banned (TOS_BLOCK)",
    "SMB_TOS_BLOCK": "auth_required:blocked: the business account is banned (SMB_TOS_BLOCK)",
    "DEPRECATED_VERSION": "auth_required:deprecated: WhatsApp Web refuses this browser's version",
}

STATE = ("(() => { try { const s = window.require('WAWebSocketModel').Socket.state;"
         f" return ({json.dumps(SCREENS)})[s] || 'loading'; }} catch (e) {{ return 'loading'; }}"
         " })()")

LOADER_READY = """() => {
  try {
    return typeof window.require === "function" && Boolean(window.require("WAWebCollections").Msg);
  } catch (e) {
    return false;
  }
}"""

# The socket has left the states it passes through while the app starts.
STARTED = """() => {
  try {
    const s = window.require("WAWebSocketModel").Socket.state;
    return !["OPENING", "UNLAUNCHED", "PAIRING"].includes(s);
  } catch (e) {
    return false;
  }
}"""

HOOK = """
(() => {
  const post = (event) => { try { window[%(binding)s](JSON.stringify(event)); } catch (e) {} };
  const wid = (w) => (w && (w._serialized || String(w))) || undefined;
  const brief = (m) => ({id: m.id && m.id._serialized, from: wid(m.author || m.from),
                         body: typeof m.body === "string" ? m.body : undefined, timestamp: m.t,
                         chat: wid(m.id && m.id.remote), type: m.type});
  const NOT_MESSAGES = new Set(["gp2", "e2e_notification", "notification_template",
                                "protocol", "call_log", "revoked"]);
  const qrText = async () => {
    const r = (name) => window.require(name);
    const ref = r("WAWebConnModel").Conn.ref;
    if (!ref) return null;
    const reg = {...r("WAWebCompanionRegClientUtils"), ...r("WAWebAdvSignatureApi"),
                 ...r("WAWebUserPrefsInfoStore"), ...r("WAWebSignalStoreApi")};
    const b64 = r("WABase64");
    const info = await reg.waSignalStore.getRegistrationInfo();
    const noise = await reg.waNoiseInfo.get();
    return [ref, b64.encodeB64(noise.staticKeyPair.pubKey),
            b64.encodeB64(info.identityKeyPair.pubKey),
            r("WAWebUserPrefsMultiDevice").getADVSecretKey(), reg.DEVICE_PLATFORM].join(",");
  };
  const code = (state) => {
    if (!["UNPAIRED", "UNPAIRED_IDLE"].includes(state)) {
      post({kind: "qr", qr: null, expires_at: null});
      return;
    }
    qrText().then(
      (qr) => post({kind: "qr", qr, expires_at: qr ? Date.now() / 1000 + %(lifetime)s : null}),
      () => post({kind: "qr", qr: null, expires_at: null}));
  };
  const install = () => {
    let Msg, Socket, Conn, Cmd;
    try {
      Msg = window.require("WAWebCollections").Msg;
      Socket = window.require("WAWebSocketModel").Socket;
      Conn = window.require("WAWebConnModel").Conn;
      Cmd = window.require("WAWebCmd").Cmd;
    } catch (e) {
      return false;  // the bundle has not defined its modules yet
    }
    if (window.__wardenHooked) return true;
    window.__wardenHooked = true;
    const forward = (m) => {
      if (NOT_MESSAGES.has(m.type) || m.isNotification) return;
      post({kind: "message", message: brief(m)});
    };
    Msg.on("add", (m) => {
      if (!m.isNewMsg || (m.id && m.id.fromMe)) return;
      if (m.type === "ciphertext") m.once("change:type", forward);
      else forward(m);
    });
    Msg.on("change:ack", (m, ack) => {
      if (m.id && m.id.fromMe) post({kind: "ack", id: m.id._serialized, ack});
    });
    const screens = %(screens)s;
    const changed = (state) => {
      post({kind: "state", state: screens[state] || "loading"});
      if (state === "UNPAIRED_IDLE") Cmd.refreshQR();
      code(state);
    };
    Socket.on("change:state", (_socket, state) => changed(state));
    Conn.on("change:ref", () => code(Socket.state));
    changed(Socket.state);
    return true;
  };
  if (!install()) {
    const timer = setInterval(() => { if (install()) clearInterval(timer); }, 100);
  }
})();
"""

SEND_TO_SELF = """async (body) => {
  const r = (name) => window.require(name);
  const users = r("WAWebUserPrefsMeUser");
  const me = users.getMaybeMePnUser() || users.getMaybeMeLidUser();
  if (!me) throw new Error("not logged in");
  const {Chat} = r("WAWebCollections");
  const chat = Chat.get(me) || (await r("WAWebFindChatAction").findOrCreateLatestChat(me)).chat;
  const MsgKey = r("WAWebMsgKey");
  const key = new MsgKey({from: me, to: chat.id, id: await MsgKey.newId(), selfDir: "out"});
  const [added] = r("WAWebSendMsgChatAction").addAndSendMsgToChat(chat, {
    id: key, ack: 0, body, from: me, to: chat.id, local: true, self: "out",
    t: Math.floor(Date.now() / 1000), isNewMsg: true, type: "chat"});
  await added;
  return key._serialized;
}"""

# Inbound messages of the loaded chats newer than `since`, oldest first, at most `limit`; each
# chat's earlier history is loaded until it reaches back past `since`.
HISTORY = """async ([since, limit]) => {
  const r = (name) => window.require(name);
  const wid = (w) => (w && (w._serialized || String(w))) || undefined;
  const found = [];
  for (const chat of r("WAWebCollections").Chat.getModelsArray()) {
    while (chat.msgs.length && chat.msgs.getModelsArray()[0].t > since) {
      const loaded = await r("WAWebChatLoadMessages").loadEarlierMsgs({chat});
      if (!loaded || !loaded.length) break;
    }
    for (const m of chat.msgs.getModelsArray()) {
      if (m.id.fromMe || !(m.t > since) || m.type === "ciphertext" || m.isNotification) continue;
      found.push({id: m.id._serialized, from: wid(m.author || m.from), body: m.body,
                  timestamp: m.t, chat: wid(m.id.remote), type: m.type});
    }
  }
  return found.sort((a, b) => a.timestamp - b.timestamp).slice(0, limit);
}"""

PAIRING_CODE = """async (phone) => {
  const api = window.require("WAWebAltDeviceLinkingApi");
  api.setPairingType("ALT_DEVICE_LINKING");
  await api.initializeAltDeviceLinking();
  return api.startAltLinkingFlow(phone, true);
}"""


class WhatsAppChanged(RuntimeError):
    """WhatsApp Web no longer has what the adapter hooks: its internals changed."""


class WhatsAppAdapter(Adapter):
    """The built-in adapter for WhatsApp Web (`adapter: whatsapp`)."""

    name: ClassVar[str] = "whatsapp"
    default_url: ClassVar[str | None] = URL
    pairing: ClassVar[bool] = True
    load_timeout: ClassVar[float] = 180.0  # the app loads, then syncs what it missed
    # Safe for a real account: a canary (a message to itself) every 5 minutes, not every 10 s.
    default_policy: ClassVar[Policy | None] = Policy(
        canary=CanaryPolicy(interval=300.0, timeout=30.0, failures=2))
    state_expression: ClassVar[str] = STATE

    async def attach(self, page: Page) -> None:
        await page.add_init_script(HOOK % {"binding": json.dumps(EVENT_BINDING),
                                           "screens": json.dumps(SCREENS),
                                           "lifetime": QR_LIFETIME})

    async def open(self, page: Page, timeout: float) -> None:
        ms = timeout * 1000
        await page.goto(self.url, timeout=ms, wait_until="domcontentloaded")
        try:
            await page.wait_for_function(LOADER_READY, timeout=min(ms, LOADER_TIMEOUT * 1000),
                                         polling=200)
        except PlaywrightError as exc:
            if "Timeout" not in str(exc):
                raise
            raise WhatsAppChanged(
                "WhatsApp Web's module loader never served its modules "
                "(window.require('WAWebCollections') failed): WhatsApp Web has changed its "
                "internals, and this version of Warden's adapter does not know them") from None
        await page.wait_for_function(STARTED, timeout=ms, polling=200)

    async def send_canary(self, page: Page, body: str) -> str:
        return str(await page.evaluate(SEND_TO_SELF, body))

    async def history(self, page: Page, since: float, limit: int) -> list[InboundMessage]:
        raw = await page.evaluate(HISTORY, [since, limit])
        return [self.inbound(m) for m in raw]

    async def pairing_code(self, page: Page, phone: str) -> str:
        return str(await page.evaluate(PAIRING_CODE, phone))
