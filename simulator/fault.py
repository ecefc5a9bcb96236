"""A fault is what the simulator does wrong on purpose: its vocabulary, and how fast a leak is."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["LINK_FAULTS", "FaultMode", "LeakRate"]


class FaultMode(StrEnum):
    NONE = "none"
    SILENT = "silent"  # socket stays open, nothing arrives either way (whatsapp-web.js #1567)
    HANG = "hang"  # the page's JS busy-loops forever
    LEAK = "leak"  # the page retains memory fast, up to a cap
    LOGOUT = "logout"  # the page shows the login QR code until a scan or POST /login


# Faults a connection carries (logout belongs to the session, not to one connection).
LINK_FAULTS = frozenset({FaultMode.SILENT, FaultMode.HANG, FaultMode.LEAK})


@dataclass(frozen=True, slots=True)
class LeakRate:
    """How fast a leaking page grows, and a cap so a forgotten page cannot take the host."""

    bytes_per_second: int = 50 * 2**20
    cap_bytes: int = 2 * 2**30
