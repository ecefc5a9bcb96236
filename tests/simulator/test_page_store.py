"""The chat page's store in real Chromium: a receipt as each message enters it, never the same
message twice, history kept in the profile across reloads and a killed browser, bounded, and
messages for an absent profile waiting on the server."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Error, Playwright

from simulator import SimulatorServer
from tests.simulator.browser import ChatPage, Control, browser_process, launch, new_profile

pytestmark = pytest.mark.browser


def test_a_receipt_goes_out_as_a_message_enters_the_store_before_add_fires(
        profile: BrowserContext, sim: SimulatorServer, sid: str) -> None:
    control = Control(sim.url, sid)
    page = ChatPage(profile.new_page(), f"{sim.url}/chat/{sid}").open()
    message_id = control.push("hello")
    added = page.added(message_id)
    assert {k: added[k] for k in ("from", "body", "self", "isNewMsg")} == {
        "from": "alice", "body": "hello", "self": False, "isNewMsg": True}
    order = [(kind, p["id"]) for kind, p in page.seen() if kind in ("add", "sent")]
    assert order == [("sent", message_id), ("add", message_id)]
    assert page.seen("sent") == [{"type": "receipt", "id": message_id}]
    state = control.wait(lambda s: s["received"] == 1)
    assert (state["queued"], state["delivered"]) == (0, 1)


def test_a_confirmed_message_is_never_sent_again_after_reconnect_reload_or_new_tab(
        profile: BrowserContext, sim: SimulatorServer, sid: str) -> None:
    control = Control(sim.url, sid)
    page = ChatPage(profile.new_page(), f"{sim.url}/chat/{sid}").open()
    first = control.push("one")
    page.added(first)
    control.wait(lambda s: s["received"] == 1)

    control.post("disconnect")  # a network blip: the page reconnects by itself
    control.wait(lambda s: s["connections_total"] == 2 and s["connections"] == 1)
    page.until("window.ChatStore.state === 'connected'")
    second = control.push("two")
    page.added(second)
    assert [m["id"] for m in page.seen("add")] == [first, second]

    page.open()  # a reload: the history comes from the profile, marked as not new
    assert [(m["id"], m["isNewMsg"]) for m in page.seen("add")] == [(first, False),
                                                                   (second, False)]
    page.page.close()
    tab = ChatPage(profile.new_page(), f"{sim.url}/chat/{sid}").open()
    third = tab.added(control.push("three"))
    assert [(m["id"], m["isNewMsg"]) for m in tab.seen("add")] == [
        (first, False), (second, False), (third["id"], True)]
    assert [m["id"] for m in tab.js("window.ChatStore.messages()")] == [first, second,
                                                                       third["id"]]
    state = control.wait(lambda s: s["received"] == 3)
    assert (state["delivered"], state["connections_total"], state["devices"]) == (3, 4, 1)


def test_history_survives_a_killed_browser_and_comes_back_as_not_new(
        pw: Playwright, tmp_path: Path, sim: SimulatorServer, sid: str) -> None:
    control = Control(sim.url, sid)
    url = f"{sim.url}/chat/{sid}"
    context = launch(pw, tmp_path)
    try:
        page = ChatPage(context.new_page(), url).open()
        kept = [control.push("before the crash"), control.push("also before")]
        for message_id in kept:
            page.added(message_id)
        control.wait(lambda s: s["received"] == 2)  # receipts follow the write to the profile
        main = browser_process(tmp_path)
        main.kill()
        main.wait(10)
    finally:
        with contextlib.suppress(Error):
            context.close()
    context = launch(pw, tmp_path)
    try:
        page = ChatPage(context.new_page(), url).open()
        history = page.seen("add")
        assert [(m["id"], m["body"], m["isNewMsg"]) for m in history] == [
            (kept[0], "before the crash", False), (kept[1], "also before", False)]
        assert page.seen()[-1] == ["state", "connected"]  # history first, then the server
        after = page.added(control.push("after the crash"))
        assert after["isNewMsg"] is True
        state = control.state()
        assert (state["devices"], state["delivered"]) == (1, 3)  # the same device, no resend
        assert [m["isNewMsg"] for m in page.js("window.ChatStore.messages()")] == [
            False, False, True]
    finally:
        context.close()


def test_the_history_keeps_only_the_newest_messages(browser: Browser, sim: SimulatorServer,
                                                    sid: str) -> None:
    control = Control(sim.url, sid)
    context = new_profile(browser)
    try:
        context.add_init_script("window.ChatStoreOptions = {maxKept: 3};")
        page = ChatPage(context.new_page(), f"{sim.url}/chat/{sid}").open()
        pushed = [control.push(f"m{n}") for n in range(5)]
        page.added(pushed[-1])
        assert [m["id"] for m in page.js("window.ChatStore.messages()")] == pushed[2:]
        page.open()
        assert [(m["id"], m["isNewMsg"]) for m in page.seen("add")] == [
            (message_id, False) for message_id in pushed[2:]]
    finally:
        context.close()


def test_messages_for_a_profile_that_is_away_wait_and_arrive_when_it_connects(
        browser: Browser, profile: BrowserContext, sim: SimulatorServer, sid: str) -> None:
    control = Control(sim.url, sid)
    url = f"{sim.url}/chat/{sid}"
    here = ChatPage(profile.new_page(), url).open()
    other = new_profile(browser)
    try:
        away = other.new_page()
        ChatPage(away, url).open()
        away.close()
        control.wait(lambda s: s["connections"] == 1 and s["devices"] == 2)
        message_id = control.push("while you were away")
        here.added(message_id)
        assert control.wait(lambda s: s["received"] == 1)["queued"] == 1
        back = ChatPage(other.new_page(), url).open()
        assert back.added(message_id)["isNewMsg"] is True
        control.wait(lambda s: s["received"] == 2 and s["queued"] == 0)
    finally:
        other.close()


def test_a_hook_installed_when_the_document_is_parsed_sees_the_history_too(
        profile: BrowserContext, sim: SimulatorServer, sid: str) -> None:
    control = Control(sim.url, sid)
    page = ChatPage(profile.new_page(), f"{sim.url}/chat/{sid}").open()
    message_id = page.added(control.push("kept"))["id"]
    profile.add_init_script("""
      window.late = [];
      document.addEventListener("DOMContentLoaded", () => {
        window.ChatStore.on("add", (m) => window.late.push([m.id, m.isNewMsg]));
      });
    """)
    page.open()
    assert page.js("window.late") == [[message_id, False]]
