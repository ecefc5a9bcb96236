"""The supervision tree of a Warden process, built in one place from a validated config.

root (one_for_one) -> webhook actor, sessions supervisor (one_for_one) -> one session per
account, HTTP front. The root escalates: a child that exhausts its budget fails the root and
`warden run` exits 1 (so systemd's Restart=on-failure takes over).
"""

from __future__ import annotations

from dataclasses import dataclass

from actors.adapters import load_adapter
from actors.browser import DEFAULT_ARGS
from actors.front import FrontActor, FrontDeps
from actors.outbox import Outbox
from actors.session import BrowserSession, Inbound, SessionSettings
from actors.webhook import DeliveryObserver, WebhookActor
from runtime import (
    Backoff,
    ChildSpec,
    EventBus,
    OnExhausted,
    RestartBudget,
    StatusBoard,
    Strategy,
    Supervisor,
    SupervisorSpec,
)
from warden.config import Config, SessionConfig

__all__ = ["ROOT_BUDGET", "SESSIONS", "SESSIONS_BUDGET", "TreeParts", "build_tree",
           "session_spec"]

SESSIONS = "sessions"
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
    """What the tree's children are built from, besides the config. Without `outbox` there is
    no webhook actor; without `front` no HTTP front."""

    executable: str
    inbound: Inbound
    events: EventBus
    board: StatusBoard
    outbox: Outbox | None = None
    observer: DeliveryObserver | None = None
    front: FrontDeps | None = None


def session_spec(session: SessionConfig, config: Config, executable: str,
                 inbound: Inbound) -> ChildSpec:
    settings = SessionSettings(
        id=session.id,
        url=session.url,
        adapter=load_adapter(session.adapter),
        adapter_name=session.adapter,
        policy=session.policy,
        profile_dir=config.state_dir / "profiles" / session.id,
        executable=executable,
        args=(*DEFAULT_ARGS, *config.browser.args),
    )
    return BrowserSession.child_spec(settings, inbound)


def build_tree(config: Config, parts: TreeParts) -> SupervisorSpec:
    sessions = SupervisorSpec(
        id=SESSIONS,
        children=tuple(session_spec(s, config, parts.executable, parts.inbound)
                       for s in config.sessions),
        strategy=Strategy.ONE_FOR_ONE,
        parallel_stop=True,  # independent browsers: 30 closed one by one would take ~9 s
    )
    children = [Supervisor.child_spec(sessions, parts.events, parts.board,
                                      budget=SESSIONS_BUDGET)]
    if parts.outbox is not None:
        children.insert(0, WebhookActor.child_spec(parts.outbox, config.webhook, parts.observer,
                                                   budget=ROOT_BUDGET))
    if parts.front is not None:
        children.append(FrontActor.child_spec(config.http, parts.front, budget=ROOT_BUDGET))
    return SupervisorSpec(id="root", children=tuple(children), strategy=Strategy.ONE_FOR_ONE)
