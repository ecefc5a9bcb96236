"""A chat session is the simulator's server-side state for one account: its pending messages,
its open page connections, its faults and its login state.

Everything here is synchronous and knows nothing of sockets: each operation returns the frames
to send (`Send`), and `simulator.app` writes them to the right WebSocket. All of it runs on the
simulator's event-loop thread.

Wire protocol (JSON text frames on the page's WebSocket):

server -> page
    {"type": "hello", "session", "device", "state": "ready" | "auth_required"}
    {"type": "message", "message": {"id", "from", "body", "timestamp", "self"}}
    {"type": "auth", "state": "ready" | "auth_required"}
    {"type": "fault", "mode": "hang" | "leak" | "none", ...}
page -> server
    {"type": "ack", "id"}                   the app has taken the message; do not push it again
    {"type": "send", "body"}                send to self: echoed to every connection, self: true
    {"type": "fault_applied", "mode"}       the page is about to hang / has started leaking
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["ChatMessage", "ChatSession", "FaultMode", "LeakRate", "Link", "Send", "new_message_id"]


class FaultMode(StrEnum):
    NONE = "none"
    SILENT = "silent"  # socket stays open, nothing arrives (whatsapp-web.js #1567)
    HANG = "hang"  # the page's JS busy-loops forever
    LEAK = "leak"  # the page retains memory fast
    LOGOUT = "logout"  # the page shows the login screen until POST /login


# Faults a connection carries (logout belongs to the session, not to one connection).
LINK_FAULTS = frozenset({FaultMode.SILENT, FaultMode.HANG, FaultMode.LEAK})


def new_message_id() -> str:
    """A random id in the style of WhatsApp Web's (`3EB0...`): unique across simulator restarts."""
    return "3EB0" + secrets.token_hex(8).upper()


@dataclass(frozen=True, slots=True)
class ChatMessage:
    id: str
    sender: str
    body: str
    timestamp: float  # seconds since the epoch
    from_me: bool = False  # a message this account sent to itself ("self" on the wire)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "from": self.sender, "body": self.body,
                "timestamp": self.timestamp, "self": self.from_me}


@dataclass(slots=True, eq=False)
class Link:
    """One open page connection; `fault` is what hit it (NONE while healthy)."""

    id: int
    device: str
    fault: FaultMode = FaultMode.NONE


@dataclass(frozen=True, slots=True)
class Send:
    """A frame to write to one connection."""

    link: Link
    frame: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class LeakRate:
    """How fast a leaking page grows, and a cap so a forgotten page cannot take the host."""

    bytes_per_second: int = 50 * 2**20
    cap_bytes: int = 2 * 2**30


@dataclass(slots=True)
class ChatSession:
    """One account's chat: created on first use of its id, lives as long as the simulator."""

    id: str
    wall: Callable[[], float]
    new_id: Callable[[], str] = new_message_id
    leak: LeakRate = field(default_factory=LeakRate)
    pending: dict[str, ChatMessage] = field(default_factory=dict)  # inbound, not yet acked
    links: list[Link] = field(default_factory=list)
    devices: set[str] = field(default_factory=set)
    logged_in: bool = True
    sticky: FaultMode = FaultMode.NONE  # re-applied to every new connection
    next_link: FaultMode = FaultMode.NONE  # a one-shot fault posted while nothing was connected
    connections_total: int = 0
    pushed: int = 0
    acked: int = 0
    delivered: int = 0
    echoes: int = 0
    faults_applied: dict[str, int] = field(
        default_factory=lambda: {FaultMode.HANG.value: 0, FaultMode.LEAK.value: 0})
    _link_ids: int = 0

    # -- devices (the login kept in the browser profile) ------------------------------------

    def link_device(self, device: str | None) -> str:
        """The device token a page presents (its cookie); a new profile gets a fresh one."""
        if device is None or device not in self.devices:
            device = device or secrets.token_urlsafe(16)
            self.devices.add(device)  # auto-login: the demo links any browser that asks
        return device

    # -- connections ------------------------------------------------------------------------

    def connect(self, device: str) -> tuple[Link, list[Send]]:
        self._link_ids += 1
        self.connections_total += 1
        link = Link(self._link_ids, self.link_device(device))
        self.links.append(link)
        sends = [Send(link, {"type": "hello", "session": self.id, "device": link.device,
                             "state": self._auth_value()})]
        fault = self.sticky if self.sticky != FaultMode.NONE else self.next_link
        self.next_link = FaultMode.NONE
        if fault != FaultMode.NONE:
            sends += self._hit(link, fault)
        if self.logged_in:
            sends += self._deliver(link, list(self.pending.values()))
        return link, sends

    def disconnect(self, link: Link) -> None:
        if link in self.links:
            self.links.remove(link)

    def receive(self, link: Link, frame: Mapping[str, Any]) -> list[Send]:
        """A frame from the page; a silent connection hears nothing."""
        if link.fault == FaultMode.SILENT:
            return []
        kind = frame.get("type")
        if kind == "ack":
            message = self.pending.pop(str(frame.get("id")), None)
            if message is not None:
                self.acked += 1
        elif kind == "send" and isinstance(frame.get("body"), str) and self.logged_in:
            echo = ChatMessage(self.new_id(), "me", frame["body"], self.wall(), from_me=True)
            self.echoes += 1
            return [send for other in self._open() for send in self._deliver(other, [echo])]
        elif kind == "fault_applied" and frame.get("mode") in self.faults_applied:
            self.faults_applied[frame["mode"]] += 1
        return []

    # -- control API ------------------------------------------------------------------------

    def push(self, sender: str, body: str) -> tuple[ChatMessage, list[Send]]:
        """An inbound message: kept until a page acks it, delivered to every open connection."""
        message = ChatMessage(self.new_id(), sender, body, self.wall())
        self.pending[message.id] = message
        self.pushed += 1
        if not self.logged_in:
            return message, []
        return message, [send for link in self._open() for send in self._deliver(link, [message])]

    def set_fault(self, mode: FaultMode, sticky: bool) -> list[Send]:
        """Hit every open connection (or, with none open, the next one); sticky hits all later ones.

        `none` clears sticky and pending faults, lets silent connections hear again (flushing
        what they missed) and stops a leak; it cannot unhang a page, and does not log in.
        """
        if mode == FaultMode.LOGOUT:
            self.logged_in = False
            return [Send(link, {"type": "auth", "state": "auth_required"}) for link in self._open()]
        self.sticky = mode if sticky else FaultMode.NONE
        if mode == FaultMode.NONE:
            self.next_link = FaultMode.NONE
            sends: list[Send] = []
            for link in self.links:
                if link.fault == FaultMode.SILENT:
                    link.fault = FaultMode.NONE
                    if self.logged_in:
                        sends += self._deliver(link, list(self.pending.values()))
                elif link.fault == FaultMode.LEAK:
                    link.fault = FaultMode.NONE
                    sends.append(Send(link, {"type": "fault", "mode": "none"}))
            return sends
        if not self.links:
            self.next_link = FaultMode.NONE if sticky else mode
            return []
        return [send for link in list(self.links) for send in self._hit(link, mode)]

    def login(self) -> list[Send]:
        """Leave the logout state: pages return to ready and receive what waited meanwhile."""
        if self.logged_in:
            return []
        self.logged_in = True
        sends: list[Send] = []
        for link in self._open():
            sends.append(Send(link, {"type": "auth", "state": "ready"}))
            sends += self._deliver(link, list(self.pending.values()))
        return sends

    def snapshot(self) -> dict[str, Any]:
        return {
            "session": self.id,
            "connections": len(self.links),
            "connections_total": self.connections_total,
            "pushed": self.pushed,
            "acked": self.acked,
            "unacked": len(self.pending),
            "delivered": self.delivered,
            "echoes": self.echoes,
            "fault": self._fault_value(),
            "sticky": self.sticky != FaultMode.NONE,
            "logged_in": self.logged_in,
            "devices": len(self.devices),
            "faults_applied": dict(self.faults_applied),
        }

    # -- internals --------------------------------------------------------------------------

    def _open(self) -> list[Link]:
        """Connections that still hear the server."""
        return [link for link in self.links if link.fault != FaultMode.SILENT]

    def _hit(self, link: Link, mode: FaultMode) -> list[Send]:
        link.fault = mode
        if mode == FaultMode.HANG:
            return [Send(link, {"type": "fault", "mode": "hang"})]
        if mode == FaultMode.LEAK:
            return [Send(link, {"type": "fault", "mode": "leak",
                                "bytes_per_second": self.leak.bytes_per_second,
                                "cap_bytes": self.leak.cap_bytes})]
        return []

    def _deliver(self, link: Link, messages: list[ChatMessage]) -> list[Send]:
        if link.fault == FaultMode.SILENT:
            return []
        self.delivered += sum(not m.from_me for m in messages)
        return [Send(link, {"type": "message", "message": m.to_json()}) for m in messages]

    def _auth_value(self) -> str:
        return "ready" if self.logged_in else "auth_required"

    def _fault_value(self) -> str:
        if self.sticky != FaultMode.NONE:
            return self.sticky.value
        if self.next_link != FaultMode.NONE:
            return self.next_link.value
        for link in reversed(self.links):
            if link.fault != FaultMode.NONE:
                return link.fault.value
        return FaultMode.NONE.value if self.logged_in else FaultMode.LOGOUT.value
