/* The chat page's entry: builds window.ChatStore (see store.js) and starts it.
 *
 * window.ChatStore exists as soon as this script has run, and a "chatstore" event (detail: the
 * store) is dispatched on window at that moment. The store starts (loads its history, connects)
 * only after the document's DOMContentLoaded listeners ran, so a hook that an init script installs
 * on either of those sees every event, the history's "add" events included.
 * An init script may set window.ChatStoreOptions = {maxKept: N} to keep fewer messages.
 */

import { ChatStore } from "./store.js";
import { History } from "./history.js";
import { ChatView } from "./view.js";

const match = location.pathname.match(/^\/chat\/([A-Za-z0-9_-]{1,64})\/?$/);
const session = match ? match[1] : "";
const store = new ChatStore(session, new History(session), new ChatView(session),
  window.ChatStoreOptions || {});
window.ChatStore = store;
window.dispatchEvent(new CustomEvent("chatstore", { detail: store }));

document.getElementById("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.getElementById("text");
  if (input.value) store.send(input.value);
  input.value = "";
});

const start = () => setTimeout(() => store.start(), 0);
if (document.readyState === "complete") start();
else document.addEventListener("DOMContentLoaded", start, { once: true });
