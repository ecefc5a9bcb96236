"""An account is the WhatsApp server's side of one phone number, as the double plays it: the
browsers (devices) linked to it, what waits for each, its login QR refs and pairing codes, and
the faults a test injected (the frames it exchanges with pages: `tests.whatsapp.wire`).

Everything here is synchronous and knows nothing of sockets or timers: each operation returns
the frames to send (`Send`); `tests.whatsapp.double` writes them to the right WebSocket and
schedules the timed parts (QR ref rotation, server acks, delayed decryption). All of it runs on
the double's event-loop thread.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.whatsapp.wire import (
    BLOCKING_STATES,
    FaultMode,
    Link,
    OwnMessage,
    Send,
    WaMessage,
    new_message_key,
    new_pairing_code,
    new_ref,
)

__all__ = ["Account"]


@dataclass(slots=True)
class Account:
    """One phone number's server side; created with the double, lives as long as it does."""

    phone: str
    lid: str
    wall: Callable[[], float]
    platform: str = "WEB"
    qr_refs: int = 6  # refs shown before the QR goes idle (UNPAIRED_IDLE)
    auto_link: bool = True  # a new browser is linked at its first hello (as if scanned earlier)
    new_key: Callable[[], str] = new_message_key
    links: list[Link] = field(default_factory=list)
    linked: set[str] = field(default_factory=set)
    logged_out: bool = False  # set by a logout: nothing is linked again without a scan
    revoked: set[str] = field(default_factory=set)  # browsers a logout unlinked: never again
    queues: dict[str, dict[str, Mapping[str, Any]]] = field(default_factory=dict)
    unclaimed: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    messages: dict[str, WaMessage] = field(default_factory=dict)
    own: dict[str, OwnMessage] = field(default_factory=dict)
    deliveries: Counter[str] = field(default_factory=Counter)
    receipts: list[str] = field(default_factory=list)
    sticky: FaultMode = FaultMode.NONE
    next_link: FaultMode = FaultMode.NONE
    next_load: FaultMode = FaultMode.NONE
    connections_total: int = 0
    pushed: int = 0
    faults_applied: Counter[str] = field(default_factory=Counter)
    last_state: str = "UNLAUNCHED"
    _link_ids: int = 0

    @property
    def wid(self) -> str:
        return f"{self.phone}@c.us"

    @property
    def lid_wid(self) -> str:
        return f"{self.lid}@lid"

    # -- connections ------------------------------------------------------------------------

    def connect(self) -> Link:
        self._link_ids += 1
        self.connections_total += 1
        link = Link(self._link_ids)
        self.links.append(link)
        return link

    def disconnect(self, link: Link) -> None:
        if link in self.links:
            self.links.remove(link)

    def receive(self, link: Link, frame: Mapping[str, Any]) -> list[Send]:
        """A frame from the page. A deaf connection is heard only for its state reports."""
        kind = frame.get("type")
        if kind == "state" and isinstance(frame.get("state"), str):
            link.state = self.last_state = frame["state"]
        elif kind == "fault_applied" and isinstance(frame.get("mode"), str):
            self.faults_applied[frame["mode"]] += 1
        elif kind == "hello" and not link.device:
            return self._hello(link, frame)
        elif not link.hears():
            return []
        elif kind == "receipt" and isinstance(frame.get("rid"), str):
            if self.queues.get(link.device, {}).pop(frame["rid"], None) is not None:
                self.receipts.append(frame["rid"])
        elif kind == "refresh_qr" and not link.paired:
            return self._show_ref(link, restart=True)
        elif kind == "logout" and link.paired:
            return self._logout(only=link.device)
        elif kind == "pair_request" and not link.paired and isinstance(frame.get("phone"), str):
            link.pair_phone = "".join(ch for ch in frame["phone"] if ch.isdigit())
            link.pair_code = new_pairing_code()
            return [Send(link, {"type": "pair_code", "code": link.pair_code})]
        return []

    def outgoing(self, link: Link, frame: Mapping[str, Any]) -> OwnMessage | None:
        """An own message the page sent ("send"); None when it is not heard or not valid.

        A resend of a known message changes nothing and answers it again with its ack.
        """
        raw = frame.get("message")
        if frame.get("type") != "send" or not link.hears() or not link.paired \
                or not isinstance(raw, Mapping):
            return None
        key, to, body, t = raw.get("id"), raw.get("to"), raw.get("body"), raw.get("t")
        if not (isinstance(key, str) and key and isinstance(to, str) and "@" in to
                and isinstance(body, str) and isinstance(t, int)):
            return None
        message = WaMessage(key, self.wid, to, body, t, from_me=True)
        known = self.own.get(message.id)
        if known is None:
            known = self.own[message.id] = OwnMessage(message, link.device)
        return known

    def ack(self, own: OwnMessage, level: int) -> list[Send]:
        """The server acks an own message; at 1 a message to self reaches the other devices."""
        first = own.ack < 1 <= level
        own.ack = max(own.ack, level)
        sends = [Send(link, {"type": "ack", "id": own.message.id, "ack": own.ack})
                 for link in self.links if link.device == own.device and link.hears()]
        if first and own.message.recipient == self.wid:
            item = {"type": "message", "rid": own.message.id, "message": own.message.to_json()}
            for device in self.linked - {own.device}:
                sends += self._enqueue(device, item)
        return sends

    # -- control API ------------------------------------------------------------------------

    def push(self, sender: str, body: str, *, ciphertext: bool = False
             ) -> tuple[WaMessage, list[Send]]:
        """An inbound message: waits for every linked browser until it sends its receipt."""
        message = WaMessage(self.new_key(), sender, self.wid, body, int(self.wall()),
                            ciphertext=ciphertext)
        self.messages[message.id] = message
        self.pushed += 1
        item = {"type": "message", "rid": message.id, "message": message.to_json()}
        if not self.linked:
            self.unclaimed[message.id] = item
            return message, []
        return message, [send for device in sorted(self.linked)
                         for send in self._enqueue(device, item)]

    def decrypt(self, message_id: str) -> list[Send]:
        """A ciphertext message becomes readable: queued copies are replaced, stored ones told."""
        message = self.messages.get(message_id)
        if message is None or not message.ciphertext:
            raise KeyError(message_id)
        plain = WaMessage(message.key, message.sender, message.recipient, message.body,
                          message.t)
        self.messages[message_id] = plain
        replaced = {"type": "message", "rid": message_id, "message": plain.to_json()}
        if message_id in self.unclaimed:
            self.unclaimed[message_id] = replaced
        sends: list[Send] = []
        for device in sorted(self.linked):
            queue = self.queues.setdefault(device, {})
            connected = any(link.device == device and link.paired for link in self.links)
            if message_id in queue:
                queue[message_id] = replaced  # what waits goes out readable
            if message_id not in queue or connected:  # what the page may hold is told
                sends += self._enqueue(device, {"type": "decrypt", "rid": f"{message_id}:plain",
                                                "id": message_id, "body": plain.body})
        return sends

    def set_fault(self, mode: FaultMode, sticky: bool) -> list[Send]:
        """Hit every open connection (or, with none open, the next one); sticky hits later ones.

        `none` clears sticky and pending faults and lets deaf connections hear again (flushing
        what they missed); it cannot unhang a page, end a conflict or log in.
        """
        if mode == FaultMode.LOGOUT:
            return self._logout()
        if mode == FaultMode.NO_LOADER:
            self.sticky = mode if sticky else FaultMode.NONE
            self.next_load = FaultMode.NONE if sticky else mode
            return []
        self.sticky = mode if sticky else FaultMode.NONE
        if mode == FaultMode.NONE:
            self.next_link = self.next_load = FaultMode.NONE
            sends: list[Send] = []
            for link in self.links:
                if link.fault == FaultMode.DEAF:
                    link.fault = FaultMode.NONE
                    if link.paired:
                        sends += self._backlog(link)
            return sends
        open_links = [link for link in self.links if link.device]
        if not open_links:
            self.next_link = FaultMode.NONE if sticky else mode
            return []
        return [send for link in open_links for send in self._hit(link, mode)]

    def page_fault(self) -> FaultMode:
        """The fault a page load gets (`no_loader`); a one-shot one is used up."""
        fault = self.next_load if self.next_load != FaultMode.NONE else self.sticky
        self.next_load = FaultMode.NONE
        return FaultMode.NO_LOADER if fault == FaultMode.NO_LOADER else FaultMode.NONE

    def block(self, state: str) -> list[Send]:
        """Tell every open page the server refuses it (TOS_BLOCK and the like)."""
        if state not in BLOCKING_STATES:
            raise ValueError(state)
        return [Send(link, {"type": "state", "state": state}) for link in self.links
                if link.device]

    def scan(self, payload: str) -> list[Send] | None:
        """The phone scans a QR: links the browser showing `payload` now; None if none does."""
        for link in self.links:
            if not link.paired and link.ref is not None and self.qr_payload(link) == payload:
                return self._link(link)
        return None

    def stale(self, payload: str) -> bool:
        ref = payload.split(",", 1)[0]
        return any(ref in link.old_refs for link in self.links)

    def confirm_code(self, code: str) -> list[Send] | None:
        """The user types a pairing code on the phone: links the browser that asked for it."""
        for link in self.links:
            if not link.paired and link.pair_code is not None \
                    and link.pair_code == code.replace("-", "").upper() \
                    and link.pair_phone == self.phone:
                return self._link(link)
        return None

    def login(self) -> list[Send]:
        """Test shortcut: link every browser that shows the login screen."""
        self.logged_out = False
        return [send for link in list(self.links)
                if link.device and not link.paired for send in self._link(link)]

    def qr_payload(self, link: Link) -> str | None:
        if link.ref is None:
            return None
        keys = link.keys
        return ",".join([link.ref, keys.get("static", ""), keys.get("identity", ""),
                         keys.get("adv", ""), self.platform])

    def rotate_ref(self, link: Link) -> list[Send]:
        """The next QR ref for a browser on the login screen; after the last one, idle."""
        if link.paired or link.ref is None or link not in self.links:
            return []
        return self._show_ref(link, restart=False)

    def snapshot(self) -> dict[str, Any]:
        showing = [link for link in self.links if not link.paired and link.ref is not None]
        return {
            "wid": self.wid,
            "connections": len(self.links),
            "connections_total": self.connections_total,
            "pushed": self.pushed,
            "received": len(self.receipts),
            "receipts": list(self.receipts),
            "queued": len(self.unclaimed) + sum(len(q) for q in self.queues.values()),
            "deliveries": dict(self.deliveries),
            "sent": [{"id": own.message.id, "to": own.message.recipient,
                      "body": own.message.body, "ack": own.ack} for own in self.own.values()],
            "fault": self._fault_value(),
            "sticky": self.sticky != FaultMode.NONE,
            "logged_in": bool(self.linked),
            "devices": len(self.linked),
            "qr": self.qr_payload(showing[-1]) if showing else None,
            "pairing_code": next((link.pair_code for link in reversed(self.links)
                                  if not link.paired and link.pair_code), None),
            "state": self.last_state,
            "faults_applied": dict(self.faults_applied),
        }

    # -- internals --------------------------------------------------------------------------

    def _hello(self, link: Link, frame: Mapping[str, Any]) -> list[Send]:
        device, keys = frame.get("device"), frame.get("keys")
        if not isinstance(device, str) or not device:
            return []
        link.device = device
        if isinstance(keys, Mapping):
            link.keys = {k: str(v) for k, v in keys.items() if k in ("static", "identity", "adv")}
        sends: list[Send] = []
        for other in self.links:  # the same browser session open elsewhere loses it
            if other is not link and other.device == device and other.fault != FaultMode.CONFLICT:
                sends += self._hit(other, FaultMode.CONFLICT)
        fault = self.sticky if self.sticky != FaultMode.NONE else self.next_link
        self.next_link = FaultMode.NONE
        if (fault == FaultMode.CONFLICT and frame.get("takeover") is True) \
                or fault == FaultMode.NO_LOADER:
            fault = FaultMode.NONE
        known = device in self.linked
        if not known and (not self.auto_link or self.logged_out or device in self.revoked):
            sends.append(Send(link, {"type": "unpaired"}))
            return sends + self._show_ref(link, restart=True)
        if fault == FaultMode.CONFLICT:
            link.paired = True
            return sends + self._hit(link, fault)
        if fault == FaultMode.DEAF:
            link.fault = fault  # before linking: it hears CONNECTED and nothing after that
        sends += self._link(link, announce=False)
        if fault == FaultMode.HANG:
            sends += self._hit(link, fault)
        return sends

    def _link(self, link: Link, *, announce: bool = True) -> list[Send]:
        self.logged_out = False
        first = not self.linked
        self.linked.add(link.device)
        queue = self.queues.setdefault(link.device, {})
        if first:
            queue.update(self.unclaimed)
            self.unclaimed.clear()
        link.paired, link.ref, link.pair_code = True, None, None
        sends = []
        if announce:
            sends.append(Send(link, {"type": "paired", "wid": self.wid, "lid": self.lid_wid}))
        sends.append(Send(link, {"type": "ready", "wid": self.wid, "lid": self.lid_wid}))
        if link.hears():
            sends += self._backlog(link)
        return sends

    def _backlog(self, link: Link) -> list[Send]:
        items = list(self.queues.get(link.device, {}).values())
        for item in items:
            self.deliveries[str(item["rid"])] += 1
        return [Send(link, frame) for frame in
                [{"type": "offline", "count": len(items)}, *items, {"type": "synced"}]]

    def _enqueue(self, device: str, item: Mapping[str, Any]) -> list[Send]:
        self.queues.setdefault(device, {})[str(item["rid"])] = item
        sends = []
        for link in self.links:
            if link.device == device and link.paired and link.hears():
                self.deliveries[str(item["rid"])] += 1
                sends.append(Send(link, item))
        return sends

    def _show_ref(self, link: Link, *, restart: bool) -> list[Send]:
        if restart:
            link.refs_left = self.qr_refs
        if link.ref is not None:
            link.old_refs.add(link.ref)
        if link.refs_left <= 0:
            link.ref = None
            return [Send(link, {"type": "idle"})]
        link.refs_left -= 1
        link.ref = new_ref()
        return [Send(link, {"type": "ref", "ref": link.ref})]

    def _hit(self, link: Link, mode: FaultMode) -> list[Send]:
        link.fault = mode
        if mode == FaultMode.HANG:
            return [Send(link, {"type": "fault", "mode": "hang"})]
        if mode == FaultMode.CONFLICT:
            return [Send(link, {"type": "conflict"})]
        return []

    def _logout(self, only: str | None = None) -> list[Send]:
        """Unlink every browser (or `only` one, which logged itself out)."""
        gone = set(self.linked) if only is None else {only}
        self.logged_out = True
        self.revoked |= gone
        self.linked -= gone
        for device in gone:
            self.queues.pop(device, None)
        sends = []
        for link in self.links:
            if link.device in gone:
                link.paired = False
                sends.append(Send(link, {"type": "logout"}))
        return sends

    def _fault_value(self) -> str:
        for pending in (self.sticky, self.next_link, self.next_load):
            if pending != FaultMode.NONE:
                return pending.value
        for link in reversed(self.links):
            if link.fault != FaultMode.NONE:
                return link.fault.value
        return FaultMode.LOGOUT.value if self.logged_out else FaultMode.NONE.value
