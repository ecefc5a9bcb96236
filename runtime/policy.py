"""Policy is what a fault means for a supervisor's children: whom to restart and when, or to stop.

Pure functions over immutable views of the children, a `now` and a random draw, in the manner
of OTP's `add_restart/3` and `restart(Strategy, ...)`: the supervisor reads the clock once,
asks here, and carries out the answer. Nothing here touches an actor, a thread or a timer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from runtime.backoff import backoff_delay
from runtime.intensity import RestartBudget, decide_restart
from runtime.vocabulary import OnExhausted, Reason, Restart, Strategy

__all__ = [
    "ChildView",
    "Decision",
    "Escalate",
    "Fault",
    "GiveUp",
    "Ignore",
    "LetStop",
    "RestartAfter",
    "affected",
    "decide",
    "fresh_restart",
    "start_by_hand",
]


@dataclass(frozen=True, slots=True)
class ChildView:
    """The facts about one child that a restart decision depends on, at the moment of deciding."""

    id: str
    incarnation: int
    running: bool  # an incarnation is up (starting, healthy, unhealthy, waiting for a login...)
    restart: Restart
    budget: RestartBudget
    restarts: tuple[float, ...] = ()  # times of the automatic restarts the budget remembers
    healthy_since: float | None = None
    depends_on: str | None = None  # an earlier sibling whose restart restarts this child
    has_dependents: bool = False  # some later sibling depends on this one


@dataclass(frozen=True, slots=True)
class Fault:
    """A report that incarnation `incarnation` of a child ended, or must be replaced."""

    incarnation: int
    reason: Reason
    detail: str = ""
    normal_exit: bool = False  # it stopped by itself without an error


@dataclass(frozen=True, slots=True)
class RestartAfter:
    """Stop `children` (in start order) and start them again once `delay` seconds have passed."""

    children: tuple[str, ...]
    delay: float
    attempt: int  # 1..max_restarts inside the window; 0 for a restart that spends no budget
    restarts: tuple[float, ...]  # what the failed child's budget remembers from now on


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Stop the child and leave it `failed`: its budget ran out, or it is never restarted.

    With `retry_after` it is started again that many seconds after it failed, budget fresh.
    """

    restarts: tuple[float, ...]
    exhausted: bool
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class Escalate:
    """The child's budget ran out and says so: the supervisor fails, and its parent decides."""

    restarts: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class LetStop:
    """A child that ended normally and is not restarted for that: it is stopped."""


@dataclass(frozen=True, slots=True)
class Ignore:
    """The report is about an incarnation that is no longer running, or asks for nothing."""


Decision = RestartAfter | GiveUp | Escalate | LetStop | Ignore

IGNORE = Ignore()


def decide(
    fault: Fault,
    child: ChildView,
    siblings: Sequence[ChildView],
    strategy: Strategy,
    now: float,
    rand: float,
) -> Decision:
    """What `fault` of `child` leads to at `now`; `siblings` are all children in start order.

    `rand` is a uniform draw in [0, 1) for the backoff's jitter, passed in to keep this pure.
    """
    if fault.incarnation != child.incarnation or not child.running:
        return IGNORE  # late news of an earlier incarnation, or of one being stopped
    if fault.normal_exit and child.restart is not Restart.PERMANENT:
        return LetStop()
    if child.restart is Restart.TEMPORARY:
        return GiveUp(restarts=child.restarts, exhausted=False)
    budget = child.budget
    intensity = decide_restart(child.restarts, now, budget, child.healthy_since)
    if intensity.exhausted:
        if budget.on_exhausted is OnExhausted.ESCALATE:
            return Escalate(restarts=intensity.restarts)
        return GiveUp(restarts=intensity.restarts, exhausted=True, retry_after=budget.cooldown)
    return RestartAfter(
        children=affected(strategy, child, siblings),
        delay=backoff_delay(budget.backoff, intensity.attempt, rand),
        attempt=intensity.attempt,
        restarts=intensity.restarts,
    )


def affected(strategy: Strategy, failed: ChildView,
             siblings: Sequence[ChildView]) -> tuple[str, ...]:
    """The children a failure of `failed` restarts, in start order (OTP's `restart/3` clauses),
    and the running children that depend on those (a rest_for_one within one_for_one).

    Siblings that are not running (stopped, failed, already restarting) are left as they are.
    """
    match strategy:
        case Strategy.ONE_FOR_ONE:
            return with_dependents(failed, siblings)
        case Strategy.REST_FOR_ONE:  # dependents always come later: already among them
            ids = [s.id for s in siblings]
            later = siblings[ids.index(failed.id):]
            return tuple(s.id for s in later if s.id == failed.id or s.running)
        case Strategy.ONE_FOR_ALL:
            return tuple(s.id for s in siblings if s.id == failed.id or s.running)


def with_dependents(child: ChildView, siblings: Sequence[ChildView]) -> tuple[str, ...]:
    """`child` and the running siblings that depend on it, directly or not, in start order."""
    if not child.has_dependents:
        return (child.id,)  # the common case reads no sibling
    chosen = {child.id}
    for sibling in siblings:  # in start order: a dependent comes after what it depends on
        if sibling.running and sibling.depends_on in chosen:
            chosen.add(sibling.id)
    return tuple(s.id for s in siblings if s.id in chosen)


def fresh_restart(child: ChildView, siblings: Sequence[ChildView] = ()) -> RestartAfter:
    """A restart outside the budget: an operator's, a reload's, or the one ending a cooldown.

    It happens at once, restarts only the child and what depends on it, and begins a fresh
    budget.
    """
    children = with_dependents(child, siblings) if siblings else (child.id,)
    return RestartAfter(children=children, delay=0.0, attempt=0, restarts=())


def start_by_hand(child: ChildView) -> RestartAfter | Ignore:
    """An operator's start: a fresh restart of a child that is down; a running one is left be."""
    return IGNORE if child.running else fresh_restart(child)
