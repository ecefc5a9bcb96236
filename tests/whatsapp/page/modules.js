/* WhatsApp Web's modules as whatsapp-web.js 1.34.x reaches them through window.require(name),
 * with the same names and shapes; `createModules(core)` builds them over the page's core
 * (app.js), which owns the socket and the device store.
 *
 * Wids are objects {server, user, _serialized} whose toString() is the serialized form;
 * a message key (WAWebMsgKey) is {fromMe, remote (a Wid), id, _serialized}.
 */
(() => {
  "use strict";

  const ns = (window.__waDouble = window.__waDouble || {});
  const { Events, Model, Collection, keyOf } = ns;

  class Wid {
    constructor(serialized) {
      const match = /^([^@\s]+)@(c\.us|g\.us|lid|broadcast|newsletter|s\.whatsapp\.net)$/
        .exec(String(serialized));
      if (!match) throw new Error(`createWid: not a wid: ${serialized}`);
      this.server = match[2] === "s.whatsapp.net" ? "c.us" : match[2];
      this.user = match[1];
      this._serialized = `${this.user}@${this.server}`;
    }

    toString() { return this._serialized; }
    toJid() { return this.server === "c.us" ? `${this.user}@s.whatsapp.net` : this._serialized; }
    equals(other) { return Boolean(other) && keyOf(other) === this._serialized; }
    isUser() { return this.server === "c.us" || this.server === "lid"; }
    isLid() { return this.server === "lid"; }
    isGroup() { return this.server === "g.us"; }
    isBroadcast() { return this.server === "broadcast"; }
    isStatus() { return this._serialized === "status@broadcast"; }
    isNewsletter() { return this.server === "newsletter"; }
  }

  const createWid = (value) => (value instanceof Wid ? value
    : new Wid(typeof value === "object" && value !== null ? keyOf(value) : value));

  class MsgKey {
    /* new MsgKey({from, to, id, participant, selfDir: "out"}) as whatsapp-web.js builds one,
     * or new MsgKey({fromMe, remote, id, participant}). */
    constructor({ fromMe, remote, from, to, id, participant, selfDir } = {}) {
      if (typeof id !== "string" || !id) throw new Error("MsgKey: id must be a string");
      this.fromMe = fromMe !== undefined ? Boolean(fromMe) : selfDir === "out";
      this.remote = createWid(remote ?? (this.fromMe ? to : from));
      this.id = id;
      if (participant) this.participant = createWid(participant);
      this._serialized = `${this.fromMe}_${this.remote._serialized}_${id}`
        + (this.participant ? `_${this.participant._serialized}` : "");
    }

    static async newId() {
      const bytes = crypto.getRandomValues(new Uint8Array(10));
      return "3EB0" + [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("").toUpperCase();
    }

    static fromString(text) {
      const [fromMe, remote, id, participant] = String(text).split("_");
      return new MsgKey({ fromMe: fromMe === "true", remote, id, participant });
    }

    toString() { return this._serialized; }
    equals(other) { return Boolean(other) && keyOf(other) === this._serialized; }
    serialize() { return { ...this }; }
  }

  class Msg extends Model {}
  Msg.fields = ["id", "from", "to", "author", "body", "t", "type", "subtype", "ack", "isNewMsg",
    "self", "local", "star", "isNotification", "broadcast"];
  Model.defineFields(Msg);

  class Chat extends Model {
    constructor(attrs) {
      super(attrs);
      Object.defineProperty(this, "msgs", { value: new Collection(Msg, byTime), enumerable: false });
    }

    get isGroup() { return this.id.isGroup(); }

    serialize() {
      return { ...super.serialize(), msgs: this.msgs.serialize() };
    }
  }
  Chat.fields = ["id", "t", "name", "formattedTitle", "unreadCount", "archive", "pin", "isReadOnly"];
  Model.defineFields(Chat);

  function byTime(a, b) {
    return a.t - b.t || (a._seq ?? 0) - (b._seq ?? 0);
  }

  class StateModel extends Model {}

  function createModules(core) {
    const Msgs = new Collection(Msg);
    const Chats = new Collection(Chat);
    Chats.find = async (wid) => core.chatFor(wid);

    Msgs.getMessagesById = async (ids) => ({
      messages: ids.map((id) => Msgs.get(id)).filter(Boolean),
    });

    class SocketModel extends StateModel {
      takeover() { return core.takeover(); }
      logout() { return core.logout(); }
      reconnect() { return core.reconnect(); }
    }
    SocketModel.fields = ["state", "hasSynced", "stream"];
    Model.defineFields(SocketModel);

    class ConnModel extends StateModel {
      canSetMyPushname() { return true; }
    }
    ConnModel.fields = ["ref", "platform", "pushname", "wid", "battery", "plugged"];
    Model.defineFields(ConnModel);

    const Socket = new SocketModel({ state: "UNLAUNCHED", hasSynced: false, stream: "DISCONNECTED" });
    const Conn = new ConnModel({ ref: null, platform: "android", pushname: "Double" });
    const Cmd = new Events();
    Cmd.refreshQR = () => core.refreshQR();

    const bytesOf = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const meUser = (field) => () => (core.device?.[field] ? createWid(core.device[field]) : undefined);

    const modules = {
      WAWebCollections: { Msg: Msgs, Chat: Chats },
      WAWebSocketModel: { Socket },
      WAWebConnModel: { Conn },
      WAWebCmd: { Cmd },
      WAWebUserPrefsMeUser: {
        getMaybeMePnUser: meUser("wid"),
        getMaybeMeLidUser: meUser("lid"),
      },
      WAWebUserPrefsMultiDevice: { getADVSecretKey: () => core.device.keys.adv },
      WAWebSignalStoreApi: {
        waSignalStore: {
          getRegistrationInfo: async () => ({
            registrationId: 1,
            identityKeyPair: { pubKey: bytesOf(core.device.keys.identity).buffer },
          }),
        },
      },
      WAWebUserPrefsInfoStore: {
        waNoiseInfo: {
          get: async () => ({ staticKeyPair: { pubKey: bytesOf(core.device.keys.static).buffer } }),
        },
      },
      WAWebCompanionRegClientUtils: { DEVICE_PLATFORM: core.config.platform },
      WAWebAdvSignatureApi: {},
      WABase64: {
        encodeB64: (data) => btoa(String.fromCharCode(...new Uint8Array(
          data instanceof ArrayBuffer ? data : data.buffer.slice(
            data.byteOffset, data.byteOffset + data.byteLength)))),
        decodeB64: (text) => bytesOf(text).buffer,
      },
      WAWebWidFactory: {
        createWid,
        createWidFromWidLike: createWid,
        createUserWid: (user, server = "c.us") => createWid(`${user}@${server}`),
        asUserWidOrThrow: (wid) => {
          const made = createWid(wid);
          if (!made.isUser()) throw new Error(`not a user wid: ${made}`);
          return made;
        },
        isWidlike: (value) => Boolean(value && typeof value._serialized === "string"),
      },
      WAWebMsgKey: MsgKey,
      WAWebSendMsgChatAction: {
        addAndSendMsgToChat: (chat, message) => core.addAndSend(chat, message),
      },
      WAWebFindChatAction: {
        findOrCreateLatestChat: async (wid) => {
          const created = !Chats.get(createWid(wid));
          return { chat: core.chatFor(wid), created };
        },
      },
      WAWebChatGetters: {
        getIsGroup: (chat) => chat.id.isGroup(),
        getIsNewsletter: (chat) => chat.id.isNewsletter(),
        getIsBroadcast: (chat) => chat.id.isBroadcast(),
      },
      WAWebChatLoadMessages: {
        loadEarlierMsgs: (arg) => core.loadEarlier(arg && arg.chat ? arg.chat : arg),
      },
      WAWebOfflineHandler: {
        OfflineMessageHandler: { getOfflineDeliveryProgress: () => core.offlineProgress() },
      },
      WAWebAltDeviceLinkingApi: {
        setPairingType: (type) => core.setPairingType(type),
        initializeAltDeviceLinking: async () => core.initializeAltDeviceLinking(),
        startAltLinkingFlow: (phone, showNotification = true) =>
          core.startAltLinkingFlow(phone, showNotification),
        initializeQRLinking: async () => core.initializeQRLinking(),
      },
    };
    return modules;
  }

  Object.assign(ns, { Wid, MsgKey, Msg, Chat, createWid, createModules });
})();
