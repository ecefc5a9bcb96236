"""A chat session is the simulator's server-side state for one account: its devices and what waits
for each of them, its open page connections, its faults and its login.

Everything here is synchronous and knows nothing of sockets: each operation returns the frames
to send (`Send`), and `simulator.routes` writes them to the right WebSocket. All of it runs on the
simulator's event-loop thread.

Wire protocol (JSON text frames on the page's WebSocket, `/chat/{session}/ws?device=D`):

server -> page
    {"type": "hello", "session", "device", "state": "connected" | "auth_required"}
        first on every connection (and again when a silent one hears again); `device` is the
        page's device id, a new one when it came without a valid one: the page keeps it
    {"type": "message", "message": {"id", "from", "body", "timestamp", "self"}}
        one the device has not confirmed; sent again on its next connection until it has
    {"type": "ack", "id", "ack": 1 | 2}     the server has the page's message / delivered it
    {"type": "auth", "state": "connected" | "auth_required"}
    {"type": "qr", "qr", "expires_at", "image"}    the login code to show while logged out
    {"type": "fault", "mode": "hang" | "leak" | "none", ...}
page -> server
    {"type": "receipt", "id"}               the message is in the page's store: never send it again
    {"type": "send", "id", "body", "timestamp"}   a message to self, id chosen by the page; sent
                                            again until acknowledged (the server takes it once)
    {"type": "fault_applied", "mode"}       the page is about to hang / has started leaking

A silent connection stays open and hears nothing either way: nothing is sent to it and what it
sends is dropped, so what it misses waits in its device's queue for the next healthy connection.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from simulator.device import DEVICE_ID, Device, new_device_id
from simulator.fault import FaultMode, LeakRate
from simulator.login import Login, ScanOutcome
from simulator.message import MESSAGE_ID, SELF_SENDER, ChatMessage, new_message_id
from simulator.qr import QR_INTERVAL, LoginCode, render_svg

__all__ = ["SENT_LIMIT", "Ack", "ChatSession", "Link", "Send"]

SENT_LIMIT = 10_000  # ids of the newest sends remembered to take a send sent again only once


class Ack(IntEnum):
    """How far a message the page sent has gone (WhatsApp Web's numbers)."""

    PENDING = 0
    SERVER = 1
    DELIVERED = 2


@dataclass(slots=True, eq=False)
class Link:
    """One open page connection of a device; `fault` is what hit it (NONE while healthy)."""

    id: int
    device: Device
    fault: FaultMode = FaultMode.NONE


@dataclass(frozen=True, slots=True)
class Send:
    """A frame to write to one connection."""

    link: Link
    frame: Mapping[str, Any]


@dataclass(slots=True)
class ChatSession:
    """One account's chat: created on first use of its id, lives as long as the simulator."""

    id: str
    wall: Callable[[], float]
    new_id: Callable[[], str] = new_message_id
    leak: LeakRate = field(default_factory=LeakRate)
    qr_interval: float = QR_INTERVAL
    devices: dict[str, Device] = field(default_factory=dict)
    unclaimed: Device = field(default_factory=lambda: Device(""))  # pushed before any device
    links: list[Link] = field(default_factory=list)
    auth: Login = field(init=False)
    sticky: FaultMode = FaultMode.NONE  # re-applied to every new connection
    next_link: FaultMode = FaultMode.NONE  # a one-shot fault posted while nothing was connected
    sent_ids: dict[str, None] = field(default_factory=dict)  # oldest first
    connections_total: int = 0
    pushed: int = 0
    delivered: int = 0
    received: int = 0
    sent: int = 0
    acks_sent: int = 0
    unheard: int = 0
    faults_applied: dict[str, int] = field(
        default_factory=lambda: {FaultMode.HANG.value: 0, FaultMode.LEAK.value: 0})
    _link_ids: int = 0

    def __post_init__(self) -> None:
        self.auth = Login(self.qr_interval)

    @property
    def logged_in(self) -> bool:
        return self.auth.logged_in

    # -- devices (a browser profile each) ---------------------------------------------------

    def device(self, device_id: str | None) -> Device:
        """The device a page says it is; a page without a valid id is a new device.

        An unknown valid id is linked as it is (the demo links any profile that asks, also one
        that was linked before the simulator restarted). The first device takes what was pushed
        before any device existed.
        """
        if device_id is None or not DEVICE_ID.fullmatch(device_id):
            device_id = new_device_id()
        device = self.devices.get(device_id)
        if device is None:
            device = self.devices[device_id] = Device(device_id)
            if len(self.devices) == 1:
                device.queue, self.unclaimed.queue = self.unclaimed.queue, {}
        return device

    # -- connections ------------------------------------------------------------------------

    def connect(self, device_id: str | None) -> tuple[Link, list[Send]]:
        self._link_ids += 1
        self.connections_total += 1
        link = Link(self._link_ids, self.device(device_id))
        self.links.append(link)
        sends = [self._hello(link)]
        fault = self.sticky if self.sticky != FaultMode.NONE else self.next_link
        self.next_link = FaultMode.NONE
        if fault != FaultMode.NONE:
            sends += self._hit(link, fault)
        return link, sends + self._catch_up(link)

    def disconnect(self, link: Link) -> None:
        if link in self.links:
            self.links.remove(link)

    def receive(self, link: Link, frame: Mapping[str, Any]) -> list[Send]:
        """A frame from the page; a silent connection hears nothing."""
        if link not in self.links:
            return []
        if link.fault == FaultMode.SILENT:
            self.unheard += 1
            return []
        kind = frame.get("type")
        if kind == "receipt" and isinstance(frame.get("id"), str):
            self.received += link.device.confirm(frame["id"])
        elif kind == "send":
            return self._accept(link, frame)
        elif kind == "fault_applied" and frame.get("mode") in self.faults_applied:
            self.faults_applied[frame["mode"]] += 1
        return []

    # -- control API ------------------------------------------------------------------------

    def push(self, sender: str, body: str) -> tuple[ChatMessage, list[Send]]:
        """An inbound message: held for every device until it confirms, sent to those connected."""
        message = ChatMessage(self.new_id(), sender, body, self.wall())
        self.pushed += 1
        if not self.devices:
            self.unclaimed.hold(message)
            return message, []
        return message, [s for device in self.devices.values() for s in self._hold(device, message)]

    def set_fault(self, mode: FaultMode, sticky: bool) -> list[Send]:
        """Hit every open connection (or, with none open, the next one); sticky hits all later ones.

        `none` clears sticky and pending faults, lets silent connections hear again (greeted anew,
        then sent what they missed) and stops a leak; it cannot unhang a page, and does not log in.
        """
        if mode == FaultMode.LOGOUT:
            return self._logout()
        self.sticky = mode if sticky else FaultMode.NONE
        if mode == FaultMode.NONE:
            self.next_link = FaultMode.NONE
            sends: list[Send] = []
            for link in self.links:
                if link.fault == FaultMode.SILENT:
                    link.fault = FaultMode.NONE
                    sends += [self._hello(link), *self._catch_up(link)]
                elif link.fault == FaultMode.LEAK:
                    link.fault = FaultMode.NONE
                    sends.append(Send(link, {"type": "fault", "mode": "none"}))
            return sends
        if not self.links:
            self.next_link = FaultMode.NONE if sticky else mode
            return []
        return [send for link in list(self.links) for send in self._hit(link, mode)]

    def login(self) -> list[Send]:
        """Leave the logout state: pages show the chat and receive what waited meanwhile."""
        if not self.auth.log_in():
            return []
        sends: list[Send] = []
        for link in self._open():
            sends.append(Send(link, {"type": "auth", "state": "connected"}))
            sends += self._deliver(link, link.device.waiting())
        return sends

    def scan(self, payload: str) -> tuple[ScanOutcome, list[Send]]:
        """A phone scans `payload`: it logs the account in only if it is the code shown now."""
        outcome = self.auth.scan(payload, self.wall())
        return outcome, self.login() if outcome == ScanOutcome.LOGGED_IN else []

    def refresh_qr(self) -> list[Send]:
        """Send the code shown now to the pages if it changed since they were last sent one."""
        code = None if self.logged_in else self.auth.moved_on(self.wall())
        return [] if code is None else [Send(link, _qr_frame(code)) for link in self._open()]

    def snapshot(self) -> dict[str, Any]:
        code = None if self.logged_in else self.auth.code(self.wall())
        queued = set(self.unclaimed.queue).union(*(d.queue for d in self.devices.values()))
        return {
            "session": self.id,
            "connections": len(self.links),
            "connections_total": self.connections_total,
            "devices": len(self.devices),
            "pushed": self.pushed,
            "delivered": self.delivered,
            "received": self.received,
            "queued": len(queued),
            "discarded": self.unclaimed.discarded + sum(
                d.discarded for d in self.devices.values()),
            "sent": self.sent,
            "acks_sent": self.acks_sent,
            "unheard": self.unheard,
            "fault": self._fault_value(),
            "sticky": self.sticky != FaultMode.NONE,
            "logged_in": self.logged_in,
            "qr": None if code is None else code.payload,
            "qr_expires_at": None if code is None else code.expires_at,
            "faults_applied": dict(self.faults_applied),
        }

    # -- internals --------------------------------------------------------------------------

    def _open(self) -> list[Link]:
        """Connections that still hear the server."""
        return [link for link in self.links if link.fault != FaultMode.SILENT]

    def _hello(self, link: Link) -> Send:
        return Send(link, {"type": "hello", "session": self.id, "device": link.device.id,
                           "state": "connected" if self.logged_in else "auth_required"})

    def _catch_up(self, link: Link) -> list[Send]:
        """What a connection that (again) hears the server is sent after its hello."""
        if link.fault == FaultMode.SILENT:
            return []
        if self.logged_in:
            return self._deliver(link, link.device.waiting())
        changed = self.refresh_qr()  # sent to this connection too when the code moved on
        if changed or self.auth.sent is None:
            return changed
        return [Send(link, _qr_frame(self.auth.sent))]

    def _logout(self) -> list[Send]:
        if not self.auth.log_out(self.wall()):
            return []
        auth = [Send(link, {"type": "auth", "state": "auth_required"}) for link in self._open()]
        return auth + self.refresh_qr()

    def _accept(self, link: Link, frame: Mapping[str, Any]) -> list[Send]:
        """A message the page sends itself: acked by the server, delivered to the account's
        other devices, then acked as delivered. A logged-out device's sends are not taken."""
        message_id, body, timestamp = frame.get("id"), frame.get("body"), frame.get("timestamp")
        if not (isinstance(message_id, str) and MESSAGE_ID.fullmatch(message_id)
                and isinstance(body, str)) or not self.logged_in:
            return []
        if message_id in self.sent_ids:  # its ack was lost: the page sent it again
            return [self._ack(link, message_id, Ack.DELIVERED)]
        self.sent_ids[message_id] = None
        if len(self.sent_ids) > SENT_LIMIT:
            del self.sent_ids[next(iter(self.sent_ids))]
        if (not isinstance(timestamp, int | float) or isinstance(timestamp, bool)
                or not math.isfinite(timestamp)):
            timestamp = self.wall()
        message = ChatMessage(message_id, SELF_SENDER, body, float(timestamp), from_me=True)
        self.sent += 1
        sends = [self._ack(link, message_id, Ack.SERVER)]
        for device in self.devices.values():
            if device is not link.device:
                sends += self._hold(device, message)
        return [*sends, self._ack(link, message_id, Ack.DELIVERED)]

    def _ack(self, link: Link, message_id: str, ack: Ack) -> Send:
        self.acks_sent += 1
        return Send(link, {"type": "ack", "id": message_id, "ack": int(ack)})

    def _hold(self, device: Device, message: ChatMessage) -> list[Send]:
        if not device.hold(message):
            return []
        return [s for link in self._open() if link.device is device
                for s in self._deliver(link, [message])]

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
        if link.fault == FaultMode.SILENT or not self.logged_in:
            return []
        self.delivered += len(messages)
        return [Send(link, {"type": "message", "message": m.to_json()}) for m in messages]

    def _fault_value(self) -> str:
        if self.sticky != FaultMode.NONE:
            return self.sticky.value
        if self.next_link != FaultMode.NONE:
            return self.next_link.value
        for link in reversed(self.links):
            if link.fault != FaultMode.NONE:
                return link.fault.value
        return FaultMode.NONE.value if self.logged_in else FaultMode.LOGOUT.value


def _qr_frame(code: LoginCode) -> dict[str, Any]:
    return {"type": "qr", "qr": code.payload, "expires_at": code.expires_at,
            "image": render_svg(code.payload)}
