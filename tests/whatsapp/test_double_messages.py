"""Messages on the double, seen from the page through window.require: an inbound message is
added once and acknowledged with a receipt, kept as history across restarts, and own messages
are added at once with ack 0 and acked by the server later."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers import wait_until
from tests.whatsapp.browser import Browser, connected, js, seen, wait_js
from tests.whatsapp.double import WhatsAppDouble
from tests.whatsapp.snippets import CHAT_MSGS_JS, SEND_TO_SELF_JS

pytestmark = pytest.mark.browser

Launch = Callable[..., Browser]
FRIEND = "15550100002@c.us"

def adds(page: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = seen(page)["adds"]
    return found


def test_an_inbound_message_is_added_as_new_and_acknowledged_once(
        double: WhatsAppDouble, launch: Launch) -> None:
    page = launch(double).open()
    connected(page)
    message_id = double.control.push(FRIEND, "hello")
    wait_js(page, "(id) => window.__seen.adds.some((m) => m.id === id)", message_id)
    [added] = adds(page)
    assert added["id"] == message_id and message_id.startswith(f"false_{FRIEND}_3EB0")
    assert added | {"id": None, "t": None} == {
        "id": None, "t": None, "body": "hello", "type": "chat", "ack": 0, "isNewMsg": True,
        "fromMe": False, "from": FRIEND, "to": double.wid}
    assert wait_until(lambda: double.control.state()["received"] == 1)
    assert js(page, CHAT_MSGS_JS, FRIEND) == [
        {"id": message_id, "body": "hello", "isNewMsg": True, "t": added["t"], "type": "chat"}]
    state = double.control.state()
    assert state["deliveries"] == {message_id: 1} and state["queued"] == 0


def test_a_received_message_is_never_pushed_again_to_that_browser(
        double: WhatsAppDouble, launch: Launch) -> None:
    browser = launch(double)
    page = browser.open()
    connected(page)
    message_id = double.control.push(FRIEND, "once")
    assert wait_until(lambda: double.control.state()["received"] == 1)
    double.control.disconnect()  # a network blip: the page reconnects
    wait_js(page, "() => window.__seen.states.includes('TIMEOUT')")
    connected(page)
    browser.reload(page)
    connected(page)
    second = browser.open()  # a new page on the same profile takes the session over
    connected(second)
    later = double.control.push(FRIEND, "after")
    wait_js(second, "(id) => window.__seen.adds.some((m) => m.id === id)", later)
    assert [m["id"] for m in adds(second) if m["isNewMsg"]] == [later]
    assert double.control.state()["deliveries"] == {message_id: 1, later: 1}
    history = js(second, CHAT_MSGS_JS, FRIEND)
    assert [(m["body"], m["isNewMsg"]) for m in history] == [("once", False), ("after", True)]


def test_history_survives_a_killed_browser_and_is_not_new(
        double: WhatsAppDouble, launch: Launch) -> None:
    browser = launch(double)
    page = browser.open()
    connected(page)
    ids = [double.control.push(FRIEND, f"m{n}") for n in range(3)]
    assert wait_until(lambda: double.control.state()["received"] == 3)
    browser.kill()
    page = browser.launch().open()
    history = wait_js(page, CHAT_MSGS_JS, FRIEND)
    assert [(m["id"], m["isNewMsg"]) for m in history] == [(i, False) for i in ids]
    connected(page)
    assert [m for m in adds(page) if m["isNewMsg"]] == []  # the server sent nothing again
    assert double.control.state()["deliveries"] == dict.fromkeys(ids, 1)


def test_messages_for_a_browser_that_is_away_arrive_when_it_connects(
        double: WhatsAppDouble, launch: Launch) -> None:
    browser = launch(double)
    connected(browser.open())
    browser.close()
    assert wait_until(lambda: double.control.state()["connections"] == 0)
    message_id = double.control.push(FRIEND, "while away")
    assert double.control.state()["queued"] == 1
    page = browser.launch().open()
    wait_js(page, "(id) => window.__seen.adds.some((m) => m.id === id && m.isNewMsg)", message_id)
    assert wait_until(lambda: double.control.state()["queued"] == 0)
    assert js(page, "() => window.require('WAWebOfflineHandler').OfflineMessageHandler"
                    ".getOfflineDeliveryProgress()") == 100


def test_an_own_message_is_added_with_ack_0_before_the_server_acks_1_then_2(
        make_double: Callable[..., WhatsAppDouble], launch: Launch) -> None:
    double = make_double(ack_delay=0.2)
    page = launch(double).open()
    connected(page)
    sent = js(page, SEND_TO_SELF_JS, "canary")
    assert sent["ackAtAdd"] == 0
    own = sent["id"]
    me = double.wid
    assert own.startswith(f"true_{me}_3EB0")
    [added] = [m for m in adds(page) if m["id"] == own]
    assert (added["ack"], added["isNewMsg"], added["fromMe"]) == (0, True, True)
    wait_js(page, "(id) => window.__seen.acks.filter((a) => a.id === id).length === 2", own)
    assert [a["ack"] for a in seen(page)["acks"]] == [1, 2]
    assert js(page, "() => window.__wardenLastSend") == {"messageSendResult": "OK"}
    assert double.control.state()["sent"] == [{"id": own, "to": me, "body": "canary", "ack": 2}]


def test_a_ciphertext_message_becomes_chat_through_change_type(
        double: WhatsAppDouble, launch: Launch) -> None:
    page = launch(double).open()
    connected(page)
    message_id = double.control.push(FRIEND, "secret", ciphertext=True)
    wait_js(page, "(id) => window.__seen.adds.some((m) => m.id === id)", message_id)
    [added] = adds(page)
    assert (added["type"], added["body"], added["isNewMsg"]) == ("ciphertext", "", True)
    double.control.decrypt(message_id)
    wait_js(page, "() => window.__seen.types.length === 1")
    [changed] = seen(page)["types"]
    assert (changed["id"], changed["type"], changed["body"]) == (message_id, "chat", "secret")


def test_a_ciphertext_message_can_resolve_by_itself_after_a_delay(
        double: WhatsAppDouble, launch: Launch) -> None:
    page = launch(double).open()
    connected(page)
    message_id = double.control.push(FRIEND, "later", ciphertext=True, decrypt_after=0.3)
    wait_js(page, "(id) => window.__seen.types.some((m) => m.id === id && m.body === 'later')",
            message_id)


def test_older_history_loads_page_by_page_with_load_earlier_msgs(
        make_double: Callable[..., WhatsAppDouble], launch: Launch) -> None:
    double = make_double(history_page=2)
    browser = launch(double)
    connected(browser.open())
    ids = [double.control.push(FRIEND, f"m{n}") for n in range(5)]
    assert wait_until(lambda: double.control.state()["received"] == 5)
    browser.close()
    page = browser.launch().open()
    assert [m["id"] for m in wait_js(page, CHAT_MSGS_JS, FRIEND)] == ids[3:]
    earlier = js(page, """async (chatId) => {
      const { Chat } = window.require('WAWebCollections');
      const chat = Chat.get(chatId);
      const pages = [];
      for (;;) {
        const loaded = await window.require('WAWebChatLoadMessages').loadEarlierMsgs({ chat });
        if (!loaded || !loaded.length) return pages;
        pages.push(loaded.map((m) => m.id._serialized));
      }
    }""", FRIEND)
    assert earlier == [ids[1:3], ids[:1]]
    assert [m["id"] for m in js(page, CHAT_MSGS_JS, FRIEND)] == ids
    assert all(not m["isNewMsg"] for m in adds(page))
