"""A chat message is one immutable text in an account's chat, as the server stores and sends it."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

__all__ = ["MESSAGE_ID", "SELF_SENDER", "ChatMessage", "new_message_id"]

# The ids a page may choose for what it sends; the server's own match too.
MESSAGE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
SELF_SENDER = "me"  # the `from` of a message the account sent itself


def new_message_id() -> str:
    """A random id in the style of WhatsApp Web's (`3EB0...`): unique across simulator restarts."""
    return "3EB0" + secrets.token_hex(8).upper()


@dataclass(frozen=True, slots=True)
class ChatMessage:
    id: str
    sender: str
    body: str
    timestamp: float  # seconds since the epoch
    from_me: bool = False  # a message this account sent ("self" on the wire)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "from": self.sender, "body": self.body,
                "timestamp": self.timestamp, "self": self.from_me}
