"""The front is Warden's HTTP face: an aiohttp server on its own event-loop thread that
answers from the status board and passes commands to the supervisors (SPEC §4).

It never asks an actor anything, so a hung session cannot slow it. `FrontActor` runs it as a
supervised child that heartbeats only while the event loop is answering.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import pykka
from prometheus_client import CollectorRegistry

from actors.demo_sink import DemoSink
from actors.views import Board, OutboxStatsSource
from runtime import (
    ChildContext,
    ChildSpec,
    Clock,
    EventBus,
    LifecycleEvent,
    MonotonicClock,
    RestartBudget,
    SupervisedActor,
    Timer,
)
from runtime.loop_thread import LoopThread
from warden.config import Config, HttpConfig, is_loopback

if TYPE_CHECKING:
    from aiohttp import web

__all__ = [
    "Board",
    "Control",
    "Front",
    "FrontActor",
    "FrontDeps",
    "OutboxStatsSource",
    "RecentEvents",
    "foreign_request",
]

logger = logging.getLogger(__name__)


class Control(Protocol):
    """What the front commands (runtime.Runtime): each tells a supervisor and returns at once;
    False means no such child."""

    def restart(self, child_id: str) -> bool: ...
    def stop_child(self, child_id: str) -> bool: ...
    def start_child(self, child_id: str) -> bool: ...


class RecentEvents:
    """The last `capacity` lifecycle events, fed by an EventBus subscription; any thread."""

    def __init__(self, capacity: int = 200) -> None:
        self._lock = threading.Lock()
        self._events: deque[LifecycleEvent] = deque(maxlen=capacity)

    def record(self, event: LifecycleEvent) -> None:
        with self._lock:
            self._events.append(event)

    def attach(self, bus: EventBus) -> Callable[[], None]:
        """Subscribe to `bus`; returns the unsubscriber."""
        return bus.subscribe(self.record)

    def latest(self, limit: int | None = None) -> list[LifecycleEvent]:
        """Newest first."""
        with self._lock:
            events = list(self._events)
        events.reverse()
        return events if limit is None else events[:limit]


LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def foreign_request(method: str, headers: Mapping[str, str], local: tuple[str, int], *,
                    check_host: bool = True) -> str | None:
    """Why a request must be refused as made by a browser for another site, or None.

    `headers` must look names up case-insensitively (aiohttp's do); `local` is the address
    the connection came in on. Two attacks on a front without a token are refused:
    - DNS rebinding: a page on evil.example re-points its name at 127.0.0.1 and reads the
      answers as its own origin. The browser still sends `Host: evil.example`, so any Host
      other than the listen address, localhost, 127.0.0.1 or [::1] with the port is refused.
      `check_host=False` for a public listen with a token, behind a proxy's own Host.
    - Cross-site requests: any page can POST a form here. A state-changing request (or a
      WebSocket upgrade) is refused when its `Origin` is present and not this origin, or when
      the browser says it comes from another site (`Sec-Fetch-Site`): pages on other ports of
      localhost are `same-site`, and refused too. Clients that are not browsers send neither.
    """
    host = headers.get("Host", "").lower()
    if check_host:
        address, port = local
        names = {*LOOPBACK_NAMES, f"[{address}]" if ":" in address else address}
        allowed = {f"{name}:{port}" for name in names} | (names if port == 80 else set())
        if host not in allowed:
            return f"Host {host!r} is not this server's address (refused against DNS rebinding)"
    unsafe = method not in SAFE_METHODS or headers.get("Upgrade", "").lower() == "websocket"
    if not unsafe:
        return None
    site = headers.get("Sec-Fetch-Site", "").lower()
    if site in ("cross-site", "same-site"):
        return f"a {site} {method} is refused"
    origin = headers.get("Origin")
    if origin is not None and origin.lower() not in (f"http://{host}", f"https://{host}"):
        return f"a {method} from origin {origin!r} is refused (not this origin)"
    return None


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
    sessions_supervisor: str = "sessions"
    webhook_child: str = "webhook"
    cache_renderings: bool = True

    @classmethod
    def build(
        cls,
        *,
        config: Config,
        board: Board,
        events: EventBus,
        control: Control,
        root_running: Callable[[], bool] = _always_running,
        outbox: OutboxStatsSource | None = None,
        registry: CollectorRegistry | None = None,
        clock: Clock | None = None,
    ) -> FrontDeps:
        """The deps of a `warden run`: recent events subscribed to `events` (call this before
        the runtime starts so none is missed) and the demo sink on the webhook secret."""
        recent = RecentEvents()
        recent.attach(events)
        clock = clock or MonotonicClock()
        return cls(board=board, control=control, root_running=root_running, events=recent,
                   outbox=outbox, registry=registry,
                   sink=DemoSink(config.webhook.secret, clock=clock), clock=clock)


class Front:
    """An aiohttp app on a private event loop in a daemon thread (a `LoopThread`).

    `start()` returns once the socket listens (port 0 picks a free one: see `.port`);
    `stop()` closes the server, the loop and the thread.
    """

    def __init__(self, config: HttpConfig, deps: FrontDeps) -> None:
        if not config.token and not is_loopback(config.host):
            raise ValueError(
                f"refusing to listen on {config.host}:{config.port} without a token: "
                "set http.token (WARDEN_API_TOKEN) or listen on a loopback address")
        self.config = config
        self.deps = deps
        self.port: int | None = None
        self._thread = LoopThread("warden-front")
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the front is not listening")
        host = self.config.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    def call_soon(self, callback: Callable[[], object]) -> bool:
        """Have the front's event loop call `callback`; False once the loop has closed."""
        return self._thread.call_soon(callback)

    def start(self, timeout: float = 10.0) -> Front:
        try:
            self._thread.start()
        except RuntimeError:
            raise RuntimeError("the front was already started") from None
        try:
            self._runner, self.port = self._thread.run(self._listen(), timeout)
        except TimeoutError:
            self.stop()
            raise TimeoutError(
                f"the front did not start listening within {timeout:g}s") from None
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 10.0) -> None:
        runner = self._runner
        if not self._thread.stop(timeout, last=None if runner is None else runner.cleanup):
            logger.error("the front's thread did not end within %.0fs", timeout)

    async def _listen(self) -> tuple[web.AppRunner, int]:
        from aiohttp import web

        from actors.routes import build_app

        runner = web.AppRunner(build_app(self.config, self.deps), access_log=None,
                               shutdown_timeout=2.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.config.host, self.config.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        return runner, runner.addresses[0][1]


class FrontActor(SupervisedActor):
    """Runs a `Front` as a supervised child; heartbeats each second the event loop answers."""

    def __init__(self, ctx: ChildContext, config: HttpConfig, deps: FrontDeps) -> None:
        super().__init__(ctx)
        self.front = Front(config, deps)
        self._beat: Timer | None = None

    @classmethod
    def child_spec(
        cls,
        config: HttpConfig,
        deps: FrontDeps | Callable[[], FrontDeps],
        *,
        id: str = "front",
        budget: RestartBudget | None = None,
    ) -> ChildSpec:
        """A child spec; `deps` may be a factory when it needs the runtime that runs this spec."""

        def start(ctx: ChildContext) -> pykka.ActorRef[Any]:
            resolved = deps() if callable(deps) else deps
            return cls.start(ctx, config, resolved)

        return ChildSpec(id=id, start=start, shutdown_timeout=5.0,
                         budget=budget or RestartBudget())

    def started(self) -> None:
        self.front.start()
        self.ctx.publish(url=self.front.url)
        self.ctx.heartbeat()
        self._beat = self.ctx.scheduler.call_every(1.0, self._heartbeat_if_answering)

    def _heartbeat_if_answering(self) -> None:
        """Scheduler thread: the loop itself sends the heartbeat, so a stuck loop misses it."""
        self.front.call_soon(self.ctx.heartbeat)

    def stopped(self) -> None:
        if self._beat is not None:
            self._beat.cancel()
        self.front.stop()
