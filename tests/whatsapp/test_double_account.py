"""The account's rules without a browser: frames in, frames out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.whatsapp.account import Account
from tests.whatsapp.wire import FaultMode, Link, Send

FRIEND = "15550100002@c.us"
KEYS = {"static": "S", "identity": "I", "adv": "A"}


def account(**options: Any) -> Account:
    return Account("15550100001", "201234567890123", lambda: 1_700_000_000.0, **options)


def hello(acc: Account, device: str, **extra: Any) -> tuple[Link, list[Send]]:
    link = acc.connect()
    return link, acc.receive(link, {"type": "hello", "device": device, "keys": KEYS, **extra})


def frames(sends: list[Send], link: Link | None = None) -> list[Mapping[str, Any]]:
    return [send.frame for send in sends if link is None or send.link is link]


def kinds(sends: list[Send], link: Link | None = None) -> list[str]:
    return [str(frame["type"]) for frame in frames(sends, link)]


def test_a_receipt_ends_delivery_to_that_browser_only() -> None:
    acc = account()
    a, _ = hello(acc, "a")
    b, _ = hello(acc, "b")
    message, sends = acc.push(FRIEND, "hi")
    assert kinds(sends) == ["message", "message"]
    acc.receive(a, {"type": "receipt", "rid": message.id})
    acc.disconnect(a)
    acc.disconnect(b)
    _, again_a = hello(acc, "a")
    _, again_b = hello(acc, "b")
    assert kinds(again_a) == ["ready", "offline", "synced"]
    assert kinds(again_b) == ["ready", "offline", "message", "synced"]
    assert acc.snapshot()["receipts"] == [message.id]


def test_messages_pushed_before_any_browser_go_to_the_first_one_linked() -> None:
    acc = account()
    message, sends = acc.push(FRIEND, "early")
    assert sends == [] and acc.snapshot()["queued"] == 1
    _, first = hello(acc, "a")
    assert [f["rid"] for f in frames(first) if f["type"] == "message"] == [message.id]


def test_a_sticky_deaf_browser_is_told_connected_and_nothing_else() -> None:
    acc = account()
    acc.set_fault(FaultMode.DEAF, sticky=True)
    acc.push(FRIEND, "unheard")
    link, sends = hello(acc, "a")
    assert kinds(sends) == ["ready"]
    assert acc.outgoing(link, {"type": "send", "message": {
        "id": "3EB0X", "to": acc.wid, "body": "b", "t": 1}}) is None
    assert kinds(acc.set_fault(FaultMode.NONE, sticky=False)) == ["offline", "message", "synced"]


def test_the_same_browser_opened_twice_puts_the_older_page_in_conflict() -> None:
    acc = account()
    old, _ = hello(acc, "a")
    new, sends = hello(acc, "a")
    assert kinds(sends, old) == ["conflict"] and kinds(sends, new) == ["ready", "offline", "synced"]
    _, taken = hello(acc, "a", takeover=True)
    assert kinds(taken, new) == ["conflict"]


def test_a_scan_links_only_the_payload_shown_now() -> None:
    acc = account(auto_link=False)
    link, sends = hello(acc, "a")
    assert kinds(sends) == ["unpaired", "ref"]
    first = acc.qr_payload(link)
    assert first is not None and first.endswith(",S,I,A,WEB")
    acc.rotate_ref(link)
    assert acc.scan(first) is None and acc.stale(first)
    current = acc.qr_payload(link)
    assert current is not None
    assert kinds(acc.scan(current) or []) == ["paired", "ready", "offline", "synced"]


def test_the_qr_goes_idle_after_its_refs_until_refreshed() -> None:
    acc = account(auto_link=False, qr_refs=2)
    link, _ = hello(acc, "a")
    assert kinds(acc.rotate_ref(link)) == ["ref"]
    assert kinds(acc.rotate_ref(link)) == ["idle"] and acc.snapshot()["qr"] is None
    assert kinds(acc.receive(link, {"type": "refresh_qr"})) == ["ref"]


def test_a_pairing_code_links_only_for_the_accounts_number() -> None:
    acc = account(auto_link=False)
    link, _ = hello(acc, "a")
    [answer] = frames(acc.receive(link, {"type": "pair_request", "phone": "+1 555 0199 999"}))
    assert acc.confirm_code(str(answer["code"])) is None
    [answer] = frames(acc.receive(link, {"type": "pair_request", "phone": acc.phone}))
    code = str(answer["code"])
    assert len(code) == 8 and acc.confirm_code(code.lower()) is not None


def test_a_logout_unlinks_for_good_until_a_scan() -> None:
    acc = account()
    link, _ = hello(acc, "a")
    assert kinds(acc.set_fault(FaultMode.LOGOUT, sticky=False)) == ["logout"]
    acc.disconnect(link)
    _, back = hello(acc, "a")  # a page that missed the logout keeps its old credentials
    assert kinds(back) == ["unpaired", "ref"]
    _, fresh = hello(acc, "b")
    assert kinds(fresh) == ["unpaired", "ref"] and acc.snapshot()["logged_in"] is False


def test_an_own_message_to_self_reaches_the_other_browsers_at_the_first_server_ack() -> None:
    acc = account()
    a, _ = hello(acc, "a")
    b, _ = hello(acc, "b")
    own = acc.outgoing(a, {"type": "send", "message": {
        "id": "3EB0OWN", "to": acc.wid, "body": "canary", "t": 1}})
    assert own is not None and own.message.id == f"true_{acc.wid}_3EB0OWN"
    sends = acc.ack(own, 1)
    assert frames(sends, a) == [{"type": "ack", "id": own.message.id, "ack": 1}]
    assert kinds(sends, b) == ["message"]
    assert kinds(acc.ack(own, 2), b) == []


def test_a_ciphertext_message_is_told_readable_to_pages_that_may_hold_it() -> None:
    acc = account()
    link, _ = hello(acc, "a")
    message, sends = acc.push(FRIEND, "secret", ciphertext=True)
    assert frames(sends)[0]["message"]["type"] == "ciphertext"
    acc.receive(link, {"type": "receipt", "rid": message.id})
    [told] = frames(acc.decrypt(message.id))
    assert (told["type"], told["id"], told["body"]) == ("decrypt", message.id, "secret")
