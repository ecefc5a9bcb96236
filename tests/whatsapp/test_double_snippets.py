"""The adapter's snippets (`tests.whatsapp.snippets`) against the double, as an adapter uses
them: hooks from an init script reporting through a binding, on every page load."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from playwright.async_api import BrowserContext

from tests.helpers import wait_until
from tests.whatsapp.browser import Browser, connected, js, run, wait_js
from tests.whatsapp.double import WhatsAppDouble
from tests.whatsapp.snippets import (
    HOOKS_INIT,
    LOADER_READY_JS,
    MESSAGES_SINCE_JS,
    QR_TEXT_JS,
    SEND_TO_SELF_JS,
    SINK,
    SOCKET_STATE_JS,
)

pytestmark = pytest.mark.browser

Launch = Callable[..., Browser]
FRIEND = "15550100002@c.us"


class Events:
    """What the hooks reported through the binding (called on the driver's loop thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[tuple[str, Any]] = []

    def record(self, _source: Any, kind: str, data: Any) -> None:
        with self._lock:
            self._events.append((kind, data))

    def of(self, kind: str) -> list[Any]:
        with self._lock:
            return [data for k, data in self._events if k == kind]


def hooked(browser: Browser) -> Events:
    events = Events()
    context: BrowserContext | None = browser.context
    assert context is not None
    run(context.expose_binding(SINK, events.record))
    run(context.add_init_script(HOOKS_INIT))
    return events


def test_the_hooks_report_new_messages_acks_and_states_on_every_load(
        double: WhatsAppDouble, launch: Launch) -> None:
    browser = launch(double)
    events = hooked(browser)
    page = browser.page()
    run(page.goto(double.url))
    wait_js(page, LOADER_READY_JS)
    assert wait_until(lambda: "CONNECTED" in events.of("state"))
    assert js(page, QR_TEXT_JS) is None  # logged in: no ref
    first = double.control.push(FRIEND, "one")
    assert wait_until(lambda: [m["id"] for m in events.of("message")] == [first])
    own = js(page, SEND_TO_SELF_JS, "canary")["id"]
    assert wait_until(lambda: [a["ack"] for a in events.of("ack") if a["id"] == own] == [1, 2])
    assert own in [m["id"] for m in events.of("message")]  # message_create: own messages too
    run(page.reload())
    wait_js(page, LOADER_READY_JS)
    assert wait_until(lambda: events.of("state").count("CONNECTED") == 2)
    second = double.control.push(FRIEND, "two", ciphertext=True, decrypt_after=0.2)
    assert wait_until(lambda: second in [m["id"] for m in events.of("message")])
    [readable] = [m for m in events.of("message") if m["id"] == second]
    assert (readable["type"], readable["body"]) == ("chat", "two")
    assert [m["id"] for m in events.of("message") if not m["fromMe"]] == [first, second]


def test_messages_since_reads_loaded_chats_and_loads_earlier_history(
        make_double: Callable[..., WhatsAppDouble], launch: Launch) -> None:
    clock = [1_700_000_000.0]
    double = make_double(history_page=2, wall=lambda: clock[0])
    browser = launch(double)
    connected(browser.open())
    ids = []
    for n in range(5):
        clock[0] += 10
        ids.append(double.control.push(FRIEND, f"m{n}"))
    assert wait_until(lambda: double.control.state()["received"] == 5)
    browser.close()
    page = browser.launch().open()
    connected(page)
    since = int(clock[0]) - 20  # the last three messages: only one is loaded at start
    found = js(page, MESSAGES_SINCE_JS, since)
    assert [m["id"] for m in found] == ids[2:]  # loaded: m3, m4; then m1, m2 (m2 is at since)
    assert [m["t"] for m in found] == [since, since + 10, since + 20]
    assert js(page, SOCKET_STATE_JS) == "CONNECTED"


def test_the_qr_text_snippet_follows_conn_ref_on_the_login_screen(
        make_double: Callable[..., WhatsAppDouble], launch: Launch) -> None:
    double = make_double(auto_link=False, qr_interval=0.3)
    browser = launch(double)
    events = hooked(browser)
    page = browser.open()
    assert wait_until(lambda: len(events.of("qr_ref")) >= 2)
    text = js(page, QR_TEXT_JS)
    assert text.split(",")[0] == js(page, "() => window.require('WAWebConnModel').Conn.ref")
    assert text.split(",")[1:] == double.control.state()["qr"].split(",")[1:]  # same keys
    double.control.login()
    connected(page)
