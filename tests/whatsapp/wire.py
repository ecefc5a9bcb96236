"""The wire between the double's server and its page: the frames, the message and connection
records the account keeps, and the ids the server makes.

Wire protocol (JSON text frames on the page's WebSocket; the page is `page/app.js`):

server -> page
    {"type": "ready", "wid", "lid"}          linked: Socket CONNECTED
    {"type": "offline", "count"} ... {"type": "synced"}   offline delivery around the backlog
    {"type": "message", "rid", "message"}    an inbound (or own, from another device) message
    {"type": "decrypt", "rid", "id", "body"} a ciphertext message became readable
    {"type": "ack", "id", "ack"}             the server's ack of an own message (1, then 2)
    {"type": "unpaired"} / {"type": "ref", "ref"} / {"type": "idle"}   login by QR
    {"type": "paired", "wid", "lid"}         a scan or a pairing code linked this browser
    {"type": "pair_code", "code"}            answer to "pair_request"
    {"type": "logout"}                       the phone removed this browser: wipe and reload
    {"type": "conflict"}                     another browser opened this session
    {"type": "state", "state"}               a blocking state (TOS_BLOCK, ...)
    {"type": "fault", "mode": "hang"}        busy-loop the page
page -> server
    {"type": "hello", "device", "keys": {"static", "identity", "adv"}, "takeover"}
    {"type": "receipt", "rid"}               the page has stored it: never send it again
    {"type": "send", "message": {"id", "to", "body", "t"}}   own message (resent until acked)
    {"type": "refresh_qr"} / {"type": "pair_request", "phone"}
    {"type": "state", "state"}               the page's Socket state, for the control API
    {"type": "logout"}                       Socket.logout(): unlink this browser
    {"type": "fault_applied", "mode"}
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["BLOCKING_STATES", "LINK_FAULTS", "FaultMode", "Link", "OwnMessage", "Send", "WaMessage",
           "new_message_key", "new_pairing_code", "new_ref"]

PAIRING_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTVWXYZ"  # no 0, I, O, U: read aloud without doubt
BLOCKING_STATES = frozenset({"PROXYBLOCK", "TOS_BLOCK", "SMB_TOS_BLOCK", "DEPRECATED_VERSION"})


class FaultMode(StrEnum):
    NONE = "none"
    DEAF = "deaf"  # CONNECTED, nothing arrives: no messages, no acks (whatsapp-web.js #1567)
    HANG = "hang"  # the page's JS busy-loops
    LOGOUT = "logout"  # the phone unlinked the browsers: UNPAIRED until a scan or pairing code
    CONFLICT = "conflict"  # the session was opened in another browser: CONFLICT until takeover
    NO_LOADER = "no_loader"  # the next page load exposes no window.require


LINK_FAULTS = frozenset({FaultMode.DEAF, FaultMode.HANG, FaultMode.CONFLICT})


def new_message_key() -> str:
    """A message id in the style of WhatsApp Web's own (`3EB0` and hex)."""
    return "3EB0" + secrets.token_hex(10).upper()


def new_ref() -> str:
    """A login ref in the shape of the server's (`2@...`)."""
    return "2@" + secrets.token_urlsafe(48)


def new_pairing_code() -> str:
    return "".join(secrets.choice(PAIRING_ALPHABET) for _ in range(8))


def serialized_key(from_me: bool, remote: str, key: str) -> str:
    return f"{'true' if from_me else 'false'}_{remote}_{key}"


@dataclass(frozen=True, slots=True)
class WaMessage:
    """A message as the server relays it; `remote` is the chat it belongs to."""

    key: str
    sender: str
    recipient: str
    body: str
    t: int  # unix seconds
    from_me: bool = False
    ciphertext: bool = False

    @property
    def remote(self) -> str:
        return self.recipient if self.from_me else self.sender

    @property
    def id(self) -> str:
        return serialized_key(self.from_me, self.remote, self.key)

    def to_json(self) -> dict[str, Any]:
        return {"id": {"fromMe": self.from_me, "remote": self.remote, "id": self.key,
                       "_serialized": self.id},
                "from": self.sender, "to": self.recipient, "t": self.t,
                "body": "" if self.ciphertext else self.body,
                "type": "ciphertext" if self.ciphertext else "chat"}


@dataclass(slots=True)
class OwnMessage:
    """A message a page sent, and the highest ack the server gave it."""

    message: WaMessage
    device: str
    ack: int = 0


@dataclass(slots=True, eq=False)
class Link:
    """One open page connection."""

    id: int
    device: str = ""  # known after its hello
    keys: Mapping[str, str] = field(default_factory=dict)
    fault: FaultMode = FaultMode.NONE
    paired: bool = False  # CONNECTED (or on its way); False while it shows the QR
    ref: str | None = None  # the QR ref it shows now
    refs_left: int = 0
    old_refs: set[str] = field(default_factory=set)
    pair_phone: str | None = None
    pair_code: str | None = None
    state: str = "OPENING"

    def hears(self) -> bool:
        return self.device != "" and self.fault not in LINK_FAULTS


@dataclass(frozen=True, slots=True)
class Send:
    """A frame to write to one connection."""

    link: Link
    frame: Mapping[str, Any]
