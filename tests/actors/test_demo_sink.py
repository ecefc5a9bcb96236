"""The demo sink accepts only deliveries signed with its secret, and remembers the last ones."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest

from actors.demo_sink import DemoSink, SinkRejected
from actors.signing import signing_key

SECRET = "whsec_" + base64.b64encode(b"sixteen-byte-key-for-tests").decode()


def signed(body: bytes, secret: str = SECRET, msg_id: str = "evt_1",
           timestamp: int | None = None) -> dict[str, str]:
    """Headers as Standard Webhooks 1.0 describes them, computed without the sink's library."""
    key = (base64.b64decode(secret.removeprefix("whsec_")) if secret.startswith("whsec_")
           else secret.encode())
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    mac = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {"webhook-id": msg_id, "webhook-timestamp": stamp,
            "webhook-signature": "v1," + base64.b64encode(mac).decode()}


def event(seq: int, session: str = "acct-1", type_: str = "message.received") -> bytes:
    return json.dumps({"id": f"evt_{seq}", "type": type_, "timestamp": "2027-01-15T08:00:00Z",
                       "session_id": session, "seq": seq, "data": {"body": "hi"}}).encode()


def test_a_whsec_secret_is_base64_and_any_other_is_its_utf8_bytes() -> None:
    assert signing_key(SECRET) == b"sixteen-byte-key-for-tests"
    assert signing_key("plain-secret-of-20-chars") == b"plain-secret-of-20-chars"


def test_a_correctly_signed_delivery_is_kept_with_its_fields() -> None:
    sink = DemoSink(SECRET)
    received = sink.receive(event(1), signed(event(1), msg_id="evt_1"))
    assert (received.webhook_id, received.type, received.session_id, received.seq) == (
        "evt_1", "message.received", "acct-1", 1)
    assert received.data == {"body": "hi"}
    assert not received.duplicate
    assert (sink.accepted, sink.rejected) == (1, 0)
    assert sink.events() == [received]


def test_a_plain_secret_signs_with_its_utf8_bytes() -> None:
    secret = "plain-secret-of-20-chars"
    sink = DemoSink(secret)
    sink.receive(event(1), signed(event(1), secret=secret))
    assert sink.accepted == 1


@pytest.mark.parametrize("tamper", ["body", "secret", "missing", "stale", "garbage"])
def test_anything_but_a_valid_signature_is_refused_with_401_and_counted(tamper: str) -> None:
    sink = DemoSink(SECRET)
    body = event(1)
    headers = signed(body)
    if tamper == "body":
        body = event(2)
    elif tamper == "secret":
        headers = signed(body, secret="whsec_" + base64.b64encode(b"another-key-16-bytes").decode())
    elif tamper == "missing":
        del headers["webhook-signature"]
    elif tamper == "stale":
        headers = signed(body, timestamp=int(time.time()) - 3600)
    elif tamper == "garbage":
        headers["webhook-signature"] = "v1,@@not-base64@@ nonsense"
    with pytest.raises(SinkRejected) as info:
        sink.receive(body, headers)
    assert info.value.status == 401
    assert (sink.accepted, sink.rejected) == (0, 1)
    assert sink.events() == []


@pytest.mark.parametrize("body", [b"[1, 2]", b"not json", b"[" * 50_000 + b"]" * 50_000,
                                  b'{"type": "message.received", "data": {"n": NaN}}',
                                  b'{"seq": -Infinity}'],
                         ids=["array", "not-json", "nested-too-deep", "nan", "infinity"])
def test_a_signed_body_that_is_not_a_json_object_is_a_bad_request(body: bytes) -> None:
    sink = DemoSink(SECRET)
    with pytest.raises(SinkRejected) as info:
        sink.receive(body, signed(body))
    assert info.value.status == 400
    assert sink.rejected == 1


def test_a_redelivery_of_the_same_id_is_marked_duplicate() -> None:
    sink = DemoSink(SECRET)
    sink.receive(event(1), signed(event(1), msg_id="evt_1"))
    again = sink.receive(event(1), signed(event(1), msg_id="evt_1"))
    assert again.duplicate
    assert (sink.accepted, sink.duplicates) == (2, 1)


def test_only_the_last_events_are_kept_newest_first() -> None:
    sink = DemoSink(SECRET, capacity=3)
    for seq in range(1, 6):
        sink.receive(event(seq), signed(event(seq), msg_id=f"evt_{seq}"))
    assert [e.seq for e in sink.events()] == [5, 4, 3]
    assert sink.accepted == 5
