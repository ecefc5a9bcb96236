"""The supervision tree of a Warden process, built from a validated config.

root (one_for_one) -> webhook actor, sessions supervisor (one_for_one) -> one session per
account, HTTP front. The root escalates: a child that exhausts its budget fails the root and
`warden run` exits 1 (so systemd's Restart=on-failure takes over).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from actors.adapters import load_adapter
from actors.browser import DEFAULT_ARGS
from actors.session import BrowserSession, Inbound, SessionSettings
from runtime.backoff import Backoff
from runtime.context import ChildContext
from runtime.events import EventBus
from runtime.intensity import RestartBudget
from runtime.spec import ChildSpec, Liveness, SupervisorSpec
from runtime.status import StatusBoard
from runtime.supervisor import Supervisor
from runtime.vocabulary import OnExhausted, Strategy
from warden.config import Config, SessionConfig

__all__ = ["SESSIONS", "TreeParts", "build_tree", "session_spec"]

SESSIONS = "sessions"
START_TIMEOUT = 120.0
ROOT_BUDGET = RestartBudget(max_restarts=5, window=60.0, backoff=Backoff(initial=0.5, max=10.0),
                            reset_after=120.0, on_exhausted=OnExhausted.ESCALATE)
# The sessions supervisor fails only when a session with `on_exhausted: escalate` used its own
# budget, which takes minutes (four canary detections and their backoffs); a 60 s window would
# never fill, and every session would be restarted every few minutes forever. Three in an hour,
# then the process exits 1 and its own supervisor (systemd) takes over.
SESSIONS_BUDGET = RestartBudget(max_restarts=3, window=3600.0,
                                backoff=Backoff(initial=1.0, max=30.0), reset_after=600.0,
                                on_exhausted=OnExhausted.ESCALATE)


@dataclass(frozen=True, slots=True)
class TreeParts:
    """What the tree's children are built from, besides the config."""

    executable: str
    inbound: Inbound
    events: EventBus
    board: StatusBoard
    webhook: ChildSpec | None = None
    front: ChildSpec | None = None


def session_spec(session: SessionConfig, config: Config, executable: str,
                 inbound: Inbound) -> ChildSpec:
    policy = session.policy
    settings = SessionSettings(
        id=session.id,
        url=session.url,
        adapter=load_adapter(session.adapter),
        adapter_name=session.adapter,
        policy=policy,
        profile_dir=config.state_dir / "profiles" / session.id,
        executable=executable,
        args=(*DEFAULT_ARGS, *config.browser.args),
    )

    def start(ctx: ChildContext) -> Any:
        return BrowserSession.start(ctx, settings, inbound)

    return ChildSpec(
        id=session.id,
        start=start,
        shutdown_timeout=5.0,
        budget=policy.budget,
        liveness=Liveness(heartbeat_timeout=policy.heartbeat_timeout,
                          activity_timeout=policy.activity_timeout,
                          # queued behind other launches, then up to launch_timeout to open
                          start_timeout=max(policy.heartbeat_timeout, START_TIMEOUT)),
    )


def build_tree(config: Config, parts: TreeParts) -> SupervisorSpec:
    sessions = SupervisorSpec(
        id=SESSIONS,
        children=tuple(session_spec(s, config, parts.executable, parts.inbound)
                       for s in config.sessions),
        strategy=Strategy.ONE_FOR_ONE,
        parallel_stop=True,  # independent browsers: 30 closed one by one would take ~9 s
    )
    sessions_child = Supervisor.child_spec(sessions, parts.events, parts.board,
                                           budget=SESSIONS_BUDGET)
    children = [c for c in (parts.webhook, sessions_child, parts.front) if c is not None]
    return SupervisorSpec(id="root", children=tuple(children), strategy=Strategy.ONE_FOR_ONE)
