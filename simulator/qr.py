"""A login QR code is the text a phone scans to link the account again; while the account is logged
out, the code shown changes every 20 seconds.

The text has WhatsApp Web's shape, `ref,staticKey,identityKey,advSecret,platform`: the three keys
are drawn once per login attempt and the ref anew for every rotation. Which code is shown is a pure
function of the time: rotation n of an attempt begun at `started` is shown from
`started + n * interval` until the next one, and its ref is derived from a secret of the attempt,
so every reader at one instant sees the same code and nothing has to be stored per rotation.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import segno

__all__ = ["PLATFORM", "QR_INTERVAL", "LoginCode", "QrRotation", "render_svg"]

QR_INTERVAL = 20.0  # seconds a code is shown
PLATFORM = "WEB"
REF_PREFIX = "2@"  # WhatsApp Web's refs start so


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True, slots=True)
class LoginCode:
    """One rotation's code: its payload (the QR text) and when the next one replaces it."""

    payload: str
    expires_at: float  # seconds since the epoch


@dataclass(frozen=True, slots=True)
class QrRotation:
    """One login attempt: from `started`, a new code every `interval` seconds."""

    started: float
    interval: float
    secret: bytes
    keys: str  # "staticKey,identityKey,advSecret,platform"

    @classmethod
    def begin(cls, now: float, interval: float = QR_INTERVAL,
              entropy: Callable[[int], bytes] = secrets.token_bytes) -> QrRotation:
        if not interval > 0:
            raise ValueError(f"interval must be positive, not {interval!r}")
        keys = ",".join([_b64(entropy(32)), _b64(entropy(32)), _b64(entropy(32)), PLATFORM])
        return cls(now, interval, entropy(32), keys)

    def at(self, now: float) -> LoginCode:
        """The code shown at `now` (the first one before `started`)."""
        n = max(0, math.floor((now - self.started) / self.interval))
        digest = hmac.new(self.secret, n.to_bytes(8, "big"), hashlib.sha256).digest()
        return LoginCode(f"{REF_PREFIX}{_b64(digest)},{self.keys}",
                         self.started + (n + 1) * self.interval)

    def is_stale(self, payload: str, now: float) -> bool:
        """Whether `payload` is a code of this attempt that is no longer the one shown."""
        return payload.endswith("," + self.keys) and payload != self.at(now).payload


@functools.lru_cache(maxsize=16)  # a code is sent to every page it is shown on: render it once
def render_svg(payload: str) -> str:
    """The QR code of `payload` as an SVG `data:` URI, with the quiet zone scanners need."""
    return str(segno.make_qr(payload).svg_data_uri(border=4))
