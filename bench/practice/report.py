"""A summary is what one design made of a scenario: per fault, per restart, per message.

Detection is from the moment a fault strikes to the restart decision; recovery, to the moment
the next connection hears messages again. A false restart is a restart of a session whose
connection had no fault. A delayed message is one the app had to hold because its session could
not hear it (faulty or restarting); its delay runs until the next connection took it, or until
the end of the day when none did.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.practice.chat import ChatApp
from bench.practice.scenario import FaultKind, Scenario

__all__ = ["FaultRow", "Summary", "summarize"]


@dataclass(frozen=True, slots=True)
class FaultRow:
    kind: FaultKind
    session: str
    profile: str
    at: float
    detected_after: float | None  # None: never acted on that day
    recovered_after: float | None
    reason: str | None
    delayed: int  # messages held because of this fault
    masked: bool = False  # it came while its session was still deaf from an earlier fault


@dataclass(frozen=True, slots=True)
class Summary:
    name: str
    faults: tuple[FaultRow, ...]
    restarts: int
    false_restarts: int
    quiet_false_restarts: int  # of sessions whose profile is "quiet"
    given_up: int
    messages: int
    delays: tuple[float, ...]  # one per delayed message, seconds
    held_at_end: int  # still undelivered when the day ended
    delayed_outside_faults: int  # held by restarts of healthy sessions, or the first start

    def detections(self, kind: FaultKind) -> list[float | None]:
        return [f.detected_after for f in self.faults if f.kind is kind and not f.masked]

    def recoveries(self, kind: FaultKind) -> list[float | None]:
        return [f.recovered_after for f in self.faults if f.kind is kind and not f.masked]

    @property
    def undetected(self) -> int:
        return sum(1 for f in self.faults if f.detected_after is None and not f.masked)

    @property
    def masked(self) -> int:
        return sum(1 for f in self.faults if f.masked)


def summarize(name: str, scenario: Scenario, app: ChatApp, given_up: int) -> Summary:
    """Read `app`'s ledger after a run of `scenario`."""
    end = scenario.duration
    windows: dict[str, list[tuple[float, float]]] = {}
    rows = []
    for record in app.faults:
        fault = record.fault
        profile = scenario.session(fault.session).profile
        if record.struck_at is None:  # never struck: no later connection for it to hit
            rows.append(FaultRow(fault.kind, fault.session, profile, fault.at, None, None, None,
                                 0, masked=True))
            continue
        start = record.struck_at
        stop = record.recovered_at if record.recovered_at is not None else end
        windows.setdefault(fault.session, []).append((start, stop))
        held = sum(1 for arrived, delivered in app.deliveries(fault.session)
                   if start <= arrived < stop and (delivered is None or delivered > arrived))
        rows.append(FaultRow(
            kind=fault.kind, session=fault.session, profile=profile, at=fault.at,
            detected_after=None if record.detected_at is None else record.detected_at - start,
            recovered_after=None if record.recovered_at is None else record.recovered_at - start,
            reason=record.reason, delayed=held))
    delays: list[float] = []
    held_at_end = outside = messages = 0
    for plan in scenario.sessions:
        for arrived, delivered in app.deliveries(plan.id):
            messages += 1
            if delivered is not None and delivered <= arrived:
                continue
            delays.append((end if delivered is None else delivered) - arrived)
            held_at_end += delivered is None
            if not any(a <= arrived < b for a, b in windows.get(plan.id, ())):
                outside += 1
    false = [r for r in app.restarts if r.fault is None]
    quiet = {p.id for p in scenario.sessions if p.profile == "quiet"}
    return Summary(
        name=name, faults=tuple(rows), restarts=len(app.restarts), false_restarts=len(false),
        quiet_false_restarts=sum(1 for r in false if r.session in quiet), given_up=given_up,
        messages=messages, delays=tuple(delays), held_at_end=held_at_end,
        delayed_outside_faults=outside)

