"""The front is Warden's HTTP face: an aiohttp server on its own event-loop thread that
answers from the status board and passes commands to the supervisors.

It never asks an actor anything, so a hung session cannot slow it. `FrontActor` runs it as a
supervised child that heartbeats only while the event loop is answering.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pykka

from actors.front_config import Control, FrontDeps, HttpConfig
from actors.recent import RecentEvents
from actors.routes import build_app
from httpkit import AppServer, is_loopback
from runtime import ChildContext, ChildSpec, Liveness, RestartBudget, SupervisedActor, Timer

__all__ = ["Control", "Front", "FrontActor", "FrontDeps", "HttpConfig", "RecentEvents"]

logger = logging.getLogger(__name__)


class Front(AppServer):
    """The API, dashboard and metrics on a `LoopThread` of their own (see `AppServer`)."""

    def __init__(self, config: HttpConfig, deps: FrontDeps) -> None:
        if not config.token and not is_loopback(config.host):
            raise ValueError(
                f"refusing to listen on {config.host}:{config.port} without a token: "
                "set http.token (WARDEN_API_TOKEN) or listen on a loopback address")
        super().__init__(lambda: build_app(config, deps), config.host, config.port,
                         name="warden-front", sock=deps.listener)
        self.config = config
        self.deps = deps

    def stop(self, timeout: float = 10.0) -> bool:
        ended = super().stop(timeout)
        if not ended:
            logger.error("the front's thread did not end within %.0fs", timeout)
        return ended


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
                         budget=budget or RestartBudget(),
                         liveness=Liveness(heartbeat_timeout=10.0))

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
