"""A model session is a supervised actor that behaves like `actors.session.BrowserSession`
towards its supervisor, with the model chat app in place of Chromium and simulated time.

It is stepped by its driver (one `Step` per slice of simulated time, as the real session's pump
runs its due checks) and reports exactly what the real one does: a heartbeat per probe while the
page answers, activity per inbound message and per canary echo, `unhealthy(canary)` after a
missed echo (with `restart` at the policy's failure count), `unhealthy(memory)` after two
readings over the limit. A hung page blocks the actor until its browser is killed; a crashed
browser ends the actor with an error. A (re)start takes the scenario's launch time.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from actors.policy import Policy
from bench.practice.chat import ChatApp, Connection, Symptom
from runtime.child import SupervisedActor
from runtime.context import ChildContext
from runtime.vocabulary import Reason

__all__ = ["BrowserGone", "ModelSession", "Step", "StepOutcome"]


@dataclass(frozen=True, slots=True)
class Step:
    """Run whatever checks are due at the clock's current time."""


class StepOutcome(StrEnum):
    LAUNCHING = "launching"  # the browser is still starting
    RAN = "ran"
    HUNG = "hung"  # the actor is now blocked in a page call until its browser is killed
    CRASHED = "crashed"  # the actor is ending with an error


@dataclass(frozen=True, slots=True)
class _Block:
    """A call into a hung page: it returns only when the browser is killed."""


@dataclass(frozen=True, slots=True)
class _Gone:
    why: str


class BrowserGone(RuntimeError):
    """The browser died under the session, or was killed while its page hung."""


class ModelSession(SupervisedActor):
    """One session's browser, modelled; runs the real session's checks on the model's answers."""

    def __init__(self, ctx: ChildContext, app: ChatApp, policy: Policy, launch: float,
                 memory_interval: float = 2.0) -> None:
        super().__init__(ctx)
        self.app = app
        self.policy = policy
        self.launch = launch
        self.memory_interval = memory_interval
        self.clock = ctx.clock
        self._killed = threading.Event()
        self._ready_at = 0.0
        self._conn: Connection | None = None
        self._next_probe = self._next_canary = self._next_memory = 0.0
        self._canary_token: int | None = None
        self._canaries = 0
        self._canary_deadline = 0.0
        self._canary_failures = 0
        self._over_limit = 0

    def started(self) -> None:
        self.ctx.add_kill_hook(self._killed.set)
        self._ready_at = self.clock.monotonic() + self.launch

    def receive(self, message: Any) -> Any:
        match message:
            case Step():
                return self._step(self.clock.monotonic())
            case _Block():
                self._killed.wait()
                raise BrowserGone("browser killed while its page hung")
            case _Gone(why=why):
                raise BrowserGone(why)
            case _:
                return super().receive(message)

    def _step(self, now: float) -> StepOutcome:
        if self._conn is None:
            if now < self._ready_at:
                return StepOutcome.LAUNCHING
            self._conn = self.app.connect(self.ctx.child_id, now)
            self._next_probe = self._next_canary = self._next_memory = now
        conn = self._conn
        symptom = self.app.symptom(conn, now)
        if symptom is Symptom.CRASHED:
            self.actor_ref.tell(_Gone("browser crashed"))
            return StepOutcome.CRASHED
        if symptom is Symptom.HUNG:
            self.actor_ref.tell(_Block())
            return StepOutcome.HUNG
        for _ in self.app.take(conn, now):
            self.ctx.activity()
        if now >= self._next_probe:
            self.ctx.heartbeat()
            self._next_probe = now + self.policy.heartbeat_interval
        if self.policy.canary is not None:
            self._check_canary(conn, now)
        if now >= self._next_memory:
            self._next_memory = now + self.memory_interval
            self._check_memory(conn, now)
        return StepOutcome.RAN

    def _check_canary(self, conn: Connection, now: float) -> None:
        """As `BrowserSession._check_canary`: one canary in flight, counted failures."""
        canary = self.policy.canary
        assert canary is not None
        if self._canary_token is not None and now >= self._canary_deadline:
            self._canary_token = None
            self._canary_failures += 1
            restart = self._canary_failures >= canary.failures
            self.ctx.unhealthy(Reason.CANARY, restart=restart,
                               detail=f"no canary echo within {canary.timeout:g}s "
                                      f"({self._canary_failures} of {canary.failures})")
        if self._canary_token is None and now >= self._next_canary:
            self._canaries += 1
            self._canary_token = self._canaries
            self._canary_deadline = now + canary.timeout
            self._next_canary = now + canary.interval
            if self.app.echoes(conn, now):
                self._canary_echo(self._canaries)

    def _canary_echo(self, token: int) -> None:
        if token != self._canary_token:
            return
        self._canary_token = None
        self.ctx.activity()
        if self._canary_failures:
            self._canary_failures = 0
            self.ctx.healthy()

    def _check_memory(self, conn: Connection, now: float) -> None:
        limit = self.policy.memory_limit
        if limit is None:
            return
        used = self.app.memory(conn, now)
        if used <= limit:
            self._over_limit = 0
            return
        self._over_limit += 1
        if self._over_limit >= 2:
            self.ctx.unhealthy(Reason.MEMORY, restart=True,
                               detail=f"{used / 2**20:.0f} MiB, limit {limit / 2**20:.0f} MiB")
