/* The page's core: after the bundle's load delay it defines window.Debug and window.require
 * (unless the server said "no_loader"), loads the device store's history into the collections
 * (isNewMsg false), then keeps one WebSocket to the server (protocol in wire.py).
 *
 * Rules it follows (SPEC section 3a): a message from the server is stored (IndexedDB,
 * committed), added to Msg and its chat (isNewMsg true, "add"), then acknowledged with a
 * receipt; an own message is added at once with ack 0, stored, then sent, and resent on every
 * connect until the server acked it; the server's acks arrive as "change:ack".
 */
(() => {
  "use strict";

  const ns = window.__waDouble;
  const config = JSON.parse(document.getElementById("config").textContent);
  const BACKOFF_MIN_MS = 250;
  const BACKOFF_MAX_MS = 2000;
  const PAIR_TIMEOUT_MS = 30000;
  const LOGGED_OUT = new Set(["UNPAIRED", "UNPAIRED_IDLE"]);

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  class Core {
    constructor() {
      this.config = config;
      this.store = new ns.DeviceStore();
      this.device = null;
      this.modules = ns.createModules(this);
      this.ui = new View(this);
      this.socket = null;
      this.halted = false; // CONFLICT, a blocking state or a logout: no reconnect
      this.takeoverNext = false;
      this.backoff = BACKOFF_MIN_MS;
      this.inbox = Promise.resolve(); // frames are handled one after another
      this.offline = { expected: 0, got: 0 };
      this.pairing = { type: "QR", ready: false, waiting: null };
      this.unacked = new Map(); // serialized id -> record, own messages below ack 2
      this.sendResults = new Map(); // serialized id -> resolve of the send result
      this.seq = 0;
    }

    get Socket() { return this.modules.WAWebSocketModel.Socket; }
    get Conn() { return this.modules.WAWebConnModel.Conn; }
    get Cmd() { return this.modules.WAWebCmd.Cmd; }
    get Msgs() { return this.modules.WAWebCollections.Msg; }
    get Chats() { return this.modules.WAWebCollections.Chat; }

    require(name) {
      if (!Object.hasOwn(this.modules, name)) throw new Error(`Requiring unknown module "${name}"`);
      return this.modules[name];
    }

    async start() {
      this.device = await this.store.open();
      this.Conn.wid = this.device.wid ? ns.createWid(this.device.wid) : undefined;
      for (const chat of await this.store.chats()) {
        for (const record of await this.store.latest(chat.id, config.historyPage, null)) {
          this.ingest(record, false);
        }
      }
      for (const record of await this.store.unacked()) this.unacked.set(record.key, record);
      await sleep(config.connectDelayMs); // boot and handshake: real pages take a while
      this.connect();
    }

    // -- the socket ---------------------------------------------------------------------------

    connect() {
      this.setState("OPENING");
      const ws = new WebSocket(`ws://${location.host}/ws`);
      this.socket = ws;
      ws.onopen = () => {
        this.transmit({ type: "hello", device: this.device.deviceId, keys: this.device.keys,
          takeover: this.takeoverNext });
        this.takeoverNext = false;
        this.transmit({ type: "state", state: this.Socket.state });
      };
      ws.onmessage = (event) => {
        let frame;
        try {
          frame = JSON.parse(event.data);
        } catch {
          return;
        }
        this.inbox = this.inbox.then(() => this.handle(frame)).catch((error) => {
          console.error("frame failed", frame, error);
        });
      };
      ws.onclose = () => {
        if (this.socket !== ws) return;
        this.socket = null;
        this.Socket.stream = "DISCONNECTED";
        if (this.halted) return;
        this.setState("TIMEOUT");
        const delay = this.backoff;
        this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX_MS);
        setTimeout(() => { if (!this.halted && !this.socket) this.connect(); }, delay);
      };
    }

    transmit(frame) {
      const ws = this.socket;
      if (!ws || ws.readyState !== WebSocket.OPEN) return false;
      ws.send(JSON.stringify(frame));
      return true;
    }

    halt(state) {
      this.halted = true;
      this.setState(state);
      const ws = this.socket;
      this.socket = null;
      if (ws) ws.close();
    }

    setState(state) {
      if (this.Socket.state === state) return;
      this.Socket.state = state;
      this.transmit({ type: "state", state });
      this.ui.show(state);
    }

    async handle(frame) {
      switch (frame.type) {
        case "ready":
          this.backoff = BACKOFF_MIN_MS;
          await this.linked(frame);
          this.Socket.stream = "CONNECTED";
          this.setState("CONNECTED");
          for (const record of this.unacked.values()) this.transmitOwn(record);
          break;
        case "paired":
          this.setState("PAIRING");
          await this.linked(frame);
          break;
        case "offline":
          this.offline = { expected: frame.count, got: 0 };
          this.Cmd.trigger("offline_progress_update_from_bridge");
          break;
        case "synced":
          this.offline.got = this.offline.expected;
          this.Cmd.trigger("offline_progress_update_from_bridge");
          if (!this.Socket.hasSynced) this.Socket.hasSynced = true;
          break;
        case "message":
          await this.receive(frame);
          break;
        case "decrypt":
          await this.decrypt(frame);
          break;
        case "ack":
          await this.acked(frame.id, frame.ack);
          break;
        case "unpaired":
          this.setState("UNPAIRED");
          break;
        case "ref":
          this.Conn.ref = frame.ref;
          if (this.Socket.state === "UNPAIRED_IDLE") this.setState("UNPAIRED");
          this.ui.qr();
          break;
        case "idle":
          this.setState("UNPAIRED_IDLE");
          break;
        case "pair_code":
          if (this.pairing.waiting) this.pairing.waiting(frame.code);
          this.pairing.waiting = null;
          this.ui.code(frame.code);
          break;
        case "logout":
          await this.loggedOut();
          break;
        case "conflict":
          this.halt("CONFLICT");
          break;
        case "state":
          this.halt(frame.state);
          break;
        case "fault":
          if (frame.mode === "hang") {
            this.transmit({ type: "fault_applied", mode: "hang" });
            setTimeout(() => { for (;;) { /* hung */ } }, 0);
          }
          break;
      }
    }

    async linked(frame) {
      if (this.device.wid === frame.wid && this.device.lid === frame.lid) return;
      this.device.wid = frame.wid;
      this.device.lid = frame.lid;
      this.Conn.wid = ns.createWid(frame.wid);
      await this.store.saveDevice(this.device);
    }

    async loggedOut() {
      this.halted = true;
      this.Cmd.trigger("logout");
      const ws = this.socket;
      this.socket = null;
      if (ws) ws.close();
      await this.store.wipe();
      location.replace("/?post_logout=1");
    }

    // -- messages -----------------------------------------------------------------------------

    chatFor(wid) {
      const id = ns.createWid(wid);
      let chat = this.Chats.get(id);
      if (!chat) {
        chat = new ns.Chat({ id, t: 0, name: id.user, formattedTitle: id.user, unreadCount: 0,
          archive: false, pin: 0, isReadOnly: false });
        this.Chats.add(chat);
      }
      return chat;
    }

    /* A stored record enters its chat's msgs and Msg (which fires "add"); the model. */
    ingest(record, isNewMsg) {
      const known = this.Msgs.get(record.key);
      if (known) return known;
      const chat = this.chatFor(record.chat);
      const model = new ns.Msg({
        id: new ns.MsgKey({ fromMe: record.fromMe, remote: record.chat, id: record.id }),
        from: ns.createWid(record.from), to: ns.createWid(record.to), body: record.body,
        t: record.t, type: record.type, ack: record.ack, isNewMsg, self: record.fromMe ? "out" : "in",
        local: record.fromMe, star: false, isNotification: false, broadcast: false,
      });
      Object.defineProperty(model, "_seq", { value: record.seq });
      chat.msgs.add(model);
      if (record.t > chat.t) chat.t = record.t;
      this.Msgs.add(model);
      this.ui.message(model);
      return model;
    }

    nextSeq() {
      this.seq = (this.seq + 1) % 1000;
      return Date.now() * 1000 + this.seq;
    }

    async receive(frame) {
      const raw = frame.message;
      const key = raw.id._serialized;
      if (!this.Msgs.get(key) && !(await this.store.getMessage(key))) {
        const record = {
          key, chat: raw.id.remote, id: raw.id.id, fromMe: raw.id.fromMe, from: raw.from,
          to: raw.to, body: raw.body, t: raw.t, type: raw.type,
          ack: raw.id.fromMe ? 2 : 0, seq: this.nextSeq(),
        };
        await this.store.putMessage(record);
        this.ingest(record, true);
      }
      this.transmit({ type: "receipt", rid: frame.rid });
      this.offlineTick();
    }

    async decrypt(frame) {
      const stored = await this.store.getMessage(frame.id);
      if (stored && stored.type === "ciphertext") {
        await this.store.updateMessage(frame.id, { type: "chat", body: frame.body });
      }
      const model = this.Msgs.get(frame.id);
      if (model && model.type === "ciphertext") model.set({ body: frame.body, type: "chat" });
      this.transmit({ type: "receipt", rid: frame.rid });
      this.offlineTick();
    }

    offlineTick() {
      if (this.offline.got >= this.offline.expected) return;
      this.offline.got += 1;
      this.Cmd.trigger("offline_progress_update_from_bridge");
    }

    offlineProgress() {
      const { expected, got } = this.offline;
      return expected ? Math.floor((100 * got) / expected) : 100;
    }

    addAndSend(chat, message) {
      const key = message.id;
      if (!(key instanceof ns.MsgKey) || !key.fromMe) {
        throw new TypeError("addAndSendMsgToChat: message.id must be a WAWebMsgKey with fromMe");
      }
      if (!this.device.wid) throw new Error("addAndSendMsgToChat: not logged in");
      const record = {
        key: key._serialized, chat: chat.id._serialized, id: key.id, fromMe: true,
        from: this.device.wid, to: chat.id._serialized, body: String(message.body ?? ""),
        t: Number.isInteger(message.t) ? message.t : Math.floor(Date.now() / 1000),
        type: message.type || "chat", ack: 0, seq: this.nextSeq(),
      };
      const model = this.ingest(record, true); // "add" fires now, with ack 0
      this.unacked.set(record.key, record);
      const sent = new Promise((resolve) => this.sendResults.set(record.key, resolve));
      const stored = this.store.putMessage(record).then(() => {
        this.transmitOwn(record);
        return model;
      });
      return [stored, sent];
    }

    transmitOwn(record) {
      this.transmit({ type: "send",
        message: { id: record.id, to: record.to, body: record.body, t: record.t } });
    }

    async acked(key, ack) {
      const record = this.unacked.get(key);
      if (record && ack > record.ack) record.ack = ack;
      if (ack >= 2) this.unacked.delete(key);
      const model = this.Msgs.get(key);
      if (model && ack > model.ack) model.ack = ack; // "change:ack" (msg, ack, prev)
      await this.store.updateMessage(key, { ack });
      const resolve = this.sendResults.get(key);
      if (resolve && ack >= 1) {
        this.sendResults.delete(key);
        resolve({ messageSendResult: "OK" });
      }
    }

    async loadEarlier(chat) {
      if (!chat || !chat.id) throw new TypeError("loadEarlierMsgs: no chat");
      const oldest = chat.msgs.head();
      const before = oldest ? [oldest.t, oldest._seq] : null;
      const records = await this.store.latest(chat.id._serialized, config.historyPage, before);
      return records.map((record) => this.ingest(record, false));
    }

    // -- login ----------------------------------------------------------------------------------

    takeover() {
      if (this.Socket.state !== "CONFLICT") return;
      this.halted = false;
      this.takeoverNext = true;
      this.connect();
    }

    logout() {
      this.transmit({ type: "logout" });
    }

    reconnect() {
      if (this.halted) return;
      const ws = this.socket;
      this.socket = null;
      if (ws) ws.close();
      this.connect();
    }

    refreshQR() {
      if (LOGGED_OUT.has(this.Socket.state)) this.transmit({ type: "refresh_qr" });
    }

    setPairingType(type) {
      this.pairing.type = type;
      this.pairing.ready = false;
    }

    initializeAltDeviceLinking() {
      if (this.pairing.type !== "ALT_DEVICE_LINKING") {
        throw new Error("initializeAltDeviceLinking: call setPairingType('ALT_DEVICE_LINKING') first");
      }
      this.pairing.ready = true;
    }

    initializeQRLinking() {
      this.pairing = { type: "QR", ready: false, waiting: null };
      this.ui.code(null);
    }

    startAltLinkingFlow(phone, showNotification) {
      if (!this.pairing.ready) {
        return Promise.reject(new Error("startAltLinkingFlow: initializeAltDeviceLinking() first"));
      }
      if (!LOGGED_OUT.has(this.Socket.state)) {
        return Promise.reject(new Error(`startAltLinkingFlow: state is ${this.Socket.state}`));
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no pairing code from the server")),
          PAIR_TIMEOUT_MS);
        this.pairing.waiting = (code) => {
          clearTimeout(timer);
          resolve(code);
        };
        this.transmit({ type: "pair_request", phone: String(phone), notify: Boolean(showNotification) });
      });
    }
  }

  /* What the user sees: the landing page with the QR code (a canvas inside div[data-ref],
   * as WhatsApp Web draws it) while logged out, else the messages. */
  class View {
    constructor(core) {
      this.core = core;
      this.drawn = 0;
      document.getElementById("reload-qr").addEventListener("click", () => core.refreshQR());
      document.getElementById("use-here").addEventListener("click", () => core.takeover());
    }

    show(state) {
      const screen = LOGGED_OUT.has(state) ? "landing" : state === "CONFLICT" ? "conflict"
        : state === "CONNECTED" ? "main" : ["OPENING", "PAIRING", "TIMEOUT"].includes(state)
          ? "startup" : "blocked";
      for (const el of document.querySelectorAll("body > section")) el.hidden = el.id !== screen;
      document.getElementById("state").textContent = state;
      document.getElementById("reload-qr").hidden = state !== "UNPAIRED_IDLE";
    }

    async qr() {
      const { Conn } = this.core;
      const keys = this.core.device.keys;
      const text = [Conn.ref, keys.static, keys.identity, keys.adv, config.platform].join(",");
      const holder = document.querySelector("[data-ref]");
      holder.setAttribute("data-ref", text);
      const turn = ++this.drawn;
      let matrix;
      try {
        const response = await fetch(`/wa/qr?text=${encodeURIComponent(text)}`);
        if (!response.ok) return;
        matrix = await response.json();
      } catch {
        return;
      }
      if (turn !== this.drawn) return;
      const canvas = holder.querySelector("canvas");
      const scale = 4;
      const quiet = 4;
      const side = (matrix.size + 2 * quiet) * scale;
      canvas.width = canvas.height = side;
      const ctx = canvas.getContext("2d");
      ctx.fillStyle = "#fff";
      ctx.fillRect(0, 0, side, side);
      ctx.fillStyle = "#122e31";
      matrix.rows.forEach((row, y) => {
        for (let x = 0; x < row.length; x++) {
          if (row[x] === "1") ctx.fillRect((x + quiet) * scale, (y + quiet) * scale, scale, scale);
        }
      });
    }

    code(code) {
      const el = document.getElementById("pairing-code");
      el.textContent = code ? `${code.slice(0, 4)}-${code.slice(4)}` : "";
      el.hidden = !code;
    }

    message(model) {
      const list = document.getElementById("messages");
      const item = document.createElement("li");
      item.textContent = `${model.id.fromMe ? "me" : model.from.user}: ${model.body}`;
      list.appendChild(item);
      while (list.children.length > 200) list.removeChild(list.firstElementChild);
    }
  }

  async function boot() {
    await sleep(config.loadDelayMs); // the bundle downloads and evaluates
    const core = new Core();
    window.Debug = { VERSION: config.version };
    if (!config.noLoader) window.require = (name) => core.require(name);
    await core.start();
  }

  boot().catch((error) => console.error("the page failed to start", error));
})();
