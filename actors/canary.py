"""A canary is one message a session sends to its own account, proven only by the server's ack.

The app shows a sent message at once, acked 0, before anything left the page: a canary counted
on that local copy passes on a deaf session. Only an acknowledgement from the app's server
(ack >= 1) for the canary's own message id proves the round trip. Pure bookkeeping of the one
canary in flight; the session sends it and times it.
"""

from __future__ import annotations

import secrets
from collections import deque

__all__ = ["CANARY_PREFIX", "Canary"]

CANARY_PREFIX = "warden-canary:"
SERVER_ACK = 1  # WhatsApp Web's ack levels: 0 pending, 1 server, 2 device, 3 read, 4 played


class Canary:
    """At most one canary in flight: sent (a token), given its message id, then proven or
    expired. Acks that arrive before the send has answered with the id are remembered."""

    def __init__(self, remember: int = 32) -> None:
        self.token: str | None = None
        self.message_id: str | None = None
        self._early: deque[str] = deque(maxlen=remember)  # ids acked before we knew ours

    @property
    def in_flight(self) -> bool:
        return self.token is not None

    def send(self) -> tuple[str, str]:
        """Start a new canary: its token and the body to send."""
        self.token = secrets.token_hex(8)
        self.message_id = None
        self._early.clear()
        return self.token, CANARY_PREFIX + self.token

    def sent(self, token: str, message_id: str) -> bool:
        """The app took canary `token` as `message_id`; True if its server ack already came."""
        if token != self.token:
            return False
        self.message_id = message_id
        if message_id in self._early:
            self._done()
            return True
        return False

    def acked(self, message_id: str, ack: int) -> bool:
        """An ack for one of the page's own messages; True if it proves the canary in flight."""
        if self.token is None or ack < SERVER_ACK:
            return False
        if self.message_id is None:
            self._early.append(message_id)
            return False
        if message_id != self.message_id:
            return False
        self._done()
        return True

    def expired(self, token: str) -> bool:
        """Canary `token`'s time ran out; True if it was still in flight (a failure)."""
        if token != self.token:
            return False  # proven meanwhile, or an older one
        self._done()
        return True

    def drop(self) -> None:
        """Forget the canary in flight (the app logged out: it cannot be proven now)."""
        self._done()

    def _done(self) -> None:
        self.token = self.message_id = None
        self._early.clear()
