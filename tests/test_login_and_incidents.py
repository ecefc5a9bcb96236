"""Remote login and incidents against `warden run`, the simulator in it, real Chromium and HTTP:
the QR code a logged-out page shows is served (PNG that decodes to it, or JSON) and `warden
login` draws it until a scan logs the session in; a screenshot of the page now, or a 503 in time
for a hung one; an incident for every restart, kept on disk and served, never outside its folder.
"""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from playwright.sync_api import expect, sync_playwright

from tests.simulator.png import grey
from tests.test_run import Run, poll

pytestmark = pytest.mark.browser

WARDEN = str(Path(sys.executable).with_name("warden"))
DASHBOARD_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


def http(method: str, url: str, body: Any = None) -> tuple[int, str, bytes]:
    """Status, content type and body of one request (errors are answers too)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.headers.get_content_type(), answer.read()
    except urllib.error.HTTPError as answer:
        return answer.code, answer.headers.get_content_type(), answer.read()


def get_json(url: str) -> Any:
    status, _, body = http("GET", url)
    assert status == 200, (status, body)
    return json.loads(body)


def decode(png: bytes) -> list[str]:
    return [code.text for code in zxingcpp.read_barcodes(grey(png))
            if code.format == zxingcpp.BarcodeFormat.QRCode]


HALF_BLOCKS = set("▀▄█ ")
# Each character is two modules, top and bottom; a full block is light on both (the border).
LIGHT = {"█": (True, True), "▀": (True, False), "▄": (False, True), " ": (False, False)}


def from_half_blocks(lines: list[str], scale: int = 4) -> list[str]:
    """Decode a QR code drawn in half blocks, as a phone would scan the terminal."""
    rows = []
    for line in lines:
        for half in (0, 1):
            rows.append([255 if LIGHT[c][half] else 0 for c in line])
    width = max(len(r) for r in rows)
    pixels = bytearray()
    for r in rows:
        wide = [v for v in r + [255] * (width - len(r)) for _ in range(scale)]
        pixels += bytes(wide) * scale
    image = memoryview(bytes(pixels)).cast("B", (len(rows) * scale, width * scale))
    return [code.text for code in zxingcpp.read_barcodes(image)
            if code.format == zxingcpp.BarcodeFormat.QRCode]


@pytest.fixture
def warden(tmp_path: Path) -> Iterator[Run]:
    run = Run(tmp_path, sessions=2)
    try:
        poll(lambda: all(s["state"] == "healthy"
                         for s in get_json(run.url + "/sessions")["sessions"]), 90,
             "both sessions healthy")
        yield run
    finally:
        run.close()


def sim(run: Run, path: str, body: Any = None) -> Any:
    status, _, answer = http("POST" if body is not None else "GET",
                             f"http://127.0.0.1:{run.sim}{path}", body)
    assert status == 200, (status, answer)
    return json.loads(answer)


def logged_out(run: Run, session: str) -> str:
    """Log `session` out at the app; the QR payload its page shows."""
    sim(run, f"/sim/{session}/fault", {"mode": "logout"})
    poll(lambda: http("GET", f"{run.url}/sessions/{session}/qr?format=json")[0] == 200, 30,
         "the QR code to be served")
    return str(sim(run, f"/sim/{session}")["qr"])


def test_a_logged_out_session_serves_the_qr_code_its_page_shows_and_a_scan_logs_it_in(
        warden: Run) -> None:
    payload = logged_out(warden, "acct-1")
    code = get_json(f"{warden.url}/sessions/acct-1/qr?format=json")
    assert code["qr"] == payload and code["expires_at"].endswith("Z")
    status, kind, png = http("GET", f"{warden.url}/sessions/acct-1/qr")
    assert (status, kind) == (200, "image/png") and decode(png) == [payload]
    assert http("GET", f"{warden.url}/sessions/acct-2/qr")[0] == 409  # healthy: no login
    assert http("GET", f"{warden.url}/sessions/nope/qr")[0] == 404
    assert http("GET", f"{warden.url}/sessions/acct-1/qr?format=gif")[0] == 400
    assert http("POST", f"{warden.url}/sessions/acct-1/pairing-code", {"phone": "12"})[0] == 400
    assert http("POST", f"{warden.url}/sessions/acct-1/pairing-code",
                {"phone": "+4915112345678"})[0] == 501  # the simulator has no pairing code
    sim(warden, "/sim/acct-1/scan", {"qr": payload})
    poll(lambda: get_json(f"{warden.url}/sessions/acct-1")["state"] == "healthy", 30,
         "the scanned session to be healthy")
    assert http("GET", f"{warden.url}/sessions/acct-1/qr")[0] == 409


def test_warden_login_draws_the_code_and_exits_0_once_scanned(warden: Run) -> None:
    payload = logged_out(warden, "acct-1")
    login = subprocess.Popen([WARDEN, "login", "acct-1", "--url", warden.url],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert login.stdout is not None
        drawn = []
        while (line := login.stdout.readline().rstrip("\n")) and set(line) <= HALF_BLOCKS:
            drawn.append(line)
        assert from_half_blocks(drawn) == [payload]  # the terminal's code scans as the page's
        sim(warden, "/sim/acct-1/scan", {"qr": payload})
        out, err = login.communicate(timeout=60)
    finally:
        if login.poll() is None:
            login.kill()
            login.communicate()
    assert login.returncode == 0, err
    assert "acct-1: logged in" in out
    refused = subprocess.run([WARDEN, "login", "acct-2", "--url", warden.url],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1
    assert "not waiting for a login (state: healthy)" in refused.stderr


def test_a_screenshot_is_the_page_now_and_a_hung_page_answers_503_without_slowing_others(
        warden: Run) -> None:
    status, kind, png = http("GET", f"{warden.url}/sessions/acct-2/screenshot")
    assert (status, kind) == (200, "image/png") and png.startswith(b"\x89PNG\r\n\x1a\n")
    sim(warden, "/sim/acct-2/fault", {"mode": "hang"})
    poll(lambda: sim(warden, "/sim/acct-2")["faults_applied"]["hang"] == 1, 20, "the hang")
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        shot = pool.submit(http, "GET", f"{warden.url}/sessions/acct-2/screenshot")
        others: list[bool] = []
        while not shot.done():  # the other routes answer all the while
            others.append(http("GET", warden.url + "/sessions")[0] == 200)
        status, kind, body = shot.result()
    assert (status, kind) == (503, "application/json") and b"did not answer" in body
    assert others and all(others)


def incident_of(run: Run, session: str, reason: str) -> dict[str, Any]:
    def found() -> Any:
        return [i for i in get_json(f"{run.url}/sessions/{session}/incidents")["incidents"]
                if i["reason"] == reason]

    return dict(poll(found, 60, f"the incident of the {reason} restart")[0])


def test_every_restart_leaves_an_incident_served_and_kept_in_its_folder(warden: Run) -> None:
    poll(lambda: get_json(f"{warden.url}/sessions/acct-1")["state"] == "healthy", 60, "healthy")
    assert http("POST", f"{warden.url}/sessions/acct-1/restart")[0] == 202
    manual = incident_of(warden, "acct-1", "manual")
    assert (manual["reason"], manual["screenshot"], manual["state_before"]) == (
        "manual", True, "healthy")
    assert manual["process"]["pids"] and manual["process"]["rss_anon_bytes"] > 0
    assert any(e["name"] == "child_started" for e in manual["events"])
    assert get_json(f"{warden.url}/incidents/{manual['id']}") == manual
    status, kind, png = http("GET", f"{warden.url}/incidents/{manual['id']}/screenshot.png")
    assert (status, kind) == (200, "image/png") and png.startswith(b"\x89PNG")
    sim(warden, "/sim/acct-2/fault", {"mode": "hang"})
    hung = incident_of(warden, "acct-2", "heartbeat")
    assert hung["screenshot"] is False
    assert hung["capture_seconds"] <= 2.5  # never holds the restart back for long
    restarting = [e for e in get_json(f"{warden.url}/demo/webhook/events?limit=100")["events"]
                  if e["type"] == "session.restarting"]
    assert {e["data"]["incident"] for e in restarting} >= {manual["id"], hung["id"]}
    for bad, expected in (("inc_0000000000000000", 404), ("../../etc/passwd", 404),
                          ("inc_..%2F..%2Fetc", 400), ("x", 400)):
        assert http("GET", f"{warden.url}/incidents/{bad}")[0] == expected, bad
    assert http("GET", f"{warden.url}/incidents/inc_0000000000000000/screenshot.png")[0] == 404



def test_the_dashboard_shows_the_login_code_and_a_session_s_screenshot_and_incidents(
        warden: Run) -> None:
    payload = logged_out(warden, "acct-1")
    assert http("POST", f"{warden.url}/sessions/acct-2/restart")[0] == 202
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                             args=DASHBOARD_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.set_default_timeout(30_000)
            page.goto(warden.url + "/")
            card = page.locator('.qr-card[data-session="acct-1"] img')
            expect(card).to_have_attribute("data-payload", payload)
            page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                                   arg=card.element_handle())
            assert decode(card.screenshot()) == [payload]  # the code on the dashboard scans
            sim(warden, "/sim/acct-1/scan", {"qr": payload})
            expect(page.locator('tr[data-session="acct-1"] .state')).to_have_text("healthy")
            expect(page.locator("#logins")).to_be_hidden()
            page.locator('tr[data-session="acct-2"] .session-link').click()
            expect(page.locator("#detail-title")).to_have_text("acct-2")
            page.wait_for_function("() => { const i = document.getElementById('detail-shot');"
                                   " return i.complete && i.naturalWidth > 0; }")
            expect(page.locator("#detail-incidents li[data-incident]")).to_have_count(1)
            expect(page.locator("#detail-incidents li[data-incident] .name")).to_have_text(
                "manual")
            expect(page.locator("#detail-chart rect.restart")).to_have_count(1)
            expect(page.locator("#detail-events li")).not_to_have_count(0)
        finally:
            browser.close()
