// Logins and a session's detail: a session waiting for a login shows its QR code (redrawn as
// the app changes it); a click on a session opens its screenshot, its recent lifecycle events,
// its incidents and a timeline of its restarts and recovery times. Uses app.js's api() helpers.
"use strict";

const qrShown = new Map(); // session id -> {card, payload, url}
let detailOf = null; // the session whose detail is open

async function blobUrl(path) {
  const headers = {};
  if (token()) headers["Authorization"] = "Bearer " + token();
  const response = await fetch(path, { headers, cache: "no-store" });
  if (!response.ok) {
    let reason = response.statusText;
    try { reason = (await response.json()).error || reason; } catch (e) { /* not JSON */ }
    throw new Error(reason);
  }
  return URL.createObjectURL(await response.blob());
}

// --- login QR codes ---------------------------------------------------------------------------

async function showLogins(sessions) {
  const waiting = sessions.filter((s) => s.state === "auth_required");
  $("logins").hidden = waiting.length === 0;
  const ids = new Set(waiting.map((s) => s.id));
  for (const [id, shown] of qrShown) {
    if (!ids.has(id)) { shown.card.remove(); URL.revokeObjectURL(shown.url); qrShown.delete(id); }
  }
  for (const s of waiting) {
    let shown = qrShown.get(s.id);
    if (!shown) {
      const card = el("figure", "qr-card");
      card.dataset.session = s.id;
      card.appendChild(el("img"));
      card.appendChild(el("figcaption", "", s.id + ": waiting for the QR code…"));
      $("login-cards").appendChild(card);
      shown = { card, payload: null, url: null };
      qrShown.set(s.id, shown);
    }
    try {
      const code = await api("GET", `sessions/${encodeURIComponent(s.id)}/qr?format=json`);
      if (code.qr === shown.payload) continue;
      const url = await blobUrl(`sessions/${encodeURIComponent(s.id)}/qr`);
      if (shown.url) URL.revokeObjectURL(shown.url);
      Object.assign(shown, { payload: code.qr, url });
      shown.card.querySelector("img").src = url;
      shown.card.querySelector("img").dataset.payload = code.qr;
      shown.card.querySelector("figcaption").textContent =
        `${s.id}: scan with the app on the phone (changes at ${clock(code.expires_at)})`;
    } catch (error) {
      shown.card.querySelector("figcaption").textContent = `${s.id}: ${error.message}`;
    }
  }
}

// --- a session's detail -----------------------------------------------------------------------

function openDetail(id) {
  detailOf = id;
  $("detail-title").textContent = id;
  $("detail").hidden = false;
  $("detail-shot").removeAttribute("src");
  refreshDetail(true);
}

$("detail-close").addEventListener("click", () => { detailOf = null; $("detail").hidden = true; });
$("detail-refresh").addEventListener("click", () => refreshDetail(true));

async function refreshDetail(withShot) {
  const id = detailOf;
  if (!id) return;
  const path = `sessions/${encodeURIComponent(id)}`;
  if (withShot) {
    $("detail-shot-note").textContent = "taking a screenshot…";
    try {
      const url = await blobUrl(path + "/screenshot");
      const img = $("detail-shot");
      if (img.src) URL.revokeObjectURL(img.src);
      img.src = url;
      $("detail-shot-note").textContent = "the page at " + clock(new Date().toISOString());
    } catch (error) {
      $("detail-shot-note").textContent = "no screenshot: " + error.message;
    }
  }
  try {
    const [events, incidents] = await Promise.all([
      api("GET", "events?limit=200"), api("GET", path + "/incidents")]);
    const mine = events.events.filter((e) => e.child === id);
    fillLog($("detail-events"), mine.slice(0, 20), eventItem, "No lifecycle events kept.");
    fillLog($("detail-incidents"), incidents.incidents, incidentItem, "No incidents yet.");
    drawTimeline($("detail-chart"), mine, incidents.incidents);
  } catch (error) {
    if (error.message !== "unauthorized") notify(`${id}: ${error.message}`, true);
  }
}

function incidentItem(incident) {
  const li = el("li");
  li.dataset.incident = incident.id;
  li.appendChild(el("time", "", clock(incident.at)));
  li.appendChild(el("span", "name warn", incident.reason));
  li.appendChild(el("span", "muted", `  ${incident.detail || ""} (was ${incident.state_before})`));
  if (incident.screenshot) {
    const link = el("button", "link-dark", "screenshot");
    link.addEventListener("click", async () => {
      try { window.open(await blobUrl(`incidents/${incident.id}/screenshot.png`), "_blank"); }
      catch (error) { notify(error.message, true); }
    });
    li.appendChild(link);
  }
  if (incident.console && incident.console.length) {
    const pre = el("pre", "console", incident.console.slice(-10).join("\n"));
    li.appendChild(pre);
  }
  return li;
}

// A timeline of the last hour: a tick per restart decision coloured by its reason, and a bar per
// recovery as tall as it took (up to a minute).
const REASON_COLOURS = {
  crash: "#b91c1c", heartbeat: "#c2410c", canary: "#7c3aed", activity: "#a16207",
  memory: "#0e7490", manual: "#2563eb", reload: "#4b5563",
};

function drawTimeline(svg, events, incidents) {
  const ns = "http://www.w3.org/2000/svg";
  const width = 600, height = 90, span = 3600e3, now = Date.now();
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const x = (iso) => width - ((now - Date.parse(iso)) / span) * width;
  const line = document.createElementNS(ns, "line");
  Object.entries({ x1: 0, x2: width, y1: height - 12, y2: height - 12, stroke: "#c5cad3" })
    .forEach(([k, v]) => line.setAttribute(k, v));
  svg.appendChild(line);
  const restarts = events.filter((e) => e.name === "restart_scheduled");
  const known = new Set(restarts.map((e) => e.incident));
  for (const incident of incidents) if (!known.has(incident.id)) {
    restarts.push({ at: incident.at, reason: incident.reason }); // older than the events kept
  }
  for (const e of restarts) {
    if (now - Date.parse(e.at) > span) continue;
    const tick = document.createElementNS(ns, "rect");
    Object.entries({ x: x(e.at) - 1.5, y: height - 20, width: 3, height: 16, class: "restart",
                     fill: REASON_COLOURS[e.reason] || "#6b7280" })
      .forEach(([k, v]) => tick.setAttribute(k, v));
    const title = document.createElementNS(ns, "title");
    title.textContent = `${clock(e.at)} restart: ${e.reason}`;
    tick.appendChild(title);
    svg.appendChild(tick);
  }
  for (const e of events.filter((e) => e.name === "child_recovered" && e.recovery_seconds)) {
    if (now - Date.parse(e.at) > span) continue;
    const tall = Math.min(60, e.recovery_seconds) / 60 * (height - 30);
    const bar = document.createElementNS(ns, "rect");
    Object.entries({ x: x(e.at) - 3, y: height - 22 - tall, width: 6, height: tall,
                     class: "recovery", fill: "#15803d" })
      .forEach(([k, v]) => bar.setAttribute(k, v));
    const title = document.createElementNS(ns, "title");
    title.textContent = `${clock(e.at)} recovered in ${e.recovery_seconds.toFixed(1)}s`;
    bar.appendChild(title);
    svg.appendChild(bar);
  }
  const label = document.createElementNS(ns, "text");
  Object.entries({ x: 0, y: height - 1, "font-size": 10, fill: "#6b7280" })
    .forEach(([k, v]) => label.setAttribute(k, v));
  label.textContent = "last hour: restarts (ticks, by reason) and recovery times (bars, up to 60 s)";
  svg.appendChild(label);
}
