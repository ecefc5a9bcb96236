"""The soak's webhook receiver: it takes what Warden's signer signs, refuses and counts anything
else, and goes down and comes back on the same port."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from actors.signing import Signer
from tests.soak.receiver import Down, WebhookReceiver

SECRET = "whsec_c29hay1yZWNlaXZlci10ZXN0LWtleS0wMQ=="


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(SECRET).start()
    yield receiver
    receiver.close()


def post(receiver: WebhookReceiver, seq: int, signer: Signer | None = None) -> int:
    event_id = f"evt_{seq:026d}"
    body = json.dumps({"id": event_id, "type": "message.received",
                       "timestamp": "2026-01-01T00:00:00.000Z", "session_id": "a", "seq": seq,
                       "data": {"message_id": f"m{seq}", "body": "hi"}}).encode()
    headers = (signer or Signer(SECRET)).headers(event_id, body, int(time.time()))
    request = urllib.request.Request(receiver.url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code


def test_it_records_events_signed_as_warden_signs_them(receiver: WebhookReceiver) -> None:
    assert post(receiver, 1) == 204
    [event] = receiver.events()
    assert (event.id, event.seq, event.session_id, event.data["message_id"]) == (
        "evt_00000000000000000000000001", 1, "a", "m1")
    assert receiver.message_ids() == {"m1"}


def test_a_bad_signature_is_refused_with_401_and_counted(receiver: WebhookReceiver) -> None:
    assert post(receiver, 1, Signer("whsec_b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldA==")) == 401
    assert receiver.counts()["bad_signatures"] == 1
    assert receiver.events() == []


def test_down_refuses_connections_or_answers_503_and_comes_back_on_its_port(
        receiver: WebhookReceiver) -> None:
    port = receiver.port
    receiver.go_down(Down.REFUSE)
    with pytest.raises(urllib.error.URLError):
        post(receiver, 1)
    receiver.come_up()
    assert receiver.port == port
    assert post(receiver, 2) == 204
    receiver.go_down(Down.UNAVAILABLE)
    assert post(receiver, 3) == 503
    receiver.come_up()
    assert [e.seq for e in receiver.events()] == [2]
    assert receiver.counts()["down_periods"] == 2
