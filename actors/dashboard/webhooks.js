// The dashboard's webhook part: every endpoint with its state and backlog (from /overview),
// the dead letters of the endpoint one picks with a requeue button each, and the attempts of
// the event one clicks. Loaded before app.js, whose helpers (api, el, notify, duration, clock)
// it calls only once the page runs.
"use strict";

let selectedEndpoint = null; // the endpoint whose dead letters are shown
let shownEvent = null; // the event whose attempts are shown
const endpointRows = new Map(); // endpoint id -> {row, cells}
const ENDPOINT_COLUMNS = ["id", "url", "state", "pending", "oldest", "dead", "delivered"];

function endpointRow(id) {
  let entry = endpointRows.get(id);
  if (entry) return entry;
  const row = el("tr");
  row.dataset.endpoint = id;
  row.title = "show this endpoint's dead letters";
  const cells = {};
  for (const name of ENDPOINT_COLUMNS) {
    cells[name] = el("td", "col-" + name);
    row.appendChild(cells[name]);
  }
  cells.id.textContent = id;
  row.addEventListener("click", () => { selectedEndpoint = id; refreshWebhooks(); });
  entry = { row, cells };
  endpointRows.set(id, entry);
  return entry;
}

function showWebhooks(webhooks) {
  const section = $("webhooks-section");
  if (!webhooks) { section.hidden = true; return; }
  section.hidden = false;
  const health = webhooks.outbox;
  $("outbox-health").textContent = health.healthy ? "outbox ok" : "outbox not healthy";
  $("outbox-health").className = "badge " + (health.healthy ? "ok" : "down");
  $("outbox-health").title = health.problems.join("\n");
  const body = document.querySelector("#endpoints tbody");
  const seen = new Set();
  for (const e of webhooks.endpoints) {
    seen.add(e.id);
    const { row, cells } = endpointRow(e.id);
    body.appendChild(row);
    row.dataset.state = e.state;
    row.classList.toggle("selected", e.id === selectedEndpoint);
    cells.url.textContent = e.url;
    cells.state.textContent = e.state;
    cells.state.classList.toggle("bad", e.state === "paused");
    cells.pending.textContent = e.pending;
    cells.oldest.textContent = duration(e.oldest_age_seconds);
    cells.dead.textContent = e.dead_letters;
    cells.dead.classList.toggle("bad", e.dead_letters > 0);
    cells.delivered.textContent = e.delivered_total;
  }
  for (const [id, entry] of endpointRows) {
    if (!seen.has(id)) { entry.row.remove(); endpointRows.delete(id); }
  }
  $("no-endpoints").hidden = webhooks.endpoints.length > 0;
  if (!seen.has(selectedEndpoint)) {
    const withDead = webhooks.endpoints.find((e) => e.dead_letters > 0);
    selectedEndpoint = (withDead || webhooks.endpoints[0] || { id: null }).id;
  }
  refreshWebhooks();
}

async function refreshWebhooks() {
  for (const [id, entry] of endpointRows) entry.row.classList.toggle("selected", id === selectedEndpoint);
  try {
    await showDeadLetters();
    if (shownEvent) await showEvent(shownEvent);
  } catch (error) {
    if (error.message !== "unauthorized") $("dead-endpoint").textContent = "(" + error.message + ")";
  }
}

async function showDeadLetters() {
  const list = $("dead-letters");
  $("requeue-all").hidden = true;
  if (!selectedEndpoint) { fillLog(list, [], null, "No endpoint."); return; }
  const endpoint = selectedEndpoint;
  const answer = await api("GET", `webhooks/${encodeURIComponent(endpoint)}/events?state=dead&limit=50`);
  if (endpoint !== selectedEndpoint) return; // another was picked meanwhile
  $("dead-endpoint").textContent = "of " + endpoint;
  $("requeue-all").hidden = answer.events.length === 0;
  fillLog(list, answer.events, (e) => deadItem(endpoint, e), "No dead letters.");
}

function deadItem(endpoint, e) {
  const li = el("li");
  li.dataset.event = e.id;
  li.appendChild(el("time", "", clock(e.timestamp)));
  li.appendChild(el("span", "name", e.type));
  li.appendChild(document.createTextNode(` ${e.session_id} #${e.seq} `));
  li.appendChild(el("span", "warn", e.last_status === null ? "no answer" : "HTTP " + e.last_status));
  const show = el("button", "link event-link", e.id);
  show.addEventListener("click", () => showEvent(e.id));
  li.appendChild(show);
  const again = el("button", "requeue", "Requeue");
  again.addEventListener("click", () => requeue(endpoint, e.id));
  li.appendChild(again);
  return li;
}

async function showEvent(id) {
  shownEvent = id;
  const detail = await api("GET", `webhooks/events/${encodeURIComponent(id)}`);
  $("event-title").textContent = `of ${detail.id} (${detail.type}, ${detail.session_id} #${detail.seq})`;
  const box = $("event-detail");
  box.replaceChildren();
  for (const d of detail.deliveries) {
    const part = el("div", "delivery");
    part.dataset.endpoint = d.endpoint;
    part.appendChild(el("div", "name", `${d.endpoint}: ${d.state}`));
    const table = el("table", "attempts");
    table.appendChild(el("tr")).append(el("th", "", "at"), el("th", "", "status"),
                                       el("th", "", "error"), el("th", "", "ms"));
    for (const a of d.attempts) {
      const row = el("tr");
      row.append(el("td", "", clock(a.at)), el("td", "", a.status === null ? "–" : String(a.status)),
                 el("td", "error", a.error || ""), el("td", "", a.duration_ms.toFixed(1)));
      table.appendChild(row);
    }
    if (!d.attempts.length) table.appendChild(el("tr")).appendChild(el("td", "muted", "no attempt yet"));
    part.appendChild(table);
    box.appendChild(part);
  }
}

async function requeue(endpoint, id) {
  const path = `webhooks/${encodeURIComponent(endpoint)}/dead/` + (id ? `${encodeURIComponent(id)}/requeue` : "requeue");
  try {
    const answer = await api("POST", path);
    notify(`${endpoint}: requeued ${answer.requeued} dead letter${answer.requeued === 1 ? "" : "s"}`);
  } catch (error) {
    if (error.message !== "unauthorized") notify(`${endpoint}: requeue failed: ${error.message}`, true);
  }
  poll();
}

document.getElementById("requeue-all").addEventListener("click", () => {
  if (selectedEndpoint) requeue(selectedEndpoint, null);
});
