"""Shutdown is how one child is ended: ask it to stop, wait, kill its resources, then abandon it.

A hung child cannot be stopped by a message. Its kill hooks free it from outside (killing its
browser makes the blocked call raise); a thread that still does not exit is left behind and
reported, never waited on forever.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

import pykka

from runtime.context import ChildContext
from runtime.spec import ChildSpec

__all__ = ["Outcome", "shut_down"]

logger = logging.getLogger(__name__)


class Outcome(StrEnum):
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


def _ask_to_stop(ref: pykka.ActorRef[Any] | None) -> None:
    if ref is None:
        return
    try:
        ref.stop(block=False)
    except pykka.ActorDeadError:
        pass


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
