// The dashboard polls GET /overview and shows sessions, lifecycle events, the webhook outbox
// (its endpoints: webhooks.js) and the demo sink; buttons POST /sessions/{id}/{restart|stop|start};
// detail.js adds logins and a session's detail. No dependencies.
// Paths are relative, so the page also works behind a reverse proxy under a prefix.
"use strict";

const POLL_MS = 1500;
const TOKEN_KEY = "warden.token";
const WARN_EVENTS = new Set([
  "restart_scheduled", "reached_max_restarts", "child_killed", "child_abandoned",
  "supervisor_escalated", "auth_required", "child_unhealthy", "child_exited",
]);

const $ = (id) => document.getElementById(id);
const rows = new Map(); // session id -> {row, cells}
let pendingAction = null; // a command to retry once a token is given
let timer = null;

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

async function api(method, path) {
  const headers = {};
  if (token()) headers["Authorization"] = "Bearer " + token();
  const response = await fetch(path, { method, headers, cache: "no-store" });
  if (response.status === 401) {
    askForToken(token() ? "That token was refused." : "");
    throw new Error("unauthorized");
  }
  const body = response.status === 204 ? null : await response.json();
  if (!response.ok) throw new Error((body && body.error) || response.statusText);
  return body;
}

function askForToken(message) {
  $("token-form").hidden = false;
  $("token-error").textContent = message;
  $("token-input").focus();
}

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = $("token-input").value.trim();
  if (!value) return;
  sessionStorage.setItem(TOKEN_KEY, value);
  $("token-input").value = "";
  $("token-form").hidden = true;
  $("forget-token").hidden = false;
  const action = pendingAction;
  pendingAction = null;
  if (action) command(action.id, action.verb); else poll();
});

$("forget-token").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  $("forget-token").hidden = true;
  poll();
});

// --- formatting -------------------------------------------------------------------------------

function age(now, iso) {
  if (!iso) return null;
  return Math.max(0, (Date.parse(now) - Date.parse(iso)) / 1000);
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 10) return seconds.toFixed(1) + "s";
  if (seconds < 120) return Math.round(seconds) + "s";
  if (seconds < 7200) return Math.round(seconds / 60) + "m";
  if (seconds < 172800) return (seconds / 3600).toFixed(1) + "h";
  return Math.round(seconds / 86400) + "d";
}

function mib(bytes) {
  return bytes === null || bytes === undefined ? "–" : (bytes / 1048576).toFixed(0) + " MiB";
}

function clock(iso) {
  return iso ? new Date(iso).toLocaleTimeString([], { hour12: false }) : "";
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// --- sessions ---------------------------------------------------------------------------------

const COLUMNS = ["id", "state", "restarts", "reason", "heartbeat", "activity", "canary",
                 "memory", "pid", "uptime", "actions"];

function rowFor(id) {
  let entry = rows.get(id);
  if (entry) return entry;
  const row = el("tr");
  row.dataset.session = id;
  const cells = {};
  for (const name of COLUMNS) {
    cells[name] = el("td", "col-" + name);
    row.appendChild(cells[name]);
  }
  const link = el("button", "session-link", id);
  link.title = "screenshot, events, incidents";
  link.addEventListener("click", () => openDetail(id));
  cells.id.appendChild(link);
  cells.state.appendChild(el("span", "state"));
  for (const verb of ["restart", "stop", "start"]) {
    const button = el("button", verb, verb[0].toUpperCase() + verb.slice(1));
    button.dataset.action = verb;
    button.addEventListener("click", () => command(id, verb));
    cells.actions.appendChild(button);
  }
  entry = { row, cells };
  rows.set(id, entry);
  return entry;
}

function showSessions(now, sessions) {
  const body = document.querySelector("#sessions tbody");
  const seen = new Set();
  for (const s of sessions) {
    seen.add(s.id);
    const { row, cells } = rowFor(s.id);
    body.appendChild(row); // keeps server order; moves an existing row, no flicker
    row.dataset.state = s.state;
    const pill = cells.state.firstChild;
    pill.className = "state " + s.state;
    pill.textContent = s.state.replace("_", " ");
    cells.restarts.textContent = s.restarts + " / " + s.restarts_total;
    cells.reason.textContent = s.last_restart_reason || "–";
    const heartbeat = age(now, s.last_heartbeat);
    cells.heartbeat.textContent = duration(heartbeat);
    cells.heartbeat.classList.toggle("stale", heartbeat !== null && heartbeat > 10);
    cells.activity.textContent = duration(age(now, s.last_activity));
    cells.canary.textContent = duration(age(now, s.last_canary));
    cells.memory.textContent = mib(s.memory_bytes);
    cells.pid.textContent = s.browser_pid === null ? "–" : String(s.browser_pid);
    cells.uptime.textContent = duration(s.uptime_seconds);
    const running = !["stopped", "failed"].includes(s.state);
    cells.actions.querySelector(".stop").hidden = !running;
    cells.actions.querySelector(".start").hidden = running;
  }
  for (const [id, entry] of rows) {
    if (!seen.has(id)) { entry.row.remove(); rows.delete(id); }
  }
  $("no-sessions").hidden = sessions.length > 0;
  const healthy = sessions.filter((s) => s.state === "healthy").length;
  $("sum-total").textContent = sessions.length;
  $("sum-healthy").textContent = healthy;
  $("sum-unhealthy").textContent = sessions.length - healthy;
  $("sum-unhealthy").classList.toggle("bad", sessions.length > healthy);
}

// --- webhook, events, sink --------------------------------------------------------------------

function showWebhook(webhook) {
  const show = (id, value) => { $(id).textContent = value === null || value === undefined ? "–" : value; };
  show("wh-pending", webhook.pending);
  show("wh-oldest", webhook.oldest_age_seconds === null ? null : duration(webhook.oldest_age_seconds));
  show("wh-dead", webhook.dead_letters);
  show("wh-delivered", webhook.delivered);
  const endpoint = webhook.endpoint_state || webhook.state;
  show("wh-endpoint", endpoint);
  $("wh-endpoint").title = webhook.paused_reason || "";
  $("wh-endpoint").className = "value " + (endpoint === "paused" ? "bad" : "");
}

function fillLog(list, items, render, emptyText) { // also used by webhooks.js
  list.replaceChildren();
  if (!items.length) list.appendChild(el("li", "empty", emptyText));
  for (const item of items) list.appendChild(render(item));
}

function eventItem(e) {
  const li = el("li");
  li.appendChild(el("time", "", clock(e.at)));
  li.appendChild(el("span", "name" + (WARN_EVENTS.has(e.name) ? " warn" : ""), e.name));
  li.appendChild(document.createTextNode(" " + e.supervisor + "/" + e.child));
  const extra = [];
  if (e.reason) extra.push("reason=" + e.reason);
  if (e.attempt !== null) extra.push("attempt=" + e.attempt);
  if (e.delay !== null) extra.push("delay=" + e.delay.toFixed(2) + "s");
  if (e.recovery_seconds !== null) extra.push("recovery=" + e.recovery_seconds.toFixed(2) + "s");
  if (e.detail) extra.push(e.detail);
  if (extra.length) li.appendChild(el("span", "muted", "  " + extra.join(" ")));
  return li;
}

function sinkItem(e) {
  const li = el("li");
  li.appendChild(el("time", "", clock(e.received_at)));
  li.appendChild(el("span", "name", e.type || "?"));
  li.appendChild(document.createTextNode(" " + (e.session_id || "") + " #" + e.seq));
  if (e.duplicate) li.appendChild(el("span", "warn", " duplicate"));
  li.appendChild(el("span", "muted", "  " + e.webhook_id));
  return li;
}

function showSink(sink) {
  if (!sink) {
    $("sink-counts").textContent = "(not enabled)";
    fillLog($("sink"), [], sinkItem, "No demo sink on this Warden.");
    return;
  }
  $("sink-counts").textContent =
    `${sink.accepted} verified, ${sink.rejected} rejected, ${sink.duplicates} duplicates`;
  fillLog($("sink"), sink.events, sinkItem, "No deliveries yet.");
}

// --- polling and commands ---------------------------------------------------------------------

function setHealth(reachable, running) {
  $("health").textContent = !reachable ? "unreachable" : running ? "running" : "stopping";
  $("health").className = "badge " + (reachable && running ? "ok" : "down");
}

async function poll() {
  clearTimeout(timer);
  try {
    const overview = await api("GET", "overview");
    showSessions(overview.now, overview.sessions);
    await showLogins(overview.sessions);
    if (detailOf) await refreshDetail(false);
    fillLog($("events"), overview.events, eventItem, "No lifecycle events yet.");
    showWebhook(overview.webhook);
    showWebhooks(overview.webhooks);
    showSink(overview.sink);
    setHealth(true, overview.running);
    $("updated").textContent = "updated " + clock(overview.now);
    $("forget-token").hidden = !token();
  } catch (error) {
    if (error.message !== "unauthorized") {
      setHealth(false, false);
      $("updated").textContent = "cannot reach Warden: " + error.message;
    }
  } finally {
    timer = setTimeout(poll, POLL_MS);
  }
}

function notify(text, isError) {
  const notice = $("notice");
  notice.textContent = text;
  notice.className = "notice" + (isError ? " error" : "");
  notice.hidden = false;
  clearTimeout(notify.timer);
  notify.timer = setTimeout(() => { notice.hidden = true; }, 4000);
}

async function command(id, verb) {
  try {
    const answer = await api("POST", `sessions/${encodeURIComponent(id)}/${verb}`);
    notify(`${id}: ${answer.message}`);
  } catch (error) {
    if (error.message === "unauthorized") { pendingAction = { id, verb }; return; }
    notify(`${id}: ${verb} failed: ${error.message}`, true);
  }
  poll();
}

poll();
