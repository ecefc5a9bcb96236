"""A fault is what the simulator does wrong on purpose: its vocabulary, and how fast a leak is."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["FaultMode", "LeakRate"]


class FaultMode(StrEnum):
    NONE = "none"
    SILENT = "silent"  # connected but deaf: the socket stays open, nothing crosses it either way
    HANG = "hang"  # the page's JS busy-loops forever
    LEAK = "leak"  # the page retains memory fast, up to a cap
    LOGOUT = "logout"  # the page shows the login QR code until a scan or POST /login


@dataclass(frozen=True, slots=True)
class LeakRate:
    """How fast a leaking page grows, and a cap so a forgotten page cannot take the host."""

    bytes_per_second: int = 50 * 2**20
    cap_bytes: int = 2 * 2**30
