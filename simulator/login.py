"""A login is whether an account is logged in; while it is not, a login attempt shows a code that
changes every interval, and only a scan of the code shown now logs the account in again."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from simulator.qr import QR_INTERVAL, LoginCode, QrRotation

__all__ = ["Login", "ScanOutcome"]


class ScanOutcome(StrEnum):
    LOGGED_IN = "logged_in"
    STALE = "stale"  # a code of this login attempt that is no longer shown
    WRONG = "wrong"  # never shown by this session
    NOT_WAITING = "not_waiting"  # logged in: no code is shown


@dataclass(slots=True)
class Login:
    interval: float = QR_INTERVAL
    rotation: QrRotation | None = None  # the login attempt while logged out
    sent: LoginCode | None = None  # the code the pages were last sent

    @property
    def logged_in(self) -> bool:
        return self.rotation is None

    def log_out(self, now: float) -> bool:
        """Begin a login attempt; False when one is already under way (it goes on)."""
        if self.rotation is not None:
            return False
        self.rotation = QrRotation.begin(now, self.interval)
        self.sent = None
        return True

    def log_in(self) -> bool:
        """End the login attempt; False when logged in already."""
        if self.rotation is None:
            return False
        self.rotation = self.sent = None
        return True

    def code(self, now: float) -> LoginCode | None:
        """The code shown at `now`; None while logged in."""
        return None if self.rotation is None else self.rotation.at(now)

    def moved_on(self, now: float) -> LoginCode | None:
        """The code shown at `now` if the pages have not been sent it yet (it counts as sent)."""
        code = self.code(now)
        if code is None or code == self.sent:
            return None
        self.sent = code
        return code

    def scan(self, payload: str, now: float) -> ScanOutcome:
        """What a phone scanning `payload` at `now` achieves; the caller logs in on LOGGED_IN."""
        if self.rotation is None:
            return ScanOutcome.NOT_WAITING
        if payload == self.rotation.at(now).payload:
            return ScanOutcome.LOGGED_IN
        if self.rotation.is_stale(payload, now):
            return ScanOutcome.STALE
        return ScanOutcome.WRONG
