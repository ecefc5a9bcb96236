"""A verdict says what became of one injected fault: caught by the restart it should cause,
swallowed by a restart already under way or by a kill of the runtime, caught for the wrong
reason, or missed; and which restarts no fault explains.

Pure functions over the soak's records: the faults injected and the webhooks received.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from tests.soak.injector import EXPECTED_REASON, Fault, Injection
from tests.soak.receiver import Received

__all__ = [
    "MATCH_WINDOW",
    "Outcome",
    "Restart",
    "Verdict",
    "event_time",
    "metrics_mismatch",
    "restart_matches",
    "restarts_of",
]

MATCH_WINDOW = 90.0  # seconds from a fault to the restart it causes, at most
ALREADY = 1.0  # a restart decided this soon after a fault was under way before it


def event_time(event: Received) -> float:
    return datetime.fromisoformat(event.timestamp.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True, slots=True)
class Restart:
    session: str
    reason: str
    at: float
    event_id: str


class Verdict(StrEnum):
    """What became of one injected fault."""

    DETECTED = "detected"  # the restart (or auth_required) it should cause
    DONE = "done"  # a fault of the whole system (receiver, runtime): nothing to match
    ALREADY_RESTARTING = "already_restarting"  # a restart decided before it could act
    RUNTIME_KILLED = "runtime_killed"  # the runtime was killed before it was caught
    WRONG_REASON = "wrong_reason"  # the session restarted, but for another reason
    MISSED = "missed"  # no restart at all


@dataclass(frozen=True, slots=True)
class Outcome:
    injection: Injection
    verdict: Verdict
    latency: float | None = None  # seconds from the fault to the restart decision
    reason: str | None = None  # of the restart that met the fault
    note: str = ""


def restarts_of(events: Sequence[Received]) -> list[Restart]:
    unique = {e.id: e for e in events if e.type == "session.restarting"}
    return sorted((Restart(e.session_id, str(e.data.get("reason")), event_time(e), e.id)
                   for e in unique.values()), key=lambda r: r.at)


def restart_matches(injections: Sequence[Injection], restarts: Sequence[Restart],
                    events: Sequence[Received]) -> tuple[list[Outcome], list[Restart]]:
    """Each fault's outcome, and the restarts no fault explains."""
    kills = [i.at for i in injections if i.fault is Fault.RUNTIME_KILL]
    used: set[str] = set()
    outcomes: dict[int, Outcome] = {}
    for n, inj in enumerate(injections):  # first the restarts with the expected reason
        reason = EXPECTED_REASON.get(inj.fault)
        if reason is None:
            continue
        for r in restarts:
            if (r.event_id not in used and r.session == inj.session and r.reason == reason
                    and inj.at - 0.5 <= r.at <= inj.at + MATCH_WINDOW):
                used.add(r.event_id)
                outcomes[n] = Outcome(inj, Verdict.DETECTED, r.at - inj.at, r.reason)
                break
    for n, inj in enumerate(injections):
        if n in outcomes:
            continue
        if inj.fault is Fault.LOGOUT:
            outcomes[n] = _logout_outcome(inj, events)
            continue
        if inj.fault not in EXPECTED_REASON:
            outcomes[n] = Outcome(inj, Verdict.DONE, note=inj.detail)
            continue
        other = next((r for r in restarts if r.event_id not in used and r.session == inj.session
                      and inj.at - 2.0 <= r.at <= inj.at + MATCH_WINDOW), None)
        killed = next((k for k in kills if inj.at <= k <= inj.at + MATCH_WINDOW), None)
        if other is not None and other.at <= inj.at + ALREADY:
            used.add(other.event_id)
            outcomes[n] = Outcome(inj, Verdict.ALREADY_RESTARTING, reason=other.reason)
        elif killed is not None and (other is None or killed < other.at):
            outcomes[n] = Outcome(inj, Verdict.RUNTIME_KILLED,
                                   note=f"{killed - inj.at:.1f}s later")
        elif other is not None:
            used.add(other.event_id)
            outcomes[n] = Outcome(inj, Verdict.WRONG_REASON, other.at - inj.at, other.reason)
        else:
            outcomes[n] = Outcome(inj, Verdict.MISSED, note=inj.detail)
    return ([outcomes[n] for n in range(len(injections))],
            [r for r in restarts if r.event_id not in used])


def _logout_outcome(inj: Injection, events: Sequence[Received]) -> Outcome:
    end = (inj.until or inj.at) + MATCH_WINDOW
    seen = [event_time(e) for e in events if e.type == "session.auth_required"
            and e.session_id == inj.session and inj.at - 0.5 <= event_time(e) <= end]
    if seen:
        return Outcome(inj, Verdict.DETECTED, min(seen) - inj.at)
    return Outcome(inj, Verdict.MISSED, note="no session.auth_required")


def metrics_mismatch(metrics: Mapping[tuple[str, str], float], events: Sequence[Received],
                     since: float) -> list[str]:
    """Where warden_session_restarts_total of the last runtime start disagrees with the
    session.restarting webhooks decided since then."""
    counted = Counter((r.session, r.reason) for r in restarts_of(events) if r.at >= since)
    keys = set(counted) | {k for k, v in metrics.items() if v}
    return [f"metrics say {metrics.get(k, 0):g} restarts of {k[0]} for {k[1]}, "
            f"webhooks {counted.get(k, 0)}" for k in sorted(keys)
            if metrics.get(k, 0) != counted.get(k, 0)]
