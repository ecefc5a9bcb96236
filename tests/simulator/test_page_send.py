"""Sends from the chat page in real Chromium: the store has the message at once with ack 0, the
server's acks come later, other profiles of the account receive it, and a silent connection
neither delivers nor acknowledges anything until the page connects again."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, BrowserContext, WebSocketRoute

from simulator import SimulatorServer
from tests.simulator.browser import ChatPage, Control, new_profile

pytestmark = pytest.mark.browser

SEND = """(() => {
  const before = window.seen.length;
  const id = window.ChatStore.send("note to self");
  return {id, during: window.seen.slice(before)};
})()"""


def test_a_send_is_in_the_store_at_once_with_ack_0_and_the_servers_acks_follow(
        profile: BrowserContext, sim: SimulatorServer, sid: str) -> None:
    page = ChatPage(profile.new_page(), f"{sim.url}/chat/{sid}").open()
    sent = page.js(SEND)
    message_id = sent["id"]
    # Within send(), before the page returned to its event loop, so before any answer:
    assert sent["during"][0] == ["add", {
        "id": message_id, "from": "me", "body": "note to self",
        "timestamp": sent["during"][0][1]["timestamp"], "self": True, "isNewMsg": True, "ack": 0}]
    assert [kind for kind, _ in sent["during"]] == ["add", "sent"]
    page.until("window.seen.filter(([k]) => k === 'ack').length === 2")
    assert page.seen("ack") == [{"id": message_id, "ack": 1}, {"id": message_id, "ack": 2}]
    assert page.js("window.ChatStore.messages()")[-1]["ack"] == 2
    state = Control(sim.url, sid).state()
    assert (state["sent"], state["acks_sent"]) == (1, 2)


def test_a_send_reaches_the_accounts_other_profiles_as_an_inbound_self_message(
        browser: Browser, profile: BrowserContext, sim: SimulatorServer, sid: str) -> None:
    url = f"{sim.url}/chat/{sid}"
    sender = ChatPage(profile.new_page(), url).open()
    other = new_profile(browser)
    try:
        receiver = ChatPage(other.new_page(), url).open()
        message_id = sender.js(SEND)["id"]
        got = receiver.added(message_id)
        assert {k: got[k] for k in ("from", "body", "self", "isNewMsg")} == {
            "from": "me", "body": "note to self", "self": True, "isNewMsg": True}
        assert receiver.seen("sent") == [{"type": "receipt", "id": message_id}]
        assert sender.seen("add") == [sender.seen("add")[0]]  # the sender has it once
    finally:
        other.close()


def test_a_send_made_while_disconnected_goes_out_when_the_page_connects(
        profile: BrowserContext, sim: SimulatorServer, sid: str) -> None:
    control = Control(sim.url, sid)
    page = ChatPage(profile.new_page(), f"{sim.url}/chat/{sid}").open()
    offline = True

    def network(ws: WebSocketRoute) -> None:
        if offline:
            ws.close()
        else:
            ws.connect_to_server()

    page.page.route_web_socket(lambda url: "/ws" in url, network)
    control.post("disconnect")
    page.until("window.ChatStore.state === 'connecting'")
    sent = page.js(SEND)
    assert [kind for kind, _ in sent["during"]] == ["add"]  # nowhere to send it yet
    assert control.state()["sent"] == 0
    offline = False
    page.until("window.seen.filter(([k]) => k === 'ack').length === 2")
    assert page.seen("ack") == [{"id": sent["id"], "ack": 1}, {"id": sent["id"], "ack": 2}]


def test_a_silent_connection_gives_no_messages_and_no_acks_until_the_page_reconnects(
        profile: BrowserContext, sim: SimulatorServer, sid: str) -> None:
    control = Control(sim.url, sid)
    page = ChatPage(profile.new_page(), f"{sim.url}/chat/{sid}").open()
    control.post("fault", {"mode": "silent"})
    missed = control.push("into the void")
    unacked = page.js(SEND)["id"]
    state = control.wait(lambda s: s["unheard"] == 1)  # the server had the send and dropped it
    assert (state["connections"], state["fault"], state["delivered"], state["queued"]) == (
        1, "silent", 0, 1)
    assert page.js("window.ChatStore.state") == "connected"  # looks fine from inside
    assert [m["id"] for m in page.seen("add")] == [unacked] and page.seen("ack") == []

    control.post("disconnect")  # a reconnect is healthy again
    page.added(missed)
    page.until("window.seen.filter(([k]) => k === 'ack').length === 2")
    assert page.seen("ack") == [{"id": unacked, "ack": 1}, {"id": unacked, "ack": 2}]
    state = control.wait(lambda s: s["received"] == 1)
    assert (state["fault"], state["queued"], state["sent"]) == ("none", 0, 1)


def test_a_sticky_silent_fault_stays_on_every_new_connection(
        profile: BrowserContext, sim: SimulatorServer, sid: str) -> None:
    control = Control(sim.url, sid)
    page = ChatPage(profile.new_page(), f"{sim.url}/chat/{sid}").open()
    control.post("fault", {"mode": "silent", "sticky": True})
    control.post("disconnect")
    control.wait(lambda s: s["connections_total"] == 2 and s["connections"] == 1)
    page.until("window.ChatStore.state === 'connected'")
    control.push("still nothing")
    page.js(SEND)
    control.wait(lambda s: s["unheard"] == 1)
    assert page.seen("ack") == [] and len(page.seen("add")) == 1
    control.post("fault", {"mode": "none"})
    page.until("window.seen.filter(([k]) => k === 'add').length === 2")
    page.until("window.seen.filter(([k]) => k === 'ack').length === 2")
