"""A scenario is one simulated day of a gateway: who receives what when, and which fault hits whom.

Both designs under comparison run on the same scenario, built once from a seed: inbound
messages per session are a Poisson process whose rate follows the time of day (a night-time
lull), some sessions are quiet (healthy, but nothing for hours), and each fault hits one
session at a random time.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "DIURNAL",
    "MIB",
    "PROFILES",
    "Fault",
    "FaultKind",
    "Scenario",
    "SessionPlan",
    "arrivals",
    "make_scenario",
]

MIB = 2**20

# Share of the daytime rate per hour of the day, 00:00 first: a night-time lull until 07:00.
DIURNAL = (
    0.03, 0.03, 0.03, 0.03, 0.03, 0.03, 0.03, 0.3, 0.7, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.7, 0.7, 0.7, 0.4, 0.4, 0.1,
)

# Daytime messages per hour by kind of account; a fleet cycles through this mix
# (10 sessions: 2 busy, 4 normal, 2 low, 2 quiet).
PROFILES = (("busy", 60.0), ("normal", 12.0), ("normal", 12.0), ("low", 3.0), ("quiet", 0.15))


class FaultKind(StrEnum):
    """What goes wrong with a session's browser (the simulator's fault modes, plus a crash)."""

    SILENT = "silent"  # socket open, page responsive, nothing arrives (whatsapp-web.js #1567)
    HANG = "hang"  # page JS busy-loops: every call into the page blocks
    CRASH = "crash"  # the browser process dies
    LEAK = "leak"  # the page grows memory until the machine thrashes and the page hangs


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """One account: its kind, its daytime rate, and when each inbound message arrives."""

    id: str
    profile: str
    rate_per_hour: float
    arrivals: tuple[float, ...]  # seconds since midnight, ascending


@dataclass(frozen=True, slots=True)
class Fault:
    """A fault that hits the connection `session` has at `at` (seconds since midnight).

    Faults are not sticky: a restart opens a connection that is healthy again.
    """

    kind: FaultKind
    session: str
    at: float


@dataclass(frozen=True, slots=True)
class Scenario:
    """The world both designs face, including how a browser behaves (launch time, memory)."""

    seed: int
    duration: float  # seconds simulated, from midnight
    sessions: tuple[SessionPlan, ...]
    faults: tuple[Fault, ...]
    launch: float = 2.0  # seconds from a (re)start until the session hears messages again
    base_memory: int = 230 * MIB  # an idle tree: ~230 MiB PSS measured here
    leak_rate: float = 2.0 * MIB  # bytes a second while leaking
    oom_at: int = 1536 * MIB  # a leaking page thrashes and stops answering here

    def session(self, session_id: str) -> SessionPlan:
        for plan in self.sessions:
            if plan.id == session_id:
                return plan
        raise KeyError(session_id)

    def deaf_at(self, fault: Fault) -> float:
        """When `fault` stops its session from hearing messages (a leak only once it thrashes)."""
        if fault.kind is FaultKind.LEAK:
            return fault.at + (self.oom_at - self.base_memory) / self.leak_rate
        return fault.at


def arrivals(rng: random.Random, rate_per_hour: float, duration: float) -> tuple[float, ...]:
    """Arrival times of a Poisson process with `rate_per_hour` scaled by `DIURNAL` (thinning)."""
    if rate_per_hour <= 0:
        return ()
    rate = rate_per_hour / 3600.0
    times: list[float] = []
    t = 0.0
    while True:
        t += rng.expovariate(rate)
        if t >= duration:
            return tuple(times)
        if rng.random() < DIURNAL[int(t // 3600) % 24]:
            times.append(t)


def make_scenario(
    seed: int,
    *,
    sessions: int = 10,
    hours: float = 24.0,
    faults_per_kind: int = 2,
    kinds: tuple[FaultKind, ...] = tuple(FaultKind),
) -> Scenario:
    """A day of `sessions` accounts and `faults_per_kind` faults of each kind, from `seed`.

    Faults fall between the first hour and the last; no session gets two faults within two
    hours of each other, so each fault is measured on its own.
    """
    rng = random.Random(seed)
    duration = hours * 3600.0
    plans = []
    for i in range(sessions):
        profile, rate = PROFILES[i % len(PROFILES)]
        plans.append(SessionPlan(f"acct-{i + 1}", profile, rate, arrivals(rng, rate, duration)))
    wanted = [kind for kind in kinds for _ in range(faults_per_kind)]
    rng.shuffle(wanted)
    faults: list[Fault] = []
    start, end = min(3600.0, duration / 4), max(duration - 3600.0, duration * 3 / 4)
    for kind in wanted:
        for _ in range(1000):
            session = rng.choice(plans).id
            at = math.floor(rng.uniform(start, end))
            if all(f.session != session or abs(f.at - at) >= 7200 for f in faults):
                faults.append(Fault(kind, session, float(at)))
                break
    faults.sort(key=lambda f: (f.at, f.session))
    return Scenario(seed=seed, duration=duration, sessions=tuple(plans), faults=tuple(faults))
