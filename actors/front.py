"""The front is Warden's HTTP face: an aiohttp server on its own event-loop thread that
answers from the status board and passes commands to the supervisors (SPEC §4).

It never asks an actor anything, so a hung session cannot slow it. `FrontActor` runs it as a
supervised child that heartbeats only while the event loop is answering.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

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
from warden.config import Config, HttpConfig, is_loopback

__all__ = [
    "Board",
    "Control",
    "Front",
    "FrontActor",
    "FrontDeps",
    "OutboxStatsSource",
    "RecentEvents",
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
    """An aiohttp app on a private event loop in a daemon thread.

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
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the front is not listening")
        host = self.config.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self._loop

    def start(self, timeout: float = 10.0) -> Front:
        if self._thread is not None:
            raise RuntimeError("the front was already started")
        self._thread = threading.Thread(target=self._run, name="warden-front", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise TimeoutError(f"the front did not start listening within {timeout:g}s")
        if self._error is not None:
            self._thread.join(timeout)
            raise self._error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        loop, stop, thread = self._loop, self._stop, self._thread
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(stop.set)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                logger.error("the front's thread did not end within %.0fs", timeout)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:
            self._error = exc
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                loop.close()
                self._ready.set()

    async def _serve(self) -> None:
        from aiohttp import web

        from actors.routes import build_app

        self._stop = asyncio.Event()
        runner = web.AppRunner(build_app(self.config, self.deps), access_log=None,
                               shutdown_timeout=2.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.config.host, self.config.port)
            await site.start()
            self.port = runner.addresses[0][1]
            self._ready.set()
            await self._stop.wait()
        finally:
            await runner.cleanup()


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
        loop = self.front.loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self.ctx.heartbeat)

    def stopped(self) -> None:
        if self._beat is not None:
            self._beat.cancel()
        self.front.stop()
