/* The chat store is the page's own record of its messages, an event emitter in the style of
 * WhatsApp Web's `Msg` collection, kept in step with the server over one WebSocket.
 *
 * ChatStore
 *   .state            "connecting" | "connected" | "auth_required"
 *   .qr               {payload, expires_at (epoch seconds)} while the login code is shown, else null
 *   .session, .device this page's session id and device id (the browser profile's)
 *   .on(event, fn) / .off(event, fn)
 *       "add"    {id, from, body, timestamp (epoch seconds), self, isNewMsg, ack}
 *                a message entered the store: isNewMsg false for history loaded from the profile
 *       "ack"    {id, ack}   the server acknowledged a message this page sent: 1 server, 2 delivered
 *       "state"  the new state;   "qr"  the new .qr
 *   .messages()       every message in the store (history included), oldest first, as "add" gave it
 *   .send(body)       a message to self: enters the store at once with ack 0 ("add" fires before
 *                     anything reached the server); returns its id
 *
 * An inbound message is saved to the profile, enters the store, is confirmed to the server with a
 * receipt, and only then fires "add": the server never sends it to this profile again.
 * Protocol: simulator/chat.py.
 */

import { hang, Leak } from "./faults.js";

// Newest messages kept per session, in memory and in the profile: with this many, pruned as new
// ones came, a page loads its history and connects in 0.6-0.9 s on a shared 2-core machine
// (0.2-0.5 s with none).
export const MAX_KEPT = 10000;
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 2000;
const STATES = new Set(["connecting", "connected", "auth_required"]);
const MESSAGE_ID = /^[A-Za-z0-9_-]{1,64}$/;
const ACK_PENDING = 0;
const ACK_DELIVERED = 2; // what an inbound message is: it reached this device

function newId() {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return "3EB0" + [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("").toUpperCase();
}

function inbound(raw) {
  if (!raw || typeof raw.id !== "string" || !MESSAGE_ID.test(raw.id)) return null;
  return {
    id: raw.id,
    from: String(raw.from),
    body: String(raw.body),
    timestamp: Number(raw.timestamp),
    self: Boolean(raw.self),
    isNewMsg: true,
    ack: ACK_DELIVERED,
  };
}

function stored(message) {
  const { isNewMsg, ...record } = message; // eslint-disable-line no-unused-vars
  return record;
}

function shown(message) {
  const { seq, ...visible } = message; // eslint-disable-line no-unused-vars
  return visible;
}

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

  emit(event, payload) {
    for (const fn of [...(this._listeners.get(event) || [])]) {
      try {
        fn(payload);
      } catch (error) {
        console.error(`ChatStore ${event} listener failed`, error);
      }
    }
    return this;
  }
}

export class ChatStore extends Emitter {
  constructor(session, history, view, options = {}) {
    super();
    this.session = session;
    this.state = "connecting";
    this.qr = null;
    this.device = null;
    this.maxKept = Number(options.maxKept) > 0 ? Number(options.maxKept) : MAX_KEPT;
    this._history = history;
    this._view = view;
    this._messages = new Map(); // id -> message, in the order they entered
    this._seq = 0;
    this._arriving = new Map(); // id -> inbound message being saved
    this._saving = false;
    this._deviceSaved = Promise.resolve();
    this._socket = null;
    this._backoff = BACKOFF_MIN_MS;
    this._leak = new Leak();
  }

  messages() {
    return [...this._messages.values()].map(shown);
  }

  send(body) {
    const message = {
      id: newId(),
      from: "me",
      body: String(body),
      timestamp: Date.now() / 1000,
      self: true,
      isNewMsg: true,
      ack: ACK_PENDING,
      seq: this._seq++,
    };
    this._admit([message]);
    this._history.save([stored(message)]).catch((e) => console.error("saving a send failed", e));
    this.emit("add", shown(message));
    this._transmit(message);
    return message.id;
  }

  /** Load the history from the profile (each fires "add" with isNewMsg false), then connect. */
  async start() {
    await this._history.open();
    const { device, messages } = await this._history.load();
    this.device = device;
    const overflow = messages.slice(0, Math.max(0, messages.length - this.maxKept));
    if (overflow.length) {
      this._history.save([], overflow.map((m) => m.id))
        .catch((e) => console.error("pruning history failed", e));
    }
    const history = messages.slice(overflow.length).map((m) => ({ ...m, isNewMsg: false }));
    for (const message of history) this._seq = Math.max(this._seq, message.seq + 1);
    this._admit(history);
    for (const message of history) this.emit("add", shown(message));
    this._connect();
  }

  _connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = this.device ? `?device=${encodeURIComponent(this.device)}` : "";
    const ws = new WebSocket(`${scheme}//${location.host}/chat/${this.session}/ws${query}`);
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
      this._setState("connecting");
      const delay = this._backoff;
      this._backoff = Math.min(this._backoff * 2, BACKOFF_MAX_MS);
      setTimeout(() => this._connect(), delay);
    };
  }

  _handle(frame) {
    switch (frame.type) {
      case "hello":
        this._backoff = BACKOFF_MIN_MS;
        if (typeof frame.device === "string" && frame.device !== this.device) {
          this.device = frame.device;
          this._deviceSaved = this._history.saveDevice(frame.device)
            .catch((e) => console.error("saving the device id failed", e));
        }
        this._setState(frame.state);
        break;
      case "auth":
        this._setState(frame.state);
        break;
      case "qr":
        this._setQr({ payload: String(frame.qr), expires_at: Number(frame.expires_at) },
          String(frame.image));
        break;
      case "message":
        this._arrive(inbound(frame.message));
        break;
      case "ack":
        this._acked(frame.id, Number(frame.ack));
        break;
      case "fault":
        this._fault(frame);
        break;
    }
  }

  _arrive(message) {
    if (!message) return;
    if (this._messages.has(message.id)) {
      this._send({ type: "receipt", id: message.id }); // the earlier receipt was lost
      return;
    }
    if (this._arriving.has(message.id)) return; // being saved: its receipt follows
    message.seq = this._seq++;
    this._arriving.set(message.id, message);
    this._saveArrivals();
  }

  /** Save what arrived in batches, in order; each message enters the store once saved. */
  async _saveArrivals() {
    if (this._saving) return;
    this._saving = true;
    try {
      await this._deviceSaved;
      while (this._arriving.size) {
        const batch = [...this._arriving.values()];
        try {
          // In the profile before the receipt: a restarted browser still has what it confirmed.
          await this._history.save(batch.map(stored));
        } catch (error) {
          console.error("saving messages failed: they are kept in memory only", error);
        }
        for (const message of batch) this._arriving.delete(message.id);
        this._admit(batch);
        for (const message of batch) {
          this._send({ type: "receipt", id: message.id });
          this.emit("add", shown(message));
        }
      }
    } finally {
      this._saving = false;
    }
  }

  /** Put messages in the store, dropping the oldest beyond maxKept (from the profile too). */
  _admit(messages) {
    for (const message of messages) {
      this._messages.set(message.id, message);
      this._view.add(message);
    }
    const removed = [];
    for (const id of this._messages.keys()) {
      if (this._messages.size - removed.length <= this.maxKept) break;
      removed.push(id);
    }
    if (!removed.length) return;
    for (const id of removed) {
      this._messages.delete(id);
      this._view.remove(id);
    }
    this._history.save([], removed).catch((e) => console.error("pruning history failed", e));
  }

  _acked(id, ack) {
    const message = this._messages.get(id);
    if (!message || !(ack > message.ack)) return;
    message.ack = ack;
    this._history.save([stored(message)]).catch((e) => console.error("saving an ack failed", e));
    this._view.ack(message);
    this.emit("ack", { id, ack });
  }

  _transmit(message) {
    this._send({ type: "send", id: message.id, body: message.body, timestamp: message.timestamp });
  }

  /** Sends the server has not acknowledged go again on each connection (it takes each once). */
  _resendPending() {
    for (const message of this._messages.values()) {
      if (message.self && message.ack === ACK_PENDING) this._transmit(message);
    }
  }

  _fault(frame) {
    if (frame.mode === "hang") {
      this._send({ type: "fault_applied", mode: "hang" });
      hang();
    } else if (frame.mode === "leak") {
      this._leak.start(Number(frame.bytes_per_second), Number(frame.cap_bytes));
      this._send({ type: "fault_applied", mode: "leak" });
    } else if (frame.mode === "none") {
      this._leak.stop();
    }
  }

  _send(frame) {
    const ws = this._socket;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  _setState(state) {
    if (!STATES.has(state)) return;
    if (state !== "auth_required") this._setQr(null, null);
    if (state === "connected") this._resendPending();
    if (this.state === state) return;
    this.state = state;
    this._view.status(state);
    this.emit("state", state);
  }

  _setQr(qr, image) {
    if (qr === null && this.qr === null) return;
    this.qr = qr;
    this._view.qr(qr, image);
    this.emit("qr", qr === null ? null : { ...qr });
  }
}
