"""Shutdown is how one child is ended: ask it to stop, wait, kill its resources, then abandon it.

A hung child cannot be stopped by a message. Its kill hooks free it from outside (killing its
browser makes the blocked call raise); a thread that still does not exit is left behind and
reported, never waited on forever.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum
from typing import Any

import pykka

from runtime.context import ChildContext
from runtime.spec import ChildSpec

__all__ = ["Outcome", "Victim", "shut_down", "shut_down_all"]

logger = logging.getLogger(__name__)


# A child to end: its actor (None if it never started or already let go) and its context.
Victim = tuple["pykka.ActorRef[Any] | None", ChildContext, ChildSpec]

# Side-by-side stops use at most this many threads: waiting on a stop is mostly idle, and
# 5,000 children must not mean 5,000 threads.
MAX_PARALLEL_STOPS = 32


class Outcome(StrEnum):
    """How one child ended."""

    STOPPED = "stopped"  # it ended by itself after being asked
    KILLED = "killed"  # it ended after its kill hooks ran
    ABANDONED = "abandoned"  # its thread is still blocked; left behind


def shut_down(
    ref: pykka.ActorRef[Any] | None, ctx: ChildContext, spec: ChildSpec, *, graceful: bool
) -> Outcome:
    """End one child; blocks the calling thread for at most twice `spec.shutdown_timeout`.

    With `graceful=False` (the child is known to be hung) the kill comes first.
    Kill hooks always run at the end, so resources of a child that ended badly are freed too.
    """
    timeout = spec.shutdown_timeout
    if graceful:
        _ask_to_stop(ref)
        if _wait_ended(ref, ctx, timeout):
            _kill(ctx, spec)
            return Outcome.STOPPED
    _kill(ctx, spec)
    _ask_to_stop(ref)
    if _wait_ended(ref, ctx, timeout):
        _kill(ctx, spec)
        return Outcome.KILLED
    logger.error("child %s did not exit %.1fs after its kill: abandoning its thread",
                 ctx.child_id, timeout)
    return Outcome.ABANDONED


def shut_down_all(
    victims: Sequence[Victim], *, graceful: bool, parallel: bool = False, name: str = "warden-stop"
) -> list[Outcome]:
    """End `victims` one after the other in the order given, or side by side with `parallel`:
    then a victim that others depend on (`ChildSpec.depends_on`) ends after all of them."""
    if not parallel or len(victims) < 2:
        return [shut_down(ref, ctx, spec, graceful=graceful) for ref, ctx, spec in victims]
    depended = {spec.depends_on for _, _, spec in victims if spec.depends_on is not None}
    first = [v for v in victims if v[2].id not in depended]
    last = [v for v in victims if v[2].id in depended]
    if not first:  # a dependency loop cannot be declared (SupervisorSpec refuses it)
        first, last = last, []
    with ThreadPoolExecutor(min(MAX_PARALLEL_STOPS, len(first)), thread_name_prefix=name) as pool:
        ended = dict(zip((id(v) for v in first),
                         pool.map(lambda v: shut_down(v[0], v[1], v[2], graceful=graceful),
                                  first), strict=True))
    for victim, outcome in zip(last, shut_down_all(last, graceful=graceful, parallel=True,
                                                   name=name), strict=True):
        ended[id(victim)] = outcome
    return [ended[id(v)] for v in victims]


def _ask_to_stop(ref: pykka.ActorRef[Any] | None) -> None:
    if ref is None:
        return
    with contextlib.suppress(pykka.ActorDeadError):
        ref.stop(block=False)


def _wait_ended(ref: pykka.ActorRef[Any] | None, ctx: ChildContext, timeout: float) -> bool:
    thread = ctx.thread
    if thread is not None:
        thread.join(timeout)
        return not thread.is_alive()
    if ref is None:
        return True
    if not ref.actor_stopped.wait(timeout):
        return False
    # on_start may have begun between the two reads; then wait for the thread itself.
    thread = ctx.thread
    if thread is not None:
        thread.join(timeout)
        return not thread.is_alive()
    return True


def _kill(ctx: ChildContext, spec: ChildSpec) -> None:
    ctx.kill()
    if spec.kill is not None:
        try:
            spec.kill()
        except Exception:
            logger.exception("kill hook of spec %s failed", spec.id)
