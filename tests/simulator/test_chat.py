"""ChatSession without sockets: devices and their queues, receipts, sends, acks, faults, login."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from simulator.chat import ChatSession, Link, Send
from simulator.fault import FaultMode, LeakRate
from simulator.login import ScanOutcome
from tests.simulator.clock import FakeWall


@pytest.fixture
def wall() -> FakeWall:
    return FakeWall(1_800_000_000.0)


@pytest.fixture
def chat(wall: FakeWall) -> ChatSession:
    ids = (f"m{n}" for n in itertools.count(1))
    return ChatSession("acct-1", wall=wall, new_id=lambda: next(ids),
                       leak=LeakRate(bytes_per_second=1000, cap_bytes=5000), qr_interval=20.0)


def frames(sends: list[Send], link: Link | None = None) -> list[dict[str, Any]]:
    return [dict(s.frame) for s in sends if link is None or s.link is link]


def kinds(sends: list[Send], link: Link | None = None) -> list[str]:
    return [str(f["type"]) for f in frames(sends, link)]


def delivered_ids(sends: list[Send], link: Link | None = None) -> list[str]:
    return [f["message"]["id"] for f in frames(sends, link) if f["type"] == "message"]


def receipt(chat: ChatSession, link: Link, message_id: str) -> None:
    assert chat.receive(link, {"type": "receipt", "id": message_id}) == []


def send(chat: ChatSession, link: Link, message_id: str, body: str = "ping") -> list[Send]:
    return chat.receive(link, {"type": "send", "id": message_id, "body": body,
                               "timestamp": 1_800_000_001.5})


# -- devices and connections ------------------------------------------------------------------

def test_a_connection_is_greeted_with_its_device_and_login_state(chat: ChatSession) -> None:
    link, sends = chat.connect("dev-1")
    assert frames(sends) == [{"type": "hello", "session": "acct-1", "device": "dev-1",
                              "state": "connected"}]
    assert link.device.id == "dev-1" and set(chat.devices) == {"dev-1"}


@pytest.mark.parametrize("device", [None, "", "no spaces", "x" * 65])
def test_a_page_without_a_valid_device_id_becomes_a_new_device(chat: ChatSession,
                                                               device: str | None) -> None:
    link, _ = chat.connect(device)
    other, _ = chat.connect(device)
    assert link.device is not other.device and len(chat.devices) == 2
    assert link.device.id in chat.devices


def test_a_device_that_comes_back_is_the_same_device(chat: ChatSession) -> None:
    first, _ = chat.connect("dev-1")
    chat.disconnect(first)
    again, _ = chat.connect("dev-1")
    assert again.device is first.device and chat.snapshot()["devices"] == 1


# -- inbound messages: queues and receipts -----------------------------------------------------

def test_a_push_goes_to_every_connected_device_with_its_fields(chat: ChatSession) -> None:
    first, _ = chat.connect("a")
    second, _ = chat.connect("b")
    message, sends = chat.push("alice", "hi")
    assert [s.link for s in sends] == [first, second]
    assert sends[0].frame["message"] == {"id": message.id, "from": "alice", "body": "hi",
                                         "timestamp": message.timestamp, "self": False}
    state = chat.snapshot()
    assert (state["pushed"], state["delivered"], state["queued"]) == (1, 2, 1)


def test_a_receipt_means_the_device_is_never_sent_the_message_again(chat: ChatSession) -> None:
    link, _ = chat.connect("a")
    confirmed, _ = chat.push("alice", "one")
    unconfirmed, _ = chat.push("bob", "two")
    receipt(chat, link, confirmed.id)
    receipt(chat, link, confirmed.id)
    receipt(chat, link, "unknown")
    assert chat.snapshot()["received"] == 1
    chat.disconnect(link)
    again, sends = chat.connect("a")
    assert delivered_ids(sends) == [unconfirmed.id]
    receipt(chat, again, unconfirmed.id)
    chat.disconnect(again)
    _, sends = chat.connect("a")
    assert kinds(sends) == ["hello"]
    assert (chat.snapshot()["received"], chat.snapshot()["queued"]) == (2, 0)


def test_a_receipt_confirms_only_for_the_device_that_sent_it(chat: ChatSession) -> None:
    a, _ = chat.connect("a")
    b, _ = chat.connect("b")
    message, _ = chat.push("alice", "for both")
    receipt(chat, a, message.id)
    assert chat.snapshot()["queued"] == 1
    chat.disconnect(b)
    _, sends = chat.connect("b")
    assert delivered_ids(sends) == [message.id]


def test_messages_for_an_absent_device_wait_until_it_connects(chat: ChatSession) -> None:
    link, _ = chat.connect("a")
    chat.disconnect(link)
    first, none_sent = chat.push("alice", "while away")
    second, _ = chat.push("bob", "also")
    assert none_sent == [] and chat.snapshot()["queued"] == 2
    _, sends = chat.connect("a")
    assert delivered_ids(sends) == [first.id, second.id]


def test_the_first_device_takes_what_was_pushed_before_any_existed(chat: ChatSession) -> None:
    early, _ = chat.push("alice", "before any device")
    assert chat.snapshot()["queued"] == 1
    _, sends = chat.connect("first")
    assert delivered_ids(sends) == [early.id]
    _, later = chat.connect("second")
    assert delivered_ids(later) == []


# -- sends and acks ----------------------------------------------------------------------------

def test_a_send_is_acked_by_the_server_then_delivered_to_the_other_devices(
        chat: ChatSession) -> None:
    sender, _ = chat.connect("a")
    other, _ = chat.connect("b")
    chat.disconnect(chat.connect("c")[0])
    sends = send(chat, sender, "own-1")
    assert frames(sends, sender) == [{"type": "ack", "id": "own-1", "ack": 1},
                                     {"type": "ack", "id": "own-1", "ack": 2}]
    assert [s.link for s in sends] == [sender, other, sender]  # ack 1, delivery, ack 2
    assert frames(sends, other)[0]["message"] == {"id": "own-1", "from": "me", "body": "ping",
                                                  "timestamp": 1_800_000_001.5, "self": True}
    state = chat.snapshot()
    assert (state["sent"], state["acks_sent"], state["queued"]) == (1, 2, 1)  # b and c hold it
    _, absent = chat.connect("c")
    assert delivered_ids(absent) == ["own-1"]


def test_a_send_sent_again_is_acked_again_and_not_delivered_twice(chat: ChatSession) -> None:
    sender, _ = chat.connect("a")
    other, _ = chat.connect("b")
    assert delivered_ids(send(chat, sender, "own-1"), other) == ["own-1"]
    again = send(chat, sender, "own-1")
    assert frames(again) == [{"type": "ack", "id": "own-1", "ack": 2}]
    assert chat.snapshot()["sent"] == 1


@pytest.mark.parametrize("frame", [
    {"type": "send", "body": "no id"},
    {"type": "send", "id": "bad id", "body": "x"},
    {"type": "send", "id": "ok", "body": 3},
    {"type": "nonsense"},
])
def test_malformed_frames_are_ignored(chat: ChatSession, frame: dict[str, Any]) -> None:
    link, _ = chat.connect("a")
    assert chat.receive(link, frame) == []
    assert chat.snapshot()["sent"] == 0


def test_a_send_without_a_usable_timestamp_gets_the_servers(chat: ChatSession,
                                                            wall: FakeWall) -> None:
    sender, _ = chat.connect("a")
    other, _ = chat.connect("b")
    sends = chat.receive(sender, {"type": "send", "id": "x1", "body": "b", "timestamp": "now"})
    assert frames(sends, other)[0]["message"]["timestamp"] == wall()


# -- faults ------------------------------------------------------------------------------------

def test_a_silent_connection_hears_nothing_either_way(chat: ChatSession) -> None:
    link, _ = chat.connect("a")
    assert chat.set_fault(FaultMode.SILENT, sticky=False) == []
    message, pushed = chat.push("alice", "lost?")
    assert pushed == [] and send(chat, link, "own-1") == []
    receipt(chat, link, message.id)
    state = chat.snapshot()
    assert (state["connections"], state["fault"], state["unheard"]) == (1, "silent", 2)
    assert (state["sent"], state["acks_sent"], state["received"], state["queued"]) == (0, 0, 0, 1)


def test_what_a_silent_connection_missed_comes_on_the_next_connection(chat: ChatSession) -> None:
    link, _ = chat.connect("a")
    chat.set_fault(FaultMode.SILENT, sticky=False)
    missed, _ = chat.push("alice", "missed")
    send(chat, link, "own-1")
    chat.disconnect(link)
    again, sends = chat.connect("a")
    assert kinds(sends) == ["hello", "message"] and delivered_ids(sends) == [missed.id]
    assert kinds(send(chat, again, "own-1")) == ["ack", "ack"]  # the page sends it again


def test_fault_none_greets_a_silent_connection_anew_and_sends_what_it_missed(
        chat: ChatSession) -> None:
    link, _ = chat.connect("a")
    chat.set_fault(FaultMode.SILENT, sticky=False)
    message, _ = chat.push("alice", "late")
    sends = chat.set_fault(FaultMode.NONE, sticky=False)
    assert kinds(sends, link) == ["hello", "message"] and delivered_ids(sends) == [message.id]
    assert chat.snapshot()["fault"] == "none"


def test_a_fault_hits_only_current_connections(chat: ChatSession) -> None:
    hung, _ = chat.connect("a")
    sends = chat.set_fault(FaultMode.HANG, sticky=False)
    assert frames(sends, hung) == [{"type": "fault", "mode": "hang"}]
    chat.disconnect(hung)
    _, sends = chat.connect("a")
    assert kinds(sends) == ["hello"]
    assert chat.snapshot()["fault"] == "none"


def test_a_fault_posted_with_nothing_connected_hits_the_next_connection(
        chat: ChatSession) -> None:
    chat.set_fault(FaultMode.HANG, sticky=False)
    assert chat.snapshot()["fault"] == "hang"
    _, sends = chat.connect("a")
    assert kinds(sends) == ["hello", "fault"]
    _, again = chat.connect("a")
    assert kinds(again) == ["hello"]


def test_a_sticky_fault_hits_every_new_connection_until_none(chat: ChatSession) -> None:
    chat.set_fault(FaultMode.LEAK, sticky=True)
    for _ in range(2):
        link, sends = chat.connect("a")
        assert frames(sends, link)[1] == {"type": "fault", "mode": "leak",
                                          "bytes_per_second": 1000, "cap_bytes": 5000}
        chat.disconnect(link)
    assert chat.snapshot()["sticky"] is True
    chat.set_fault(FaultMode.NONE, sticky=False)
    _, sends = chat.connect("a")
    assert kinds(sends) == ["hello"]


def test_a_sticky_silent_connection_is_greeted_then_hears_nothing(chat: ChatSession) -> None:
    chat.connect("a")
    chat.push("alice", "waiting")
    chat.set_fault(FaultMode.SILENT, sticky=True)
    _, sends = chat.connect("a")
    assert kinds(sends) == ["hello"]


def test_fault_none_stops_a_leak(chat: ChatSession) -> None:
    link, _ = chat.connect("a")
    chat.set_fault(FaultMode.LEAK, sticky=False)
    assert frames(chat.set_fault(FaultMode.NONE, sticky=False), link) == [
        {"type": "fault", "mode": "none"}]


def test_the_page_reports_the_faults_it_applied(chat: ChatSession) -> None:
    link, _ = chat.connect("a")
    chat.receive(link, {"type": "fault_applied", "mode": "hang"})
    chat.receive(link, {"type": "fault_applied", "mode": "bogus"})
    assert chat.snapshot()["faults_applied"] == {"hang": 1, "leak": 0}


# -- logout and the login code -----------------------------------------------------------------

def test_logout_shows_a_login_code_on_every_page_and_on_later_connections(
        chat: ChatSession) -> None:
    link, _ = chat.connect("a")
    sends = chat.set_fault(FaultMode.LOGOUT, sticky=False)
    assert kinds(sends) == ["auth", "qr"] and sends[0].frame["state"] == "auth_required"
    code = sends[1].frame
    assert code["qr"] == chat.snapshot()["qr"] and code["expires_at"] == chat.snapshot()[
        "qr_expires_at"]
    assert code["image"].startswith("data:image/svg+xml")
    assert chat.set_fault(FaultMode.LOGOUT, sticky=False) == []  # already out: same attempt
    chat.disconnect(link)
    _, sends = chat.connect("a")
    assert frames(sends)[0]["state"] == "auth_required"
    assert kinds(sends) == ["hello", "qr"] and sends[1].frame["qr"] == code["qr"]


def test_while_logged_out_nothing_is_delivered_or_taken_until_login(chat: ChatSession) -> None:
    link, _ = chat.connect("a")
    chat.set_fault(FaultMode.LOGOUT, sticky=False)
    waiting, pushed = chat.push("alice", "while out")
    assert pushed == [] and send(chat, link, "own-1") == []
    chat.set_fault(FaultMode.NONE, sticky=False)
    assert chat.logged_in is False and chat.snapshot()["fault"] == "logout"
    sends = chat.login()
    assert frames(sends)[0] == {"type": "auth", "state": "connected"}
    assert delivered_ids(sends) == [waiting.id]
    assert chat.snapshot()["qr"] is None and chat.login() == []


def test_the_code_changes_every_interval_and_pages_are_sent_each_once(
        chat: ChatSession, wall: FakeWall) -> None:
    link, _ = chat.connect("a")
    first = chat.set_fault(FaultMode.LOGOUT, sticky=False)[1].frame
    assert chat.refresh_qr() == []
    wall.advance(19.9)
    assert chat.refresh_qr() == [] and chat.snapshot()["qr"] == first["qr"]
    wall.advance(0.1)
    sends = chat.refresh_qr()
    assert kinds(sends, link) == ["qr"] and sends[0].frame["qr"] != first["qr"]
    assert sends[0].frame["expires_at"] == first["expires_at"] + 20.0
    assert chat.snapshot()["qr"] == sends[0].frame["qr"] and chat.refresh_qr() == []


def test_a_scan_logs_in_only_with_the_code_shown_now(chat: ChatSession, wall: FakeWall) -> None:
    assert chat.scan("anything") == (ScanOutcome.NOT_WAITING, [])
    link, _ = chat.connect("a")
    stale = chat.set_fault(FaultMode.LOGOUT, sticky=False)[1].frame["qr"]
    wall.advance(20.0)
    chat.refresh_qr()
    assert chat.scan(stale) == (ScanOutcome.STALE, [])
    assert chat.scan("2@nope,a,b,c,WEB") == (ScanOutcome.WRONG, [])
    assert chat.logged_in is False
    outcome, sends = chat.scan(chat.snapshot()["qr"])
    assert outcome == ScanOutcome.LOGGED_IN and frames(sends, link) == [
        {"type": "auth", "state": "connected"}]
    assert chat.logged_in is True and chat.snapshot()["qr"] is None


def test_a_new_logout_is_a_new_login_attempt(chat: ChatSession) -> None:
    chat.connect("a")
    first = chat.set_fault(FaultMode.LOGOUT, sticky=False)[1].frame["qr"]
    chat.login()
    second = chat.set_fault(FaultMode.LOGOUT, sticky=False)[1].frame["qr"]
    assert first.split(",")[1:4] != second.split(",")[1:4]
    assert chat.scan(first) == (ScanOutcome.WRONG, [])


def test_the_snapshot_has_the_contract_keys(chat: ChatSession) -> None:
    assert {"connections", "pushed", "received", "queued", "fault", "logged_in", "qr",
            "connections_total", "devices", "faults_applied", "acks_sent"} <= chat.snapshot().keys()
