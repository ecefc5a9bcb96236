/* The chat page's client: one WebSocket to the simulator, an in-page message store
 * (window.ChatStore, an event emitter in the style of WhatsApp Web's window.Store) and a small UI.
 *
 * ChatStore
 *   .state                 "loading" | "ready" | "auth_required"
 *   .connected             whether the WebSocket is open now
 *   .session, .device      this page's session id and device token (its login)
 *   .on(event, fn) / .off(event, fn) / .emit(event, ...args)
 *       "message"  {id, from, body, timestamp (seconds), self}  new, or redelivered while unacked
 *       "state"    the new state;  "connection"  true / false
 *   .messages()            messages kept, oldest first (acked ones beyond .maxKept are dropped)
 *   .unacked()             messages the app has not acked yet
 *   .ack(id)               tell the server the app has taken message `id` (only the app does)
 *   .sendToSelf(body)      the server echoes it back as a message with self: true
 *
 * Protocol and faults are described in simulator/chat.py.
 */
(() => {
  "use strict";

  const match = location.pathname.match(/^\/chat\/([A-Za-z0-9_-]{1,64})\/?$/);
  const BACKOFF_MIN_MS = 250;
  const BACKOFF_MAX_MS = 2000;
  const MAX_KEPT = 1000; // acked messages beyond this are forgotten, oldest first
  const MAX_SHOWN = 200;
  const MAX_OUTBOX = 100; // sends queued while offline
  const LEAK_TICK_MS = 100;
  const PAGE = 4096;

  class Emitter {
    constructor() {
      this._listeners = new Map();
    }

    on(event, fn) {
      if (!this._listeners.has(event)) this._listeners.set(event, new Set());
      this._listeners.get(event).add(fn);
      return this;
    }

    off(event, fn) {
      const listeners = this._listeners.get(event);
      if (listeners) listeners.delete(fn);
      return this;
    }

    emit(event, ...args) {
      for (const fn of [...(this._listeners.get(event) || [])]) {
        try {
          fn(...args);
        } catch (error) {
          console.error(`ChatStore ${event} listener failed`, error);
        }
      }
      return this;
    }
  }

  class ChatStore extends Emitter {
    constructor(session, ui) {
      super();
      this.session = session;
      this.state = "loading";
      this.connected = false;
      this.device = null;
      this.maxKept = MAX_KEPT;
      this._ui = ui;
      this._messages = new Map();
      this._acked = new Set();
      this._outbox = [];
      this._socket = null;
      this._backoff = BACKOFF_MIN_MS;
      this._leak = [];
      this._leakTimer = null;
    }

    messages() {
      return [...this._messages.values()].map((m) => ({ ...m }));
    }

    unacked() {
      return this.messages().filter((m) => !this._acked.has(m.id));
    }

    ack(id) {
      if (!this._messages.has(id)) return false;
      this._acked.add(id);
      this._trySend({ type: "ack", id }); // if offline, the server pushes it again and we re-ack
      this._ui.acked(id);
      this._forget();
      return true;
    }

    sendToSelf(body) {
      const frame = { type: "send", body: String(body) };
      if (!this._trySend(frame)) {
        this._outbox.push(frame);
        if (this._outbox.length > MAX_OUTBOX) this._outbox.shift();
      }
      return true;
    }

    connect() {
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      const ws = new WebSocket(`${scheme}//${location.host}/chat/${this.session}/ws`);
      this._socket = ws;
      ws.onmessage = (event) => {
        let frame;
        try {
          frame = JSON.parse(event.data);
        } catch {
          return;
        }
        if (frame && typeof frame === "object") this._handle(frame);
      };
      ws.onclose = () => {
        if (this._socket !== ws) return;
        this._socket = null;
        this._setConnected(false);
        const delay = this._backoff;
        this._backoff = Math.min(this._backoff * 2, BACKOFF_MAX_MS);
        setTimeout(() => this.connect(), delay);
      };
    }

    _handle(frame) {
      switch (frame.type) {
        case "hello":
          this.device = frame.device;
          this._backoff = BACKOFF_MIN_MS;
          this._setConnected(true);
          this._setState(frame.state);
          for (const queued of this._outbox.splice(0)) this._trySend(queued);
          break;
        case "auth":
          this._setState(frame.state);
          break;
        case "message":
          this._receive(frame.message);
          break;
        case "fault":
          this._fault(frame);
          break;
      }
    }

    _receive(raw) {
      if (!raw || typeof raw.id !== "string") return;
      if (this._acked.has(raw.id)) {
        this._trySend({ type: "ack", id: raw.id }); // our earlier ack was lost with its socket
        return;
      }
      const message = {
        id: raw.id,
        from: String(raw.from),
        body: String(raw.body),
        timestamp: Number(raw.timestamp),
        self: Boolean(raw.self),
      };
      if (!this._messages.has(message.id)) this._ui.message(message);
      this._messages.set(message.id, message);
      this._forget();
      this.emit("message", { ...message });
    }

    _forget() {
      for (const id of this._messages.keys()) {
        if (this._messages.size <= this.maxKept) return;
        if (this._acked.delete(id)) this._messages.delete(id);
      }
    }

    _fault(frame) {
      if (frame.mode === "hang") {
        this._trySend({ type: "fault_applied", mode: "hang" });
        setTimeout(() => {
          while (true) {} // eslint-disable-line no-constant-condition, no-empty
        }, 0);
      } else if (frame.mode === "leak") {
        this._startLeak(Number(frame.bytes_per_second), Number(frame.cap_bytes));
        this._trySend({ type: "fault_applied", mode: "leak" });
      } else if (frame.mode === "none") {
        this._stopLeak();
      }
    }

    _startLeak(bytesPerSecond, capBytes) {
      this._stopLeak();
      const chunk = Math.max(PAGE, Math.floor((bytesPerSecond * LEAK_TICK_MS) / 1000));
      let total = 0;
      this._leakTimer = setInterval(() => {
        if (total + chunk > capBytes) {
          clearInterval(this._leakTimer);
          this._leakTimer = null;
          return;
        }
        const block = new Uint8Array(chunk);
        for (let i = 0; i < block.length; i += PAGE) block[i] = 1; // make every page resident
        this._leak.push(block);
        total += chunk;
      }, LEAK_TICK_MS);
    }

    _stopLeak() {
      if (this._leakTimer !== null) clearInterval(this._leakTimer);
      this._leakTimer = null;
      this._leak = [];
    }

    _trySend(frame) {
      const ws = this._socket;
      if (!ws || ws.readyState !== WebSocket.OPEN) return false;
      ws.send(JSON.stringify(frame));
      return true;
    }

    _setConnected(connected) {
      if (this.connected === connected) return;
      this.connected = connected;
      this._ui.status(this.state, connected);
      this.emit("connection", connected);
    }

    _setState(state) {
      if (state !== "ready" && state !== "auth_required") return;
      if (this.state === state) return;
      this.state = state;
      this._ui.status(state, this.connected);
      this.emit("state", state);
    }
  }

  class ChatView {
    constructor(session) {
      this._list = document.getElementById("messages");
      this._items = new Map();
      for (const el of document.querySelectorAll("#session, .session-id")) el.textContent = session;
      const qr = document.getElementById("qr");
      for (let i = 0; i < 21 * 21; i++) {
        const cell = document.createElement("i");
        if (Math.random() < 0.5) cell.className = "on";
        qr.appendChild(cell);
      }
    }

    status(state, connected) {
      document.getElementById("loading").hidden = state !== "loading";
      document.getElementById("login").hidden = state !== "auth_required";
      document.getElementById("chat").hidden = state !== "ready";
      const badge = document.getElementById("status");
      badge.textContent = connected ? state : `${state} (offline)`;
      badge.className = `status ${state}${connected ? "" : " offline"}`;
    }

    message(message) {
      const item = document.createElement("li");
      item.dataset.id = message.id;
      if (message.self) item.classList.add("self");
      const from = document.createElement("span");
      from.className = "from";
      from.textContent = message.self ? "you" : message.from;
      const time = document.createElement("span");
      time.className = "time";
      time.textContent = new Date(message.timestamp * 1000).toLocaleTimeString();
      item.append(from, document.createTextNode(message.body), time);
      this._list.appendChild(item);
      this._items.set(message.id, item);
      while (this._list.children.length > MAX_SHOWN) {
        const oldest = this._list.firstElementChild;
        this._items.delete(oldest.dataset.id);
        this._list.removeChild(oldest);
      }
      item.scrollIntoView({ block: "end" });
    }

    acked(id) {
      const item = this._items.get(id);
      if (item) item.classList.add("acked");
      this._items.delete(id);
    }
  }

  const session = match ? match[1] : "";
  const store = new ChatStore(session, new ChatView(session));
  window.ChatStore = store;
  document.getElementById("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.getElementById("text");
    if (input.value) store.sendToSelf(input.value);
    input.value = "";
  });
  store.connect();
})();
