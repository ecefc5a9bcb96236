"""The supervision tree of a Warden process, built in one place from a validated config.

root (one_for_one) -> one webhook actor per endpoint, memory sampler, sessions supervisor,
HTTP front.
The sessions supervisor runs one Playwright driver per shard of `browser.sessions_per_driver`
sessions, each followed by the sessions that depend on it: a driver's death restarts exactly
its shard. The root escalates: a child that exhausts its budget fails the root and
`warden run` exits 1 (so systemd's Restart=on-failure takes over).
"""

from __future__ import annotations

from dataclasses import dataclass

from actors.adapters import load_adapter
from actors.browser import DEFAULT_ARGS
from actors.endpoint import WebhookConfig
from actors.fleet import Fleet, FleetSpecs
from actors.front import FrontActor, FrontDeps
from actors.incidents import IncidentRecorder
from actors.launch import LaunchGate
from actors.memory import MemorySampler, MemoryWatch
from actors.outbox import Outbox
from actors.pages import Pages
from actors.session import Inbound, SessionSettings
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

__all__ = ["MEMORY_INTERVAL", "PSS_SPACING", "ROOT", "ROOT_BUDGET", "SESSIONS", "SESSIONS_BUDGET",
           "TreeParts", "build_tree", "session_settings", "sessions_fleet",
           "webhook_spec"]

SESSIONS = "sessions"
ROOT = "root"
# From bench/bench_memory.py: anonymous memory costs 0.06 ms a tree, so every tree is read every
# 2 s (a leak is caught within two readings: 16 trees cost 0.04% of a core); PSS costs 16-19 ms
# a tree, so one tree's is read every 20 s (0.09% of a core, whatever the fleet's size).
MEMORY_INTERVAL = 2.0
PSS_SPACING = 20.0
ROOT_BUDGET = RestartBudget(max_restarts=5, window=60.0, backoff=Backoff(initial=0.5, max=10.0),
                            reset_after=120.0, on_exhausted=OnExhausted.ESCALATE)
# A driver that cannot be kept running is a problem of the host, not of one account.
DRIVER_BUDGET = RestartBudget(max_restarts=5, window=300.0,
                              backoff=Backoff(initial=0.5, max=10.0), reset_after=300.0,
                              on_exhausted=OnExhausted.ESCALATE)
# The sessions supervisor fails only when a session with `on_exhausted: escalate` used its own
# budget, which takes minutes; three in an hour, then the process exits 1 for systemd.
SESSIONS_BUDGET = RestartBudget(max_restarts=3, window=3600.0,
                                backoff=Backoff(initial=1.0, max=30.0), reset_after=600.0,
                                on_exhausted=OnExhausted.ESCALATE)


@dataclass(frozen=True, slots=True)
class TreeParts:
    """What the tree's children are built from, besides the config. Without `outbox` there are
    no webhook actors; without `front` no HTTP front; `fleet` lays out the sessions (a new one
    when None), and keeps the layout for changes while the tree runs."""

    executable: str
    inbound: Inbound
    events: EventBus
    board: StatusBoard
    outbox: Outbox | None = None
    observer: DeliveryObserver | None = None
    front: FrontDeps | None = None
    fleet: Fleet | None = None


def session_settings(session: SessionConfig, config: Config, executable: str) -> SessionSettings:
    return SessionSettings(
        id=session.id,
        url=session.url,
        adapter=load_adapter(session.adapter),
        adapter_name=session.adapter,
        policy=session.policy,
        profile_dir=config.state_dir / "profiles" / session.id,
        executable=executable,
        args=(*DEFAULT_ARGS, *config.browser.args),
    )


def sessions_fleet(config: Config, inbound: Inbound, specs: FleetSpecs | None = None, *,
                   pages: Pages | None = None,
                   incidents: IncidentRecorder | None = None) -> Fleet:
    """An empty fleet for `config`'s sessions, its memory watched, its drivers on their budget,
    its pages reachable and its restarts recorded when given where."""
    return Fleet(inbound, per_driver=config.browser.sessions_per_driver, gate=LaunchGate(),
                 memory=MemoryWatch(), specs=specs or FleetSpecs.real(DRIVER_BUDGET),
                 pages=pages, incidents=incidents)


def webhook_spec(outbox: Outbox, config: WebhookConfig,
                 observer: DeliveryObserver | None) -> ChildSpec:
    """The actor that delivers to endpoint `config`, a child of the root."""
    return WebhookActor.child_spec(outbox, config, observer, budget=ROOT_BUDGET)


def build_tree(config: Config, parts: TreeParts) -> SupervisorSpec:
    fleet = parts.fleet or sessions_fleet(config, parts.inbound)
    watch = fleet.memory or MemoryWatch()
    sessions = fleet.lay_out(
        [session_settings(s, config, parts.executable) for s in config.sessions])
    supervisor = SupervisorSpec(
        id=SESSIONS,
        children=tuple(sessions),
        strategy=Strategy.ONE_FOR_ONE,
        parallel_stop=True,  # independent browsers: 30 closed one by one would take ~9 s
    )
    children = [
        MemorySampler.child_spec(watch, interval=MEMORY_INTERVAL, pss_spacing=PSS_SPACING,
                                 budget=ROOT_BUDGET),
        Supervisor.child_spec(supervisor, parts.events, parts.board, budget=SESSIONS_BUDGET),
    ]
    if parts.outbox is not None:
        children[0:0] = [webhook_spec(parts.outbox, endpoint, parts.observer)
                         for endpoint in config.webhooks]
    if parts.front is not None:
        children.append(FrontActor.child_spec(config.http, parts.front, budget=ROOT_BUDGET))
    return SupervisorSpec(id=ROOT, children=tuple(children), strategy=Strategy.ONE_FOR_ONE)
