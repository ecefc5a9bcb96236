"""Logout in real Chromium: the page shows a real QR code of the payload the simulator reports,
a new one every interval, and only a scan of the one shown now logs the account in."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import zxingcpp
from playwright.sync_api import BrowserContext

from simulator import SimulatorServer, create_app
from tests.simulator.browser import ChatPage, Control
from tests.simulator.clock import FakeWall
from tests.simulator.png import grey

pytestmark = pytest.mark.browser

WALL = FakeWall(1_800_000_000.0)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    """A simulator on a clock the tests move by hand: a code expires only when they say so."""
    with SimulatorServer(app_factory=lambda: create_app(WALL)) as server:
        yield server


def decoded(page: ChatPage, payload: str) -> list[str]:
    """The texts of the QR codes in a screenshot of the login code, once it shows `payload`."""
    page.until(f"(() => {{ const img = document.getElementById('qr');"
               f" return img.dataset.ref === {json.dumps(payload)} && img.complete"
               f" && img.naturalWidth > 0; }})()")
    shot = page.page.locator("#qr").screenshot()
    return [code.text for code in zxingcpp.read_barcodes(grey(shot))
            if code.format == zxingcpp.BarcodeFormat.QRCode]


def test_logout_shows_a_qr_code_of_the_payload_the_simulator_reports(
        profile: BrowserContext, sim: SimulatorServer, sid: str) -> None:
    control = Control(sim.url, sid)
    page = ChatPage(profile.new_page(), f"{sim.url}/chat/{sid}").open()
    control.post("fault", {"mode": "logout"})
    page.until("window.ChatStore.state === 'auth_required' && window.ChatStore.qr !== null")
    state = control.state()
    assert page.js("window.ChatStore.qr") == {"payload": state["qr"],
                                              "expires_at": state["qr_expires_at"]}
    assert page.page.locator("#login").is_visible() and not page.page.locator("#chat").is_visible()
    assert page.js("document.getElementById('qr').dataset.ref") == state["qr"]
    assert float(page.js("document.getElementById('qr').dataset.expiresAt")) == state[
        "qr_expires_at"]
    assert decoded(page, state["qr"]) == [state["qr"]]
    assert state["qr"].startswith("2@") and len(state["qr"].split(",")) == 5


def test_the_code_moves_on_each_interval_and_only_the_current_one_logs_in(
        profile: BrowserContext, sim: SimulatorServer, sid: str) -> None:
    control = Control(sim.url, sid)
    page = ChatPage(profile.new_page(), f"{sim.url}/chat/{sid}").open()
    first = control.post("fault", {"mode": "logout"})["qr"]
    page.until(f"window.ChatStore.qr && window.ChatStore.qr.payload === {json.dumps(first)}")
    waiting = control.push("sent while logged out")
    WALL.advance(20.0)
    second = control.state()["qr"]
    assert second != first
    assert decoded(page, second) == [second]
    assert [q["payload"] for q in page.seen("qr")] == [first, second]

    stale = control.post("scan", {"qr": first}, status=409)
    assert "expired" in stale["error"]
    wrong = control.post("scan", {"qr": "2@AAAA,b,c,d,WEB"}, status=409)
    assert "not a QR code" in wrong["error"]
    assert page.js("window.ChatStore.state") == "auth_required"

    answer = control.post("scan", {"qr": second})
    assert (answer["logged_in"], answer["qr"]) == (True, None)
    page.until("window.ChatStore.state === 'connected'")
    assert page.js("window.ChatStore.qr") is None
    assert page.page.locator("#chat").is_visible()
    assert page.added(waiting)["isNewMsg"] is True
    control.post("scan", {"qr": second}, status=409)  # nothing to scan once logged in


def test_logout_lasts_across_reloads_until_the_login_shortcut(
        profile: BrowserContext, sim: SimulatorServer, sid: str) -> None:
    control = Control(sim.url, sid)
    page = ChatPage(profile.new_page(), f"{sim.url}/chat/{sid}").open()
    control.post("fault", {"mode": "logout"})
    page.open("auth_required").until("window.ChatStore.qr !== null")
    control.post("login")
    page.until("window.ChatStore.state === 'connected' && window.ChatStore.qr === null")


def test_on_the_real_clock_the_page_shows_each_new_code_by_itself(
        profile: BrowserContext, sid: str) -> None:
    with SimulatorServer(app_factory=lambda: create_app(qr_interval=0.3)) as fast:
        page = ChatPage(profile.new_page(), f"{fast.url}/chat/{sid}").open()
        Control(fast.url, sid).post("fault", {"mode": "logout"})
        page.until("new Set(window.seen.filter(([k, q]) => k === 'qr' && q)"
                   ".map(([, q]) => q.payload)).size >= 3")
        codes = [q for q in page.seen("qr") if q]
        # Whole intervals apart: one, unless a loaded machine delayed the timer past the next.
        steps = (codes[1]["expires_at"] - codes[0]["expires_at"]) / 0.3
        assert round(steps) >= 1 and steps == pytest.approx(round(steps))
        page.page.close()
