"""Today's practice: a health monitor that restarts a session after a long spell without messages.

The design most WhatsApp-Web gateways ship: every 5 minutes look at each session's last inbound
message; older than 30 minutes means "stuck", so restart it; after 3 restarts with no message in
between, give up on it. The client's "ready" event after a (re)start counts as activity, as it
does in those implementations. Restarts are immediate (no backoff). The budget is the runtime's
own `decide_restart` with an unbounded window, reset by an inbound message (or, in the lenient
reading `reset_on_ready`, by every successful reconnection, so it is never spent).
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from bench.practice.chat import ChatApp, Connection
from bench.practice.scenario import Scenario
from runtime.backoff import Backoff, backoff_delay
from runtime.intensity import RestartBudget, decide_restart
from runtime.vocabulary import Reason

__all__ = ["PracticeMonitor", "PracticePolicy", "run_practice"]


@dataclass(frozen=True, slots=True)
class PracticePolicy:
    check_every: float = 300.0
    inactive_after: float = 1800.0
    attempts: int = 3
    reset_on_ready: bool = False
    budget: RestartBudget = field(init=False)

    def __post_init__(self) -> None:
        budget = RestartBudget(max_restarts=self.attempts, window=math.inf,
                               backoff=Backoff(initial=0.0, jitter=0.0), reset_after=math.inf)
        object.__setattr__(self, "budget", budget)


class PracticeMonitor:
    """The monitor's whole state and its decision at each check; it knows only inbound times."""

    def __init__(self, policy: PracticePolicy, sessions: Iterable[str], now: float) -> None:
        self.policy = policy
        self.last_inbound = dict.fromkeys(sessions, now)
        self.restarts: dict[str, tuple[float, ...]] = dict.fromkeys(self.last_inbound, ())
        self.given_up: set[str] = set()
        self.give_ups = 0

    def heard(self, session: str, at: float) -> None:
        """An inbound message: the session works, its attempts start again."""
        self.last_inbound[session] = max(self.last_inbound[session], at)
        self.restarts[session] = ()
        self.given_up.discard(session)

    def ready(self, session: str, at: float) -> None:
        """The client reported ready after a (re)start."""
        self.last_inbound[session] = max(self.last_inbound[session], at)
        if self.policy.reset_on_ready:
            self.restarts[session] = ()

    def check(self, now: float) -> list[tuple[str, float]]:
        """Sessions to restart now, each with its delay before the restart."""
        restart = []
        for session, last in self.last_inbound.items():
            if now - last <= self.policy.inactive_after or session in self.given_up:
                continue
            decision = decide_restart(self.restarts[session], now, self.policy.budget, None)
            if decision.exhausted:
                self.given_up.add(session)
                self.give_ups += 1
                continue
            self.restarts[session] = decision.restarts
            restart.append((session, backoff_delay(self.policy.budget.backoff,
                                                   decision.attempt, 0.0)))
        return restart


_UP, _FAULT, _CHECK = 0, 1, 2  # at equal times: sessions come up, faults strike, then the check


def run_practice(scenario: Scenario, policy: PracticePolicy | None = None) -> tuple[
        ChatApp, PracticeMonitor]:
    """Run the monitor over `scenario`, event by event; the app's ledger and the monitor."""
    policy = policy or PracticePolicy()
    app = ChatApp(scenario)
    ids = [p.id for p in scenario.sessions]
    monitor = PracticeMonitor(policy, ids, 0.0)
    order = itertools.count()
    queue: list[tuple[float, int, int, str]] = []
    for session in ids:
        heapq.heappush(queue, (scenario.launch, _UP, next(order), session))
    for fault in scenario.faults:
        heapq.heappush(queue, (fault.at, _FAULT, next(order), fault.session))
    for k in itertools.count(1):
        if k * policy.check_every >= scenario.duration:
            break
        heapq.heappush(queue, (k * policy.check_every, _CHECK, next(order), ""))
    conns: dict[str, Connection] = {}
    while queue:
        now, kind, _, session = heapq.heappop(queue)
        app.strike(now)
        if kind == _UP:
            conns[session] = app.connect(session, now)
            monitor.ready(session, now)
        elif kind == _CHECK:
            _listen(app, monitor, conns, now)
            for victim, delay in monitor.check(now):
                app.restart(victim, now, Reason.ACTIVITY)
                heapq.heappush(queue, (now + delay + scenario.launch, _UP, next(order), victim))
    _listen(app, monitor, conns, scenario.duration)
    return app, monitor


def _listen(app: ChatApp, monitor: PracticeMonitor, conns: dict[str, Connection],
            now: float) -> None:
    for session, conn in conns.items():
        delivered = app.take(conn, now)
        if delivered:
            monitor.heard(session, delivered[-1])
