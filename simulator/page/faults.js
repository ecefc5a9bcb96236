/* Faults the page carries out on the server's word: hang (busy-loop for ever) and leak (retain
 * memory fast, up to a cap, until told to stop). */

const LEAK_TICK_MS = 100;
const PAGE = 4096;

export function hang() {
  setTimeout(() => {
    while (true) {} // eslint-disable-line no-constant-condition, no-empty
  }, 0);
}

export class Leak {
  constructor() {
    this._blocks = [];
    this._timer = null;
  }

  start(bytesPerSecond, capBytes) {
    this.stop();
    const chunk = Math.max(PAGE, Math.floor((bytesPerSecond * LEAK_TICK_MS) / 1000));
    let total = 0;
    this._timer = setInterval(() => {
      if (total + chunk > capBytes) {
        clearInterval(this._timer);
        this._timer = null;
        return;
      }
      const block = new Uint8Array(chunk);
      for (let i = 0; i < block.length; i += PAGE) block[i] = 1; // make every page resident
      this._blocks.push(block);
      total += chunk;
    }, LEAK_TICK_MS);
  }

  stop() {
    if (this._timer !== null) clearInterval(this._timer);
    this._timer = null;
    this._blocks = [];
  }
}
