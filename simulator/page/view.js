/* The chat page's view: which screen shows (connecting, login code, chat) and the newest messages. */

const MAX_SHOWN = 200;
const TICKS = ["\u{1F552}", "\u2713", "\u2713\u2713"]; // pending, server, delivered

export class ChatView {
  constructor(session) {
    this._list = document.getElementById("messages");
    this._items = new Map();
    for (const el of document.querySelectorAll("#session, .session-id")) el.textContent = session;
  }

  status(state) {
    document.getElementById("connecting").hidden = state !== "connecting";
    document.getElementById("login").hidden = state !== "auth_required";
    document.getElementById("chat").hidden = state !== "connected";
    const badge = document.getElementById("status");
    badge.textContent = state.replace("_", " ");
    badge.className = `status ${state}`;
  }

  /** Show the login code `qr` ({payload, expires_at}) drawn as `image`, or none. */
  qr(qr, image) {
    const img = document.getElementById("qr");
    if (qr === null) {
      img.removeAttribute("src");
      delete img.dataset.ref;
      delete img.dataset.expiresAt;
      return;
    }
    img.src = image;
    img.dataset.ref = qr.payload;
    img.dataset.expiresAt = String(qr.expires_at);
  }

  add(message) {
    const item = document.createElement("li");
    item.dataset.id = message.id;
    if (message.self) item.classList.add("self");
    const from = document.createElement("span");
    from.className = "from";
    from.textContent = message.self ? "you" : message.from;
    const time = document.createElement("span");
    time.className = "time";
    time.textContent = new Date(message.timestamp * 1000).toLocaleTimeString();
    const tick = document.createElement("span");
    tick.className = "tick";
    item.append(from, document.createTextNode(message.body), time, tick);
    this._list.appendChild(item);
    this._items.set(message.id, item);
    this.ack(message);
    while (this._list.children.length > MAX_SHOWN) this.remove(this._list.firstElementChild.dataset.id);
    item.scrollIntoView({ block: "end" });
  }

  ack(message) {
    const item = this._items.get(message.id);
    if (item && message.self) item.querySelector(".tick").textContent = TICKS[message.ack] || "";
  }

  remove(id) {
    const item = this._items.get(id);
    if (!item) return;
    item.remove();
    this._items.delete(id);
  }
}
