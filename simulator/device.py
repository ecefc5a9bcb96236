"""A device is one browser profile linked to an account: the server holds for it every message it
has not yet confirmed with a receipt, and sends it what it holds whenever it connects."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from simulator.message import ChatMessage

__all__ = ["DEVICE_ID", "QUEUE_LIMIT", "Device", "new_device_id"]

DEVICE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Messages held per device; past it the oldest goes (counted in `discarded`), so a profile that
# never comes back cannot grow the simulator without end.
QUEUE_LIMIT = 10_000


def new_device_id() -> str:
    return secrets.token_urlsafe(16)


@dataclass(slots=True, eq=False)
class Device:
    id: str
    queue: dict[str, ChatMessage] = field(default_factory=dict)  # oldest first
    discarded: int = 0

    def hold(self, message: ChatMessage) -> bool:
        """Keep `message` until the device confirms it; False when it already waits here."""
        if message.id in self.queue:
            return False
        self.queue[message.id] = message
        if len(self.queue) > QUEUE_LIMIT:
            del self.queue[next(iter(self.queue))]
            self.discarded += 1
        return True

    def confirm(self, message_id: str) -> bool:
        """The device's receipt: `message_id` is never sent there again. False if not held."""
        return self.queue.pop(message_id, None) is not None

    def waiting(self) -> list[ChatMessage]:
        return list(self.queue.values())
