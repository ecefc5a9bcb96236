"""Faults on the double, seen from the page: a deaf socket stays CONNECTED and delivers
nothing (no messages, no acks) until a reconnect; a hung page answers nothing; the module
loader appears only after the bundle's load delay, and never on a `no_loader` load."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from playwright.async_api import Error

from tests.helpers import wait_until
from tests.whatsapp.browser import Browser, connected, js, run, seen, wait_js
from tests.whatsapp.control import ControlError
from tests.whatsapp.double import WhatsAppDouble
from tests.whatsapp.snippets import SEND_TO_SELF_JS

pytestmark = pytest.mark.browser

Launch = Callable[..., Browser]
FRIEND = "15550100002@c.us"


def test_a_deaf_socket_stays_connected_and_delivers_nothing_until_a_reconnect(
        double: WhatsAppDouble, launch: Launch) -> None:
    page = launch(double).open()
    connected(page)
    double.control.fault("deaf")
    message_id = double.control.push(FRIEND, "unheard")
    own = js(page, SEND_TO_SELF_JS, "canary")["id"]
    assert js(page, "() => window.require('WAWebSocketModel').Socket.state") == "CONNECTED"
    state = double.control.disconnect()  # the server read the page's frames before closing
    assert state["sent"] == [] and state["deliveries"] == {} and state["queued"] == 1
    assert seen(page)["acks"] == [] and [m["id"] for m in seen(page)["adds"]] == [own]
    assert seen(page)["states"][-1] == "CONNECTED" or "TIMEOUT" in seen(page)["states"]
    wait_js(page, "(id) => window.__seen.adds.some((m) => m.id === id && m.isNewMsg)", message_id)
    wait_js(page, "(id) => window.__seen.acks.some((a) => a.id === id && a.ack === 2)", own)
    assert double.control.state()["deliveries"] == {message_id: 1}


def test_a_sticky_deaf_fault_survives_reconnects_and_none_flushes_what_waited(
        double: WhatsAppDouble, launch: Launch) -> None:
    page = launch(double).open()
    connected(page)
    double.control.fault("deaf", sticky=True)
    message_id = double.control.push(FRIEND, "unheard")
    double.control.disconnect()
    wait_js(page, "() => window.__seen.states.includes('TIMEOUT')")
    connected(page)
    assert wait_until(lambda: double.control.state()["connections"] == 1)
    assert double.control.state()["deliveries"] == {}
    assert double.control.fault("none")["fault"] == "none"
    wait_js(page, "(id) => window.__seen.adds.some((m) => m.id === id && m.isNewMsg)", message_id)


def test_a_hung_page_busy_loops(double: WhatsAppDouble, launch: Launch) -> None:
    page = launch(double).open()
    connected(page)
    double.control.fault("hang")
    assert wait_until(lambda: double.control.state()["faults_applied"].get("hang") == 1)
    started = time.monotonic()
    with pytest.raises((TimeoutError, Error)):
        js(page, "() => 1", timeout=2.0)
    assert time.monotonic() - started >= 2.0


def test_the_loader_appears_only_after_the_load_delay(
        make_double: Callable[..., WhatsAppDouble], launch: Launch) -> None:
    double = make_double(load_delay=1.0)
    page = launch(double).page()
    run(page.goto(double.url))
    assert js(page, "() => typeof window.require") == "undefined"
    appeared = wait_js(page, "() => typeof window.require === 'function' && performance.now()")
    assert appeared >= 1000
    assert js(page, "() => window.Debug.VERSION").startswith("2.3000.")
    error = js(page, """() => {
      try { window.require('WAWebNoSuchModule'); return null; } catch (e) { return String(e); }
    }""")
    assert "WAWebNoSuchModule" in error


def test_no_loader_hides_the_modules_while_the_app_still_takes_messages(
        double: WhatsAppDouble, launch: Launch) -> None:
    browser = launch(double)
    double.control.fault("no_loader")
    page = browser.page()
    run(page.goto(double.url))
    assert wait_until(lambda: double.control.state()["state"] == "CONNECTED")
    message_id = double.control.push(FRIEND, "nobody hooked this")
    assert wait_until(lambda: double.control.state()["received"] == 1)  # the app took it
    assert js(page, "() => [typeof window.require, window.Debug.VERSION.length > 0]") == [
        "undefined", True]
    browser.open(page)  # one-shot: the next load has the loader again
    history = wait_js(page, """(id) => {
      const msg = window.require('WAWebCollections').Msg.get(id);
      return msg && { isNewMsg: msg.isNewMsg, body: msg.body };
    }""", message_id)
    assert history == {"isNewMsg": False, "body": "nobody hooked this"}


def test_a_sticky_no_loader_lasts_until_cleared(double: WhatsAppDouble, launch: Launch) -> None:
    browser = launch(double)
    double.control.fault("no_loader", sticky=True)
    page = browser.page()
    for _ in range(2):
        before = double.control.state()["connections_total"]
        run(page.goto(double.url))

        def connected_again(before: int = before) -> bool:
            state = double.control.state()
            return bool(state["connections_total"] > before and state["state"] == "CONNECTED")

        assert wait_until(connected_again)
        assert js(page, "() => typeof window.require") == "undefined"
    double.control.fault("none")
    browser.open(page)  # waits for window.require


def test_the_control_api_refuses_what_it_cannot_do(double: WhatsAppDouble) -> None:
    calls: list[tuple[Callable[[], object], int]] = [
        (lambda: double.control.fault("melt"), 400),
        (lambda: double.control.scan("2@nothing,a,b,c,WEB"), 409),
        (lambda: double.control.pair("ABCDEFGH"), 409),
        (lambda: double.control.decrypt("false_x@c.us_1"), 404),
        (lambda: double.control.push("not-a-wid", "x"), 400),
        (lambda: double.control.socket_state("CONNECTED"), 400),
    ]
    for call, status in calls:
        with pytest.raises(ControlError) as refused:
            call()
        assert refused.value.status == status
