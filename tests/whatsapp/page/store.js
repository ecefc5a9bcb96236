/* The device store: what this browser profile keeps in IndexedDB, as WhatsApp Web keeps its
 * own there. It survives a reload and a killed browser; a logout deletes it.
 *
 *   device   one record: {deviceId, keys: {static, identity, adv} (base64), wid, lid}
 *   message  every message the page took, by serialized id: {key, chat, id, fromMe, from, to,
 *            body, t, type, ack, seq}; index "chat" on [chat, t, seq] (history in order)
 *   chat     {id, t}: the chats the page knows
 *
 * Writes resolve once their transaction has committed with strict durability: the page tells
 * the server it has a message (its receipt) only after that.
 */
(() => {
  "use strict";

  const ns = (window.__waDouble = window.__waDouble || {});
  const NAME = "wa-double";

  const done = (request) => new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });

  const committed = (tx) => new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error("transaction aborted"));
  });

  const randomB64 = (bytes) => btoa(String.fromCharCode(...crypto.getRandomValues(
    new Uint8Array(bytes))));

  class DeviceStore {
    constructor() {
      this.db = null;
    }

    async open() {
      const request = indexedDB.open(NAME, 1);
      request.onupgradeneeded = () => {
        const db = request.result;
        db.createObjectStore("device");
        db.createObjectStore("message", { keyPath: "key" }).createIndex("chat", ["chat", "t", "seq"]);
        db.createObjectStore("chat", { keyPath: "id" });
      };
      this.db = await done(request);
      let device = await done(this.db.transaction("device").objectStore("device").get("self"));
      if (!device) {
        device = {
          deviceId: randomB64(16),
          keys: { static: randomB64(32), identity: randomB64(32), adv: randomB64(32) },
          wid: null,
          lid: null,
        };
        await this.saveDevice(device);
      }
      return device;
    }

    saveDevice(device) {
      const tx = this.db.transaction("device", "readwrite", { durability: "strict" });
      tx.objectStore("device").put(device, "self");
      return committed(tx);
    }

    putMessage(record) {
      const tx = this.db.transaction(["message", "chat"], "readwrite", { durability: "strict" });
      tx.objectStore("message").put(record);
      const chats = tx.objectStore("chat");
      const chatRequest = chats.get(record.chat);
      chatRequest.onsuccess = () => {
        const chat = chatRequest.result;
        if (!chat || chat.t < record.t) chats.put({ id: record.chat, t: record.t });
      };
      return committed(tx);
    }

    getMessage(key) {
      return done(this.db.transaction("message").objectStore("message").get(key));
    }

    async updateMessage(key, changes) {
      const tx = this.db.transaction("message", "readwrite", { durability: "strict" });
      const store = tx.objectStore("message");
      const request = store.get(key);
      request.onsuccess = () => {
        if (request.result) store.put({ ...request.result, ...changes });
      };
      await committed(tx);
    }

    chats() {
      return done(this.db.transaction("chat").objectStore("chat").getAll());
    }

    /* Up to `count` messages of `chat` older than `before` ([t, seq], or null: the newest),
     * oldest first. */
    latest(chat, count, before) {
      const upper = before ? [chat, ...before] : [chat, Infinity, Infinity];
      const range = IDBKeyRange.bound([chat, -Infinity, -Infinity], upper, false, Boolean(before));
      const index = this.db.transaction("message").objectStore("message").index("chat");
      return new Promise((resolve, reject) => {
        const found = [];
        const request = index.openCursor(range, "prev");
        request.onerror = () => reject(request.error);
        request.onsuccess = () => {
          const cursor = request.result;
          if (!cursor || found.length >= count) {
            resolve(found.reverse());
            return;
          }
          found.push(cursor.value);
          cursor.continue();
        };
      });
    }

    unacked() {
      return new Promise((resolve, reject) => {
        const found = [];
        const request = this.db.transaction("message").objectStore("message").openCursor();
        request.onerror = () => reject(request.error);
        request.onsuccess = () => {
          const cursor = request.result;
          if (!cursor) {
            resolve(found);
            return;
          }
          if (cursor.value.fromMe && cursor.value.ack < 2) found.push(cursor.value);
          cursor.continue();
        };
      });
    }

    async wipe() {
      if (this.db) this.db.close();
      this.db = null;
      await done(indexedDB.deleteDatabase(NAME));
    }
  }

  Object.assign(ns, { DeviceStore });
})();
