/* The page's store on disk: one IndexedDB database per session in the browser profile holds the
 * newest messages and this profile's device id, so that a browser restarted on the same profile
 * still has what it received, and is still the same device.
 *
 * Without IndexedDB (disabled, quota) the page still works, with nothing kept across loads.
 */

const VERSION = 1;
const MESSAGES = "messages"; // {id, from, body, timestamp, self, ack, seq}, key id, index seq
const META = "meta"; // key -> value: "device"

function settled(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function committed(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error("transaction aborted"));
  });
}

export class History {
  constructor(session) {
    this.name = `chat-sim:${session}`;
    this._db = null;
  }

  async open() {
    try {
      const request = indexedDB.open(this.name, VERSION);
      request.onupgradeneeded = () => {
        const db = request.result;
        db.createObjectStore(MESSAGES, { keyPath: "id" }).createIndex("seq", "seq");
        db.createObjectStore(META);
      };
      this._db = await settled(request);
    } catch (error) {
      console.warn("chat history unavailable: nothing is kept across loads", error);
      this._db = null;
    }
  }

  /** {device, messages}: the device id (or null) and the stored messages, oldest first. */
  async load() {
    if (!this._db) return { device: null, messages: [] };
    const tx = this._db.transaction([MESSAGES, META], "readonly");
    const [messages, device] = await Promise.all([
      settled(tx.objectStore(MESSAGES).index("seq").getAll()),
      settled(tx.objectStore(META).get("device")),
    ]);
    return { device: typeof device === "string" ? device : null, messages };
  }

  /** Store `records` (new or changed) and drop the ids in `removed`; resolves once committed. */
  save(records, removed = []) {
    if (!this._db) return Promise.resolve();
    const tx = this._db.transaction(MESSAGES, "readwrite");
    const store = tx.objectStore(MESSAGES);
    for (const record of records) store.put(record);
    for (const id of removed) store.delete(id);
    return committed(tx);
  }

  saveDevice(device) {
    if (!this._db) return Promise.resolve();
    const tx = this._db.transaction(META, "readwrite");
    tx.objectStore(META).put(device, "device");
    return committed(tx);
  }
}
