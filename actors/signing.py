"""A signer stamps one webhook attempt with Standard Webhooks 1.0 headers and their hex twin.

For every attempt it signs `"{webhook-id}.{webhook-timestamp}.{body}"` with
HMAC-SHA256 and sends the result twice: base64 in `webhook-signature` (`v1,...`, as the
`standardwebhooks` reference verifiers expect) and hex in `X-HMAC-Signature` beside
`X-Timestamp`, for receivers of the older style. The key is the base64 after `whsec_`; a
secret without that prefix is used as its UTF-8 bytes.

The signature itself comes from the `standardwebhooks` package, so Warden signs exactly as
its verifiers check; the hex header is the same digest, re-encoded.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

__all__ = ["MIN_KEY_BYTES", "SECRET_PREFIX", "Signer", "SigningKeyError", "signing_key"]

SECRET_PREFIX = "whsec_"
MIN_KEY_BYTES = 16  # as warden.config demands; a shorter HMAC key is guessable


class SigningKeyError(ValueError):
    """The webhook secret cannot be used as a signing key; the message never quotes it."""


def signing_key(secret: str) -> bytes:
    """The HMAC key for `secret`: the base64 after `whsec_`, else the UTF-8 bytes; raises
    SigningKeyError if it is unusable."""
    if secret.startswith(SECRET_PREFIX):
        encoded = secret.removeprefix(SECRET_PREFIX)
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise SigningKeyError(
                "webhook secret: the part after whsec_ is not valid base64") from None
        what = "the whsec_ key decodes to"
    else:
        key = secret.encode("utf-8")
        what = "the secret is"
    if len(key) < MIN_KEY_BYTES:
        raise SigningKeyError(
            f"webhook secret: {what} {len(key)} bytes; use at least {MIN_KEY_BYTES}")
    return key


class Signer:
    """Builds the signed headers of one attempt. Immutable, so safe from any thread."""

    __slots__ = ("_webhook",)

    def __init__(self, secret: str) -> None:
        self._webhook = Webhook(signing_key(secret))

    def __repr__(self) -> str:
        return "Signer(<secret hidden>)"

    def headers(self, event_id: str, body: bytes, timestamp: int) -> dict[str, str]:
        """Headers for POSTing `body` as `event_id` at `timestamp` (unix seconds, attempt time)."""
        when = datetime.fromtimestamp(timestamp, UTC)
        signature = self._webhook.sign(event_id, when, body.decode("utf-8"))
        digest = base64.b64decode(signature.removeprefix("v1,"))
        stamp = str(timestamp)
        return {
            "webhook-id": event_id,
            "webhook-timestamp": stamp,
            "webhook-signature": signature,
            "X-Timestamp": stamp,
            "X-HMAC-Signature": digest.hex(),
        }
