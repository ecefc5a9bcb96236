"""A ULID is a 128-bit id that sorts by creation time: 48 bits of milliseconds, 80 random bits.

Written out as 26 characters of Crockford's base32 (https://github.com/ulid/spec). Event ids
are `evt_<ulid>`; the randomness comes from `os.urandom`, so ids made in the same millisecond
by different threads or processes do not collide.
"""

from __future__ import annotations

import os

__all__ = ["new_ulid"]

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # two characters at once: 26 -> 13 steps


def new_ulid(at: float) -> str:
    """A new ULID whose time part is `at` (seconds since the epoch)."""
    millis = max(0, min(int(at * 1000), 2**48 - 1))
    value = (millis << 80) | int.from_bytes(os.urandom(10), "big")
    # 26 characters are 130 bits: 13 pairs of 10 bits, the top two bits zero
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in range(120, -10, -10)])
