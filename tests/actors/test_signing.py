"""The signer's headers verify with the Standard Webhooks reference verifier and a plain HMAC."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from actors.signing import Signer, SigningKeyError, signing_key
from warden.config import ConfigError, parse_config

KEY = b"0123456789abcdef-a-test-key"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
BODY = b'{"id":"evt_01J","type":"session.started","seq":1,"data":{}}'


def now() -> int:
    return int(time.time())


def test_headers_verify_with_the_standard_webhooks_library() -> None:
    stamp = now()
    headers = Signer(SECRET).headers("evt_01J", BODY, stamp)

    assert Webhook(SECRET).verify(BODY, headers, json_parse=False) is None
    assert headers["webhook-id"] == "evt_01J"
    assert headers["webhook-timestamp"] == str(stamp)


def test_the_hex_header_is_the_same_hmac_computed_independently() -> None:
    stamp = now()
    headers = Signer(SECRET).headers("evt_01J", BODY, stamp)

    expected = hmac.new(KEY, f"evt_01J.{stamp}.".encode() + BODY, hashlib.sha256)
    assert headers["X-HMAC-Signature"] == expected.hexdigest()
    assert headers["X-Timestamp"] == str(stamp)
    assert headers["webhook-signature"] == "v1," + base64.b64encode(expected.digest()).decode()


def test_a_secret_without_the_prefix_is_used_as_its_utf8_bytes() -> None:
    secret = "plain-secret-of-some-length-é"
    stamp = now()
    headers = Signer(secret).headers("evt_1", BODY, stamp)

    Webhook(secret.encode("utf-8")).verify(BODY, headers, json_parse=False)
    expected = hmac.new(secret.encode("utf-8"), f"evt_1.{stamp}.".encode() + BODY, hashlib.sha256)
    assert headers["X-HMAC-Signature"] == expected.hexdigest()


def test_each_attempt_is_stamped_anew() -> None:
    signer = Signer(SECRET)
    first = signer.headers("evt_1", BODY, 1_800_000_000)
    second = signer.headers("evt_1", BODY, 1_800_000_007)

    assert first["webhook-id"] == second["webhook-id"]
    assert first["webhook-signature"] != second["webhook-signature"]
    assert first["X-HMAC-Signature"] != second["X-HMAC-Signature"]


def test_a_tampered_body_or_an_old_timestamp_is_refused_by_the_verifier() -> None:
    headers = Signer(SECRET).headers("evt_1", BODY, now())
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(BODY.replace(b"1", b"2"), headers, json_parse=False)
    stale = Signer(SECRET).headers("evt_1", BODY, now() - 3600)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(BODY, stale, json_parse=False)


@given(event_id=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1),
       body=st.binary(max_size=200).map(lambda b: b.hex().encode()))
def test_any_id_and_body_verify(event_id: str, body: bytes) -> None:
    headers = Signer(SECRET).headers(event_id, body, now())
    Webhook(SECRET).verify(body, headers, json_parse=False)


@pytest.mark.parametrize("secret", [
    "whsec_not*base64!",
    "whsec_",
    "whsec_" + base64.b64encode(b"short").decode(),
    "short",
    "",
])
def test_an_unusable_secret_is_refused_without_quoting_it(secret: str) -> None:
    with pytest.raises(SigningKeyError) as caught:
        Signer(secret)
    assert "webhook secret" in str(caught.value)
    if secret.removeprefix("whsec_"):
        assert secret.removeprefix("whsec_") not in str(caught.value)


def test_the_signer_never_shows_its_key() -> None:
    signer = Signer(SECRET)
    assert SECRET.removeprefix("whsec_") not in repr(signer)
    assert signing_key(SECRET) == KEY


def test_the_config_refuses_a_whsec_secret_that_is_not_base64() -> None:
    text = "webhook:\n  url: http://127.0.0.1:9/hook\n  secret: whsec_not*base64!\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "test.yaml")
    rendered = caught.value.render()
    assert "test.yaml:3: webhook.secret:" in rendered
    assert "base64" in rendered


def test_the_config_accepts_what_the_signer_accepts() -> None:
    text = f"webhook:\n  url: http://127.0.0.1:9/hook\n  secret: {SECRET}\n"
    config = parse_config(text, "test.yaml")
    Signer(config.webhook.secret)
