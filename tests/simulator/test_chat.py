"""ChatSession: pending messages, acks, faults and login, without sockets."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from simulator.chat import ChatSession, FaultMode, LeakRate, Link, Send


def _ids() -> Iterator[str]:
    return (f"m{n}" for n in itertools.count(1))


@pytest.fixture
def chat() -> ChatSession:
    wall = itertools.count(1_800_000_000.0, 1.0)
    ids = _ids()
    return ChatSession("acct-1", wall=lambda: next(wall), new_id=lambda: next(ids),
                       leak=LeakRate(bytes_per_second=1000, cap_bytes=5000))


def frames(sends: list[Send], link: Link | None = None) -> list[dict[str, Any]]:
    return [dict(s.frame) for s in sends if link is None or s.link is link]


def kinds(sends: list[Send]) -> list[str]:
    return [str(s.frame["type"]) for s in sends]


def delivered_ids(sends: list[Send]) -> list[str]:
    return [s.frame["message"]["id"] for s in sends if s.frame["type"] == "message"]


def test_a_connection_is_greeted_with_its_device_and_login_state(chat: ChatSession) -> None:
    link, sends = chat.connect("dev-1")
    assert frames(sends) == [{"type": "hello", "session": "acct-1", "device": "dev-1",
                              "state": "ready"}]
    assert link.device == "dev-1" and chat.devices == {"dev-1"}


def test_a_connection_without_a_known_device_gets_a_new_one(chat: ChatSession) -> None:
    link, _ = chat.connect("")
    assert link.device and link.device in chat.devices
    other, _ = chat.connect("")
    assert other.device != link.device and len(chat.devices) == 2


def test_a_push_goes_to_every_open_connection_with_its_fields(chat: ChatSession) -> None:
    first, _ = chat.connect("d")
    second, _ = chat.connect("d")
    message, sends = chat.push("alice", "hi")
    assert [s.link for s in sends] == [first, second]
    assert sends[0].frame["message"] == {"id": message.id, "from": "alice", "body": "hi",
                                         "timestamp": message.timestamp, "self": False}
    assert chat.snapshot()["pushed"] == 1 and chat.snapshot()["unacked"] == 1


def test_an_ack_removes_the_message_and_counts_once(chat: ChatSession) -> None:
    link, _ = chat.connect("d")
    message, _ = chat.push("alice", "hi")
    chat.receive(link, {"type": "ack", "id": message.id})
    chat.receive(link, {"type": "ack", "id": message.id})
    chat.receive(link, {"type": "ack", "id": "unknown"})
    assert (chat.acked, len(chat.pending)) == (1, 0)


def test_unacked_messages_are_pushed_again_on_the_next_connection(chat: ChatSession) -> None:
    link, _ = chat.connect("d")
    first, _ = chat.push("alice", "one")
    second, _ = chat.push("bob", "two")
    chat.receive(link, {"type": "ack", "id": first.id})
    chat.disconnect(link)
    _, sends = chat.connect("d")
    assert delivered_ids(sends) == [second.id]


def test_send_to_self_is_echoed_to_every_connection_and_not_kept(chat: ChatSession) -> None:
    first, _ = chat.connect("d")
    second, _ = chat.connect("d")
    sends = chat.receive(first, {"type": "send", "body": "ping"})
    assert [s.link for s in sends] == [first, second]
    assert sends[0].frame["message"]["self"] is True
    assert sends[0].frame["message"]["body"] == "ping"
    assert chat.echoes == 1 and not chat.pending


def test_silent_connection_hears_nothing_either_way(chat: ChatSession) -> None:
    link, _ = chat.connect("d")
    assert chat.set_fault(FaultMode.SILENT, sticky=False) == []
    _, pushed = chat.push("alice", "lost?")
    echoed = chat.receive(link, {"type": "send", "body": "ping"})
    assert pushed == [] and echoed == [] and chat.echoes == 0
    assert chat.snapshot()["connections"] == 1 and chat.snapshot()["fault"] == "silent"


def test_fault_none_lets_a_silent_connection_hear_what_it_missed(chat: ChatSession) -> None:
    link, _ = chat.connect("d")
    chat.set_fault(FaultMode.SILENT, sticky=False)
    message, _ = chat.push("alice", "late")
    sends = chat.set_fault(FaultMode.NONE, sticky=False)
    assert [s.link for s in sends] == [link] and delivered_ids(sends) == [message.id]
    assert chat.snapshot()["fault"] == "none"


def test_a_fault_hits_only_current_connections(chat: ChatSession) -> None:
    hung, _ = chat.connect("d")
    sends = chat.set_fault(FaultMode.HANG, sticky=False)
    assert frames(sends, hung) == [{"type": "fault", "mode": "hang"}]
    chat.disconnect(hung)
    _, sends = chat.connect("d")
    assert kinds(sends) == ["hello"]
    assert chat.snapshot()["fault"] == "none"


def test_a_fault_posted_with_nothing_connected_hits_the_next_connection(
        chat: ChatSession) -> None:
    chat.set_fault(FaultMode.HANG, sticky=False)
    assert chat.snapshot()["fault"] == "hang"
    _, sends = chat.connect("d")
    assert kinds(sends) == ["hello", "fault"]
    _, again = chat.connect("d")
    assert kinds(again) == ["hello"]


def test_a_sticky_fault_hits_every_new_connection_until_none(chat: ChatSession) -> None:
    chat.set_fault(FaultMode.LEAK, sticky=True)
    for _ in range(2):
        link, sends = chat.connect("d")
        assert frames(sends, link)[1] == {"type": "fault", "mode": "leak",
                                          "bytes_per_second": 1000, "cap_bytes": 5000}
        chat.disconnect(link)
    assert chat.snapshot()["sticky"] is True
    chat.set_fault(FaultMode.NONE, sticky=False)
    _, sends = chat.connect("d")
    assert kinds(sends) == ["hello"]


def test_a_sticky_silent_connection_is_greeted_then_hears_nothing(chat: ChatSession) -> None:
    chat.push("alice", "waiting")
    chat.set_fault(FaultMode.SILENT, sticky=True)
    _, sends = chat.connect("d")
    assert kinds(sends) == ["hello"]


def test_fault_none_stops_a_leak(chat: ChatSession) -> None:
    link, _ = chat.connect("d")
    chat.set_fault(FaultMode.LEAK, sticky=False)
    assert frames(chat.set_fault(FaultMode.NONE, sticky=False), link) == [
        {"type": "fault", "mode": "none"}]


def test_logout_persists_across_connections_until_login(chat: ChatSession) -> None:
    link, _ = chat.connect("d")
    assert frames(chat.set_fault(FaultMode.LOGOUT, sticky=False)) == [
        {"type": "auth", "state": "auth_required"}]
    _, pushed = chat.push("alice", "while out")
    assert pushed == []
    chat.disconnect(link)
    again, sends = chat.connect("d")
    assert frames(sends) == [{"type": "hello", "session": "acct-1", "device": "d",
                              "state": "auth_required"}]
    assert chat.receive(again, {"type": "send", "body": "ping"}) == []
    assert chat.snapshot()["fault"] == "logout" and chat.snapshot()["logged_in"] is False
    chat.set_fault(FaultMode.NONE, sticky=False)
    assert chat.logged_in is False
    sends = chat.login()
    assert kinds(sends) == ["auth", "message"] and sends[0].frame["state"] == "ready"
    assert chat.snapshot()["fault"] == "none" and chat.login() == []


def test_the_page_reports_the_faults_it_applied(chat: ChatSession) -> None:
    link, _ = chat.connect("d")
    chat.receive(link, {"type": "fault_applied", "mode": "hang"})
    chat.receive(link, {"type": "fault_applied", "mode": "bogus"})
    assert chat.snapshot()["faults_applied"] == {"hang": 1, "leak": 0}


def test_the_snapshot_has_the_contract_keys(chat: ChatSession) -> None:
    assert {"connections", "pushed", "acked", "unacked", "fault"} <= chat.snapshot().keys()
