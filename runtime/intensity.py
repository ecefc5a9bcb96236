"""Restart intensity: how many automatic restarts a child has had inside its window.

Pure functions over a tuple of restart times, as in OTP's `add_restart/3`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from runtime.backoff import Backoff
from runtime.vocabulary import OnExhausted

__all__ = ["RestartBudget", "RestartDecision", "decide_restart", "in_window"]


@dataclass(frozen=True, slots=True)
class RestartBudget:
    """At most `max_restarts` in `window` seconds; `reset_after` healthy seconds clears it.

    A child given up is tried again `cooldown` seconds after it failed, with a fresh budget
    (None: it stays failed until started by hand).
    """

    max_restarts: int = 3
    window: float = 600.0
    backoff: Backoff = field(default_factory=Backoff)
    reset_after: float = 300.0
    on_exhausted: OnExhausted = OnExhausted.GIVE_UP
    cooldown: float | None = 900.0


@dataclass(frozen=True, slots=True)
class RestartDecision:
    restarts: tuple[float, ...]  # restart times to keep, this one included when allowed
    attempt: int  # 1-based number of this restart inside the window (0 when exhausted)
    exhausted: bool


def in_window(
    restarts: tuple[float, ...],
    now: float,
    budget: RestartBudget,
    healthy_since: float | None,
) -> tuple[float, ...]:
    """The restart times that still count at `now`.

    Times older than the window drop out, and all of them do once the child has been
    healthy for `reset_after` seconds.
    """
    if healthy_since is not None and now - healthy_since >= budget.reset_after:
        return ()
    return tuple(t for t in restarts if now - t < budget.window)


def decide_restart(
    restarts: tuple[float, ...],
    now: float,
    budget: RestartBudget,
    healthy_since: float | None,
) -> RestartDecision:
    """Whether one more failure at `now` may be restarted, and as which attempt."""
    kept = in_window(restarts, now, budget, healthy_since)
    if len(kept) >= budget.max_restarts:
        return RestartDecision(restarts=kept, attempt=0, exhausted=True)
    return RestartDecision(restarts=(*kept, now), attempt=len(kept) + 1, exhausted=False)
