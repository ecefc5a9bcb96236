"""A fleet is a list of sessions laid out in shards: a driver, then the sessions that use it."""

from __future__ import annotations

from collections.abc import Sequence

from actors.incidents import IncidentRecorder
from actors.launch import LaunchGate
from actors.memory import MemoryWatch
from actors.pages import Pages
from actors.session import BrowserSession, Inbound, SessionDeps, SessionSettings
from actors.shard import DriverActor, Shard
from runtime import ChildSpec, RestartBudget

__all__ = ["fleet_children"]


def fleet_children(sessions: Sequence[SessionSettings], inbound: Inbound, *, per_driver: int,
                   gate: LaunchGate, memory: MemoryWatch | None,
                   driver_budget: RestartBudget | None = None, pages: Pages | None = None,
                   incidents: IncidentRecorder | None = None) -> list[ChildSpec]:
    """Child specs in start order: per `per_driver` sessions, a driver (`driver-N`) followed by
    the sessions that depend on it, so that its restart restarts exactly them."""
    children: list[ChildSpec] = []
    for first in range(0, len(sessions), per_driver):
        shard = Shard(f"driver-{first // per_driver + 1}")
        children.append(DriverActor.child_spec(shard, budget=driver_budget))
        deps = SessionDeps(inbound, shard, gate, memory, pages, incidents)
        children += [BrowserSession.child_spec(s, deps) for s in sessions[first:first + per_driver]]
    return children
