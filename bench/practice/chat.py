"""The chat app, as the sessions of either design see it: connections, faults and held messages.

It stands in for the simulator on simulated time and keeps the ledger both designs
are judged by. A fault hits the connection a session has when it strikes; a restart closes that
connection and the next one is healthy. Messages the session cannot hear (deaf: silent, hung,
crashed, thrashing, or restarting) are held by the app and delivered when the next connection
opens, so none is lost, only delayed. Safe to call from any thread.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from enum import StrEnum

from bench.practice.scenario import Fault, FaultKind, Scenario

__all__ = ["ChatApp", "Connection", "FaultRecord", "RestartRecord", "Symptom"]


class Symptom(StrEnum):
    """What a session's own code notices about its connection."""

    OK = "ok"
    SILENT = "silent"  # nothing looks wrong from inside; nothing arrives
    HUNG = "hung"  # every call into the page blocks
    CRASHED = "crashed"  # the browser is gone


@dataclass(slots=True)
class FaultRecord:
    """One fault and what became of it: when it struck, was acted on, and was over."""

    fault: Fault
    struck_at: float | None = None
    deaf_at: float = math.inf
    detected_at: float | None = None
    reason: str | None = None
    recovered_at: float | None = None


@dataclass(frozen=True, slots=True)
class RestartRecord:
    """A restart decision; `fault` is None for a false restart (the connection was healthy)."""

    session: str
    at: float
    reason: str
    fault: FaultKind | None


@dataclass(slots=True)
class Connection:
    session: str
    number: int
    opened_at: float
    fault: FaultRecord | None = None
    closed_at: float | None = None

    def deaf_from(self) -> float:
        """From when this connection hears nothing (a fault, or its close)."""
        deaf = self.fault.deaf_at if self.fault is not None else math.inf
        return deaf if self.closed_at is None else min(deaf, self.closed_at)


@dataclass(slots=True)
class _Account:
    arrivals: tuple[float, ...]
    delivered: list[float | None]
    next_message: int = 0
    connection: Connection | None = None
    connections: int = 0
    queued: list[FaultRecord] = field(default_factory=list)  # strike the next connection
    recovering: FaultRecord | None = None


class ChatApp:
    """Every session's messages, connections and faults, on simulated seconds since midnight."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self._lock = threading.Lock()
        self._accounts = {p.id: _Account(p.arrivals, [None] * len(p.arrivals))
                          for p in scenario.sessions}
        self.faults = [FaultRecord(f) for f in scenario.faults]
        self._unstruck = list(self.faults)
        self.restarts: list[RestartRecord] = []
        self.given_up: list[tuple[str, float]] = []

    # --- the world moving on --------------------------------------------------------------------

    def next_fault_at(self, now: float) -> float | None:
        """When the next fault strikes after `now`, if one is still to come."""
        with self._lock:
            later = [r.fault.at for r in self._unstruck if r.fault.at > now]
            return min(later, default=None)

    def strike(self, now: float) -> None:
        """Let every fault due by `now` hit its session's current connection (or its next one)."""
        with self._lock:
            for record in [r for r in self._unstruck if r.fault.at <= now + 1e-6]:
                self._unstruck.remove(record)
                account = self._accounts[record.fault.session]
                conn = account.connection
                if conn is not None and conn.closed_at is None and conn.fault is None:
                    self._hit(conn, record, record.fault.at)
                else:
                    account.queued.append(record)

    def _hit(self, conn: Connection, record: FaultRecord, at: float) -> None:
        conn.fault = record
        record.struck_at = at
        record.deaf_at = at + self.scenario.deaf_at(record.fault) - record.fault.at

    def calm(self) -> bool:
        """No fault is striking any session now (the faults still to come aside)."""
        with self._lock:
            return not any(a.queued or (a.connection is not None and a.connection.fault
                                        is not None and a.connection.closed_at is None)
                           for a in self._accounts.values())

    # --- what a session does --------------------------------------------------------------------

    def connect(self, session: str, now: float) -> Connection:
        """A (re)started session is up: a fresh connection; the fault it replaces is over."""
        with self._lock:
            account = self._accounts[session]
            if account.recovering is not None:
                account.recovering.recovered_at = now
                account.recovering = None
            account.connections += 1
            conn = Connection(session, account.connections, now)
            account.connection = conn
            if account.queued:
                self._hit(conn, account.queued.pop(0), now)
            return conn

    def symptom(self, conn: Connection, now: float) -> Symptom:
        record = conn.fault
        if record is None or record.struck_at is None or now < record.struck_at:
            return Symptom.OK
        kind = record.fault.kind
        if kind is FaultKind.SILENT:
            return Symptom.SILENT
        if kind is FaultKind.CRASH:
            return Symptom.CRASHED
        if kind is FaultKind.HANG or now >= record.deaf_at:
            return Symptom.HUNG
        return Symptom.OK

    def memory(self, conn: Connection, now: float) -> int:
        """The browser tree's memory: flat, unless its connection is leaking."""
        s = self.scenario
        record = conn.fault
        if record is None or record.struck_at is None or record.fault.kind is not FaultKind.LEAK:
            return s.base_memory
        return int(s.base_memory + s.leak_rate * max(0.0, now - record.struck_at))

    def echoes(self, conn: Connection, now: float) -> bool:
        """Whether a canary sent now comes back (at once: the round trip is milliseconds)."""
        return now < conn.deaf_from() and self.symptom(conn, now) is Symptom.OK

    def take(self, conn: Connection, now: float) -> list[float]:
        """Deliver what `conn` can hear by `now`; when each of those messages was delivered."""
        with self._lock:
            account = self._accounts[conn.session]
            if account.connection is not conn or now < conn.opened_at:
                return []
            deaf = conn.deaf_from()
            times: list[float] = []
            i = account.next_message
            while i < len(account.arrivals):
                arrived = account.arrivals[i]
                if arrived > now or arrived >= deaf:
                    break
                account.delivered[i] = delivered = max(arrived, conn.opened_at)
                times.append(delivered)
                i += 1
            account.next_message = i
            return times

    # --- what a supervisor or monitor decides ---------------------------------------------------

    def restart(self, session: str, now: float, reason: str) -> RestartRecord:
        """A restart of `session` is decided at `now`: its connection closes from now on."""
        with self._lock:
            account = self._accounts[session]
            conn = account.connection
            record = None
            if conn is not None and conn.closed_at is None:
                conn.closed_at = now
                record = conn.fault
            elif account.recovering is not None:
                record = account.recovering  # a second restart before the first one came up
            if record is not None and record.detected_at is None:
                record.detected_at, record.reason = now, reason
            if record is not None:
                account.recovering = record
            decision = RestartRecord(session, now, reason,
                                     None if record is None else record.fault.kind)
            self.restarts.append(decision)
            return decision

    def give_up(self, session: str, now: float) -> None:
        """The session is stopped for good at `now` (a restart budget ran out)."""
        with self._lock:
            conn = self._accounts[session].connection
            if conn is not None and conn.closed_at is None:
                conn.closed_at = now
            self.given_up.append((session, now))

    # --- the ledger -----------------------------------------------------------------------------

    def deliveries(self, session: str) -> list[tuple[float, float | None]]:
        """(arrived, delivered or None) for every message of `session`."""
        with self._lock:
            account = self._accounts[session]
            return list(zip(account.arrivals, account.delivered, strict=True))

    def connections(self, session: str) -> int:
        with self._lock:
            return self._accounts[session].connections
