"""A fleet is a list of sessions laid out in shards: a driver, then the sessions that use it.

`Fleet` remembers its layout, so that sessions can be added (into the first shard with room, or
behind a new driver), replaced within their shard and removed while the tree runs; a shard left
empty can then go with its driver. Its one owner changes it from one thread at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from actors.incidents import IncidentRecorder
from actors.launch import LaunchGate
from actors.memory import MemoryWatch
from actors.pages import Pages
from actors.session import BrowserSession, Inbound, SessionDeps, SessionSettings
from actors.shard import DriverActor, Shard
from runtime import ChildSpec, RestartBudget

__all__ = ["Fleet", "FleetSpecs", "fleet_children"]


@dataclass(frozen=True, slots=True)
class FleetSpecs:
    """How a shard's driver and a session are run: the real actors, or fakes in tests."""

    driver: Callable[[Shard], ChildSpec]
    session: Callable[[SessionSettings, SessionDeps], ChildSpec]

    @classmethod
    def real(cls, driver_budget: RestartBudget | None = None) -> FleetSpecs:
        return cls(driver=lambda shard: DriverActor.child_spec(shard, budget=driver_budget),
                   session=BrowserSession.child_spec)


class Fleet:
    """The shards of one sessions supervisor, each a driver and up to `per_driver` sessions."""

    def __init__(self, inbound: Inbound, *, per_driver: int, gate: LaunchGate | None = None,
                 memory: MemoryWatch | None = None, specs: FleetSpecs | None = None,
                 pages: Pages | None = None, incidents: IncidentRecorder | None = None) -> None:
        self.inbound = inbound
        self.pages = pages
        self.incidents = incidents
        self.per_driver = per_driver  # for sessions placed from now on; shards are never re-cut
        self.gate = gate or LaunchGate()
        self.memory = memory
        self.specs = specs or FleetSpecs.real()
        self._deps: dict[str, SessionDeps] = {}  # by shard id, in the order shards were made
        self._members: dict[str, list[str]] = {}  # shard id -> its sessions, in start order
        self._settings: dict[str, SessionSettings] = {}
        self._shard_of: dict[str, str] = {}
        self._made = 0  # shards ever made: a driver's id is never used twice

    def lay_out(self, sessions: Sequence[SessionSettings]) -> list[ChildSpec]:
        """Child specs in start order: per `per_driver` sessions, a driver (`driver-N`) followed
        by the sessions that depend on it, so that its restart restarts exactly them."""
        children: list[ChildSpec] = []
        for settings in sessions:
            children += self.add(settings)
        return children

    # --- reads -----------------------------------------------------------------------------------

    def settings(self) -> Mapping[str, SessionSettings]:
        """Every session's settings, by id, as it runs now (or will once a change is made)."""
        return dict(self._settings)

    def shards(self) -> Mapping[str, tuple[str, ...]]:
        """Each shard's driver id and its sessions."""
        return {shard: tuple(members) for shard, members in self._members.items()}

    def empty_shards(self) -> list[str]:
        return [shard for shard, members in self._members.items() if not members]

    # --- changes ---------------------------------------------------------------------------------

    def add(self, settings: SessionSettings) -> list[ChildSpec]:
        """The specs to add for a new session, in order: its shard's driver first if the shard
        is new (no shard has room), then the session."""
        if settings.id in self._settings:
            raise ValueError(f"the fleet already has a session {settings.id!r}")
        shard, children = self._room(), []
        if shard is None:
            self._made += 1
            shard = f"driver-{self._made}"
            deps = SessionDeps(self.inbound, Shard(shard), self.gate, self.memory, self.pages,
                               self.incidents)
            self._deps[shard], self._members[shard] = deps, []
            children.append(self.specs.driver(deps.shard))
        self._members[shard].append(settings.id)
        self._shard_of[settings.id] = shard
        self._settings[settings.id] = settings
        children.append(self.specs.session(settings, self._deps[shard]))
        return children

    def replace(self, settings: SessionSettings) -> ChildSpec:
        """The spec that runs session `settings.id` from `settings`, in the shard it is in."""
        shard = self._shard_of[settings.id]
        self._settings[settings.id] = settings
        return self.specs.session(settings, self._deps[shard])

    def remove(self, session_id: str) -> None:
        """Forget a session (its shard keeps its driver until `drop_shard`)."""
        shard = self._shard_of.pop(session_id)
        del self._settings[session_id]
        self._members[shard].remove(session_id)

    def drop_shard(self, shard: str) -> None:
        """Forget an empty shard, whose driver is removed from the tree."""
        if self._members[shard]:
            raise ValueError(f"shard {shard} still has sessions: {self._members[shard]}")
        del self._members[shard], self._deps[shard]

    def _room(self) -> str | None:
        """The first shard with room for one more session, if any."""
        return next((shard for shard, members in self._members.items()
                     if len(members) < self.per_driver), None)


def fleet_children(sessions: Sequence[SessionSettings], inbound: Inbound, *, per_driver: int,
                   gate: LaunchGate, memory: MemoryWatch | None,
                   driver_budget: RestartBudget | None = None, pages: Pages | None = None,
                   incidents: IncidentRecorder | None = None) -> list[ChildSpec]:
    """The child specs of a fleet of `sessions` that will not change (see `Fleet.lay_out`)."""
    fleet = Fleet(inbound, per_driver=per_driver, gate=gate, memory=memory,
                  specs=FleetSpecs.real(driver_budget), pages=pages, incidents=incidents)
    return fleet.lay_out(sessions)
