"""The JavaScript an adapter runs in WhatsApp Web, one snippet per need, written against the
module names and shapes whatsapp-web.js 1.34.7 uses and tested against the double.

Each `*_JS` is a function source for `page.evaluate(source, arg)` or `wait_for_function`;
`HOOKS_INIT` is an init script (`context.add_init_script`) that installs the hooks on every
page load and reports through a binding (`context.expose_binding`) named `SINK`.
"""

from __future__ import annotations

__all__ = ["CHAT_MSGS_JS", "HOOKS_INIT", "LOADER_READY_JS", "MESSAGES_SINCE_JS", "PAIRING_CODE_JS",
           "QR_TEXT_JS", "SEND_TO_SELF_JS", "SINK", "SOCKET_STATE_JS", "TAKEOVER_JS"]

SINK = "wardenWhatsAppEvent"

# Truthy once the page's module loader serves the collections (whatsapp-web.js itself polls
# `window.Debug?.VERSION`, then requires; the loader may be missing: WhatsApp changed).
LOADER_READY_JS = """() => {
  try {
    return typeof window.require === 'function'
      && Boolean(window.require('WAWebCollections').Msg);
  } catch (error) {
    return false;
  }
}"""

# Installed on every load (a reload loses hooks): new messages (isNewMsg, ciphertext once it
# is readable), server acks, socket states and QR ref changes go to window[SINK](kind, data).
HOOKS_INIT = """(() => {
  const SINK = '__SINK__';
  const emit = (kind, data) => {
    try { window[SINK](kind, data); } catch (error) { /* the binding is gone: page closing */ }
  };
  const brief = (m) => ({
    id: m.id._serialized, fromMe: m.id.fromMe, from: String(m.from), to: String(m.to),
    body: m.body, t: m.t, type: m.type, ack: m.ack });
  const install = () => {
    let Msg, Socket, Conn;
    try {
      Msg = window.require('WAWebCollections').Msg;
      Socket = window.require('WAWebSocketModel').Socket;
      Conn = window.require('WAWebConnModel').Conn;
    } catch (error) {
      return false;
    }
    Msg.on('add', (msg) => {
      if (!msg.isNewMsg) return;  // history from the device store
      if (msg.type !== 'ciphertext') {
        emit('message', brief(msg));
        return;
      }
      msg.once('change:type', (readable) => emit('message', brief(readable)));
    });
    Msg.on('change:ack', (msg, ack) => emit('ack', { id: msg.id._serialized, ack }));
    Socket.on('change:state', (_socket, state) => emit('state', state));
    Conn.on('change:ref', (_conn, ref) => emit('qr_ref', ref));
    emit('state', Socket.state);
    return true;
  };
  if (!install()) {
    const timer = setInterval(() => { if (install()) clearInterval(timer); }, 100);
  }
})();""".replace("__SINK__", SINK)

SOCKET_STATE_JS = "() => window.require('WAWebSocketModel').Socket.state"

# The QR code's text, as whatsapp-web.js builds it; rebuild it on every "change:ref".
QR_TEXT_JS = """async () => {
  const r = (name) => window.require(name);
  const reg = { ...r('WAWebCompanionRegClientUtils'), ...r('WAWebAdvSignatureApi'),
                ...r('WAWebUserPrefsInfoStore'), ...r('WAWebSignalStoreApi') };
  const b64 = r('WABase64');
  const ref = r('WAWebConnModel').Conn.ref;
  if (!ref) return null;
  const info = await reg.waSignalStore.getRegistrationInfo();
  const noise = await reg.waNoiseInfo.get();
  return [ref, b64.encodeB64(noise.staticKeyPair.pubKey),
          b64.encodeB64(info.identityKeyPair.pubKey),
          r('WAWebUserPrefsMultiDevice').getADVSecretKey(), reg.DEVICE_PLATFORM].join(',');
}"""

# Sends `body` to the account's own chat; answers the new message's serialized id (the id
# "change:ack" reports) and its ack when "add" fired (0: nothing reached the server yet).
SEND_TO_SELF_JS = """async (body) => {
  const r = (name) => window.require(name);
  const { getMaybeMePnUser, getMaybeMeLidUser } = r('WAWebUserPrefsMeUser');
  const me = getMaybeMePnUser() || getMaybeMeLidUser();
  if (!me) throw new Error('not logged in');
  const { Chat, Msg } = r('WAWebCollections');
  const chat = Chat.get(me) || (await r('WAWebFindChatAction').findOrCreateLatestChat(me)).chat;
  const MsgKey = r('WAWebMsgKey');
  const key = new MsgKey({ from: me, to: chat.id, id: await MsgKey.newId(), selfDir: 'out' });
  const [added, sent] = r('WAWebSendMsgChatAction').addAndSendMsgToChat(chat, {
    id: key, ack: 0, body, from: me, to: chat.id, local: true, self: 'out',
    t: Math.floor(Date.now() / 1000), isNewMsg: true, type: 'chat' });
  const ackAtAdd = Msg.get(key._serialized).ack;
  await added;
  window.__wardenLastSend = sent;
  return { id: key._serialized, ackAtAdd };
}"""

# Inbound messages with t >= since (unix seconds) in the loaded chats, oldest first, loading
# earlier history until each chat reaches back past `since`.
MESSAGES_SINCE_JS = """async (since) => {
  const r = (name) => window.require(name);
  const found = [];
  for (const chat of r('WAWebCollections').Chat.getModelsArray()) {
    while (chat.msgs.length && chat.msgs.getModelsArray()[0].t >= since) {
      const loaded = await r('WAWebChatLoadMessages').loadEarlierMsgs({ chat });
      if (!loaded || !loaded.length) break;
    }
    for (const m of chat.msgs.getModelsArray()) {
      if (m.id.fromMe || m.t < since || m.type === 'ciphertext' || m.isNotification) continue;
      found.push({ id: m.id._serialized, from: String(m.from), body: m.body, t: m.t });
    }
  }
  return found.sort((a, b) => a.t - b.t);
}"""

# A chat's loaded messages (history included), in the chat's order.
CHAT_MSGS_JS = """(chatId) => {
  const { Chat } = window.require('WAWebCollections');
  const chat = Chat.get(window.require('WAWebWidFactory').createWid(chatId));
  return chat ? chat.msgs.getModelsArray().map((m) => ({
    id: m.id._serialized, body: m.body, isNewMsg: m.isNewMsg, t: m.t, type: m.type })) : null;
}"""

# Pairing-code login for `phone` (digits, international): the 8-character code to type.
PAIRING_CODE_JS = """async (phone) => {
  const api = window.require('WAWebAltDeviceLinkingApi');
  api.setPairingType('ALT_DEVICE_LINKING');
  await api.initializeAltDeviceLinking();
  return api.startAltLinkingFlow(phone, true);
}"""

TAKEOVER_JS = "() => { window.require('WAWebSocketModel').Socket.takeover(); }"
