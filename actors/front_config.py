"""The front's config: where it listens (`HttpConfig`) and what it reads and commands (`FrontDeps`).

Deps are injected, so tests pass fakes for any of them.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from prometheus_client import CollectorRegistry

from actors.demo_sink import DemoSink
from actors.incidents import IncidentStore
from actors.pages import Pages
from actors.recent import RecentEvents
from actors.views import Board, OutboxStatsSource
from actors.webhooks import Webhooks
from httpkit.throttle import FailureThrottle
from runtime import Clock, EventBus, MonotonicClock

__all__ = ["Control", "FrontDeps", "HttpConfig", "Reload"]

# POST /reload: re-read the config file and apply it; the HTTP status and JSON body to answer.
Reload = Callable[[], tuple[int, Mapping[str, Any]]]


@dataclass(frozen=True, slots=True)
class HttpConfig:
    """Where the front listens and who may call it (`http:` in the config)."""

    host: str = "127.0.0.1"
    port: int = 3001
    token: str = ""
    metrics_public: bool = True


class Control(Protocol):
    """What the front commands (runtime.Runtime): each tells a supervisor and returns at once;
    False means no such child."""

    def restart(self, child_id: str) -> bool: ...
    def stop_child(self, child_id: str) -> bool: ...
    def start_child(self, child_id: str) -> bool: ...


def _always_running() -> bool:
    return True


@dataclass(frozen=True, slots=True)
class FrontDeps:
    """Everything the front reads or calls; tests pass fakes for any of it."""

    board: Board
    control: Control
    root_running: Callable[[], bool] = _always_running
    events: RecentEvents = field(default_factory=RecentEvents)
    outbox: OutboxStatsSource | None = None
    registry: CollectorRegistry | None = None  # what GET /metrics exposes
    sink: DemoSink | None = None  # POST /demo/webhook; 404 when None
    clock: Clock = field(default_factory=MonotonicClock)
    webhook_child: str = "webhook"
    cache_renderings: bool = True
    # Bound before anything started, kept by its owner across the front's restarts; None: the
    # front binds http.listen itself when it starts.
    listener: socket.socket | None = None
    auth_failed: Callable[[str], None] | None = None  # counts a refused token, by reason
    throttle: FailureThrottle = field(default_factory=FailureThrottle)
    pages: Pages | None = None  # sessions' open pages: screenshots, pairing codes
    incidents: IncidentStore | None = None
    reload: Reload | None = None  # POST /reload; 404 when None
    webhooks: Webhooks | None = None  # the /webhooks routes; 404 when None

    @classmethod
    def build(
        cls,
        *,
        sink_secret: str,
        board: Board,
        events: EventBus,
        control: Control,
        root_running: Callable[[], bool] = _always_running,
        outbox: OutboxStatsSource | None = None,
        registry: CollectorRegistry | None = None,
        clock: Clock | None = None,
        listener: socket.socket | None = None,
        auth_failed: Callable[[str], None] | None = None,
        recent: RecentEvents | None = None,
        pages: Pages | None = None,
        incidents: IncidentStore | None = None,
        reload: Reload | None = None,
        webhooks: Webhooks | None = None,
    ) -> FrontDeps:
        """The deps of a `warden run`: recent events subscribed to `events` unless given (call
        this before the runtime starts so none is missed) and the demo sink verifying with
        `sink_secret`."""
        if recent is None:
            recent = RecentEvents()
            recent.attach(events)
        clock = clock or MonotonicClock()
        return cls(board=board, control=control, root_running=root_running, events=recent,
                   outbox=outbox, registry=registry,
                   sink=DemoSink(sink_secret, clock=clock), clock=clock, listener=listener,
                   auth_failed=auth_failed, pages=pages, incidents=incidents, reload=reload,
                   webhooks=webhooks)
