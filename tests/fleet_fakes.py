"""Fake drivers and sessions for tests of the tree: a fake session's "browser" is a real `sleep`
process, so its pid (alive, the same) proves that the session was not restarted.

They run where `actors.fleet.FleetSpecs.real()` would run Playwright drivers and Chromium: the
layout, the supervision and the reload are real; only the page work is left out.
"""

from __future__ import annotations

import subprocess
import threading
from dataclasses import dataclass
from typing import Any

import pykka

from actors.fleet import FleetSpecs
from actors.session import SessionDeps, SessionSettings
from actors.shard import Shard
from runtime import ChildContext, ChildSpec, Liveness, SupervisedActor

__all__ = ["FakeFleet"]


@dataclass(frozen=True, slots=True)
class Crash:
    """Tell a fake session to raise, as a session does whose browser died."""


class FakeDriver(SupervisedActor):
    def started(self) -> None:
        self.ctx.heartbeat()


class FakeSession(SupervisedActor):
    """Owns a `sleep` process as its browser; heartbeats once; its stop may be held."""

    def __init__(self, ctx: ChildContext, settings: SessionSettings, fleet: FakeFleet) -> None:
        super().__init__(ctx)
        self.settings = settings
        self.fleet = fleet
        self.browser: subprocess.Popen[bytes] | None = None

    def started(self) -> None:
        self.browser = subprocess.Popen(["sleep", "3600"])
        self.ctx.add_kill_hook(self.browser.kill)
        self.ctx.publish(adapter=self.settings.adapter_name, browser_pid=self.browser.pid,
                         url=self.settings.url)
        self.ctx.heartbeat()
        self.ctx.activity()

    def receive(self, message: Any) -> Any:
        if isinstance(message, Crash):
            raise RuntimeError("the fake browser died")
        return super().receive(message)

    def stopped(self) -> None:
        gate = self.fleet.stop_gates.get(self.settings.id)
        if gate is not None:
            self.fleet.stopping.release()
            gate.wait()
        if self.browser is not None:
            self.browser.kill()
            self.browser.wait()


class FakeFleet:
    """Specs for fake drivers and sessions, and ways to crash a session or hold its stop."""

    def __init__(self, shutdown_timeout: float = 30.0) -> None:
        self.shutdown_timeout = shutdown_timeout
        self.stop_gates: dict[str, threading.Event] = {}
        self.stopping = threading.Semaphore(0)  # released as a held stop begins
        self.refs: dict[str, pykka.ActorRef[Any]] = {}
        self._lock = threading.Lock()

    @property
    def specs(self) -> FleetSpecs:
        return FleetSpecs(driver=self._driver, session=self._session)

    def hold_stop(self, session_id: str) -> threading.Event:
        """The session's next stop waits until the returned event is set."""
        gate = threading.Event()
        self.stop_gates[session_id] = gate
        return gate

    def crash(self, session_id: str) -> None:
        with self._lock:
            self.refs[session_id].tell(Crash())

    def _driver(self, shard: Shard) -> ChildSpec:
        return ChildSpec(id=shard.id, start=FakeDriver.start, kind="driver",
                         liveness=Liveness(heartbeat_timeout=None))

    def _session(self, settings: SessionSettings, deps: SessionDeps) -> ChildSpec:
        def start(ctx: ChildContext) -> pykka.ActorRef[Any]:
            ref = FakeSession.start(ctx, settings, self)
            with self._lock:
                self.refs[settings.id] = ref
            return ref

        return ChildSpec(id=settings.id, start=start, kind="session", depends_on=deps.shard.id,
                         budget=settings.policy.budget, shutdown_timeout=self.shutdown_timeout,
                         liveness=Liveness(heartbeat_timeout=None))
