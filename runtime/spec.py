"""A child spec says how to start one child and how to treat it when it ends or goes quiet."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runtime.intensity import RestartBudget
from runtime.vocabulary import Reason, Restart, Strategy

if TYPE_CHECKING:
    import pykka

    from runtime.context import ChildContext

__all__ = ["ChildSpec", "FaultNote", "Liveness", "SupervisorSpec"]


@dataclass(frozen=True, slots=True)
class FaultNote:
    """Why a child is about to be stopped by its supervisor: what its `on_fault` hook hears.

    `fault_id` is unique and sorts by time; the lifecycle event of the decision carries it too.
    """

    child_id: str
    fault_id: str
    reason: Reason
    detail: str


@dataclass(frozen=True, slots=True)
class Liveness:
    """Deadlines the supervisor enforces on its own timer (None: not watched)."""

    heartbeat_timeout: float | None = 10.0
    activity_timeout: float | None = None
    # How long a child may take to send its first heartbeat (None: heartbeat_timeout). A child
    # that launches a browser behind other launches needs longer than a running one may be quiet.
    start_timeout: float | None = None

    def overdue(
        self,
        now: float,
        started_at: float,
        last_heartbeat: float | None,
        last_activity: float | None,
        *,
        watch_activity: bool = True,
    ) -> tuple[Reason, str] | None:
        """Which deadline a child running since `started_at` has missed at `now`, if any.

        A child that never heartbeated (or saw activity) is timed from its start; heartbeats
        come first, since a hung child cannot show activity either.
        """
        if self.heartbeat_timeout is not None:
            if last_heartbeat is None:
                silent = now - started_at
                limit = self.start_timeout or self.heartbeat_timeout
            else:
                silent, limit = now - last_heartbeat, self.heartbeat_timeout
            if silent > limit:
                return Reason.HEARTBEAT, f"no heartbeat for {silent:.1f}s"
        if self.activity_timeout is not None and watch_activity:
            idle = now - (started_at if last_activity is None else last_activity)
            if idle > self.activity_timeout:
                return Reason.ACTIVITY, f"no activity for {idle:.1f}s"
        return None


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """How to start a child, restart it, and free it when it hangs.

    `start` runs on the supervisor's thread and must return at once (pykka's `start()` does).
    `kill` frees a hung child from outside its thread, e.g. by killing its processes; children
    can also add kill hooks of their own through their `ChildContext`. `on_fault` is called on
    a reaper thread just before a child is stopped after a fault or a restart by hand, to record
    what it looked like; it must return within a couple of seconds. `kind` names what sort
    of child it is (e.g. "session"), for finding its like under any supervisor. `depends_on`
    names an earlier sibling it cannot run without (e.g. the browser driver its page lives on):
    whenever that sibling is restarted, so is this child, after it.
    """

    id: str
    start: Callable[[ChildContext], pykka.ActorRef[Any]]
    restart: Restart = Restart.PERMANENT
    shutdown_timeout: float = 5.0
    budget: RestartBudget = field(default_factory=RestartBudget)
    liveness: Liveness = field(default_factory=Liveness)
    kill: Callable[[], object] | None = None
    kind: str = ""
    depends_on: str | None = None
    on_fault: Callable[[FaultNote], object] | None = None


@dataclass(frozen=True, slots=True)
class SupervisorSpec:
    """A supervisor's children, in start order, and its strategy.

    Children are stopped in reverse start order, each once the one after it has ended. With
    `parallel_stop` (independent children, e.g. one browser session each) they are stopped side
    by side: 30 browsers closed one by one take about 9 s.
    """

    id: str
    children: tuple[ChildSpec, ...]
    strategy: Strategy = Strategy.ONE_FOR_ONE
    tick: float = 0.5  # seconds between liveness checks and status publications
    parallel_stop: bool = False

    def __post_init__(self) -> None:
        if not self.tick > 0:
            raise ValueError(f"supervisor {self.id!r}: tick must be positive, got {self.tick}")
        counts = Counter(c.id for c in self.children)
        duplicates = sorted(i for i, n in counts.items() if n > 1)
        if duplicates:
            raise ValueError(f"supervisor {self.id!r}: duplicate child ids {duplicates}")
        earlier: set[str] = set()
        for child in self.children:
            if child.depends_on is not None and child.depends_on not in earlier:
                raise ValueError(f"supervisor {self.id!r}: {child.id} depends on "
                                 f"{child.depends_on!r}, which is not an earlier child")
            earlier.add(child.id)
