"""A shard is one Playwright driver and the sessions that share it.

The driver is a supervised child of its own (`DriverActor`); the sessions of its shard depend on
it, so its death restarts exactly them. `Shard` is the handle between the two: the driver actor
publishes its running `Driver` there and the sessions wait for it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import pykka

from actors.driver import Driver, DriverGone
from actors.launch import Ticket
from runtime import ChildContext, ChildSpec, Liveness, RestartBudget, SupervisedActor, Timer

__all__ = ["CHECK_INTERVAL", "PING_INTERVAL", "DriverActor", "Shard"]

logger = logging.getLogger(__name__)

CHECK_INTERVAL = 0.5  # seconds between looks at the driver process: a death is seen within 1 s
PING_INTERVAL = 2.0  # seconds between round trips through the driver (each about 3 ms)
PING_TIMEOUT = 5.0


class Shard:
    """Where a shard's sessions find its running driver; any thread."""

    def __init__(self, id: str) -> None:
        self.id = id
        self._changed = threading.Condition()
        self._driver: Driver | None = None

    def publish(self, driver: Driver) -> None:
        with self._changed:
            self._driver = driver
            self._changed.notify_all()

    def withdraw(self, driver: Driver) -> None:
        with self._changed:
            if self._driver is driver:
                self._driver = None

    def wait(self, timeout: float, ticket: Ticket | None = None) -> Driver:
        """The running driver, waiting up to `timeout` seconds for one; gives up early once
        `ticket` is cancelled (call `nudge()` after cancelling it)."""
        with self._changed:
            self._changed.wait_for(
                lambda: self._driver is not None or (ticket is not None and ticket.cancelled),
                timeout)
            if self._driver is None or (ticket is not None and ticket.cancelled):
                raise DriverGone(f"{self.id}: no running Playwright driver")
            return self._driver

    def nudge(self) -> None:
        """Wake every `wait` to look at its ticket again."""
        with self._changed:
            self._changed.notify_all()

    def current(self) -> Driver | None:
        return self._driver


@dataclass(frozen=True, slots=True)
class _Check:
    """The actor's own timer: look at the driver process; ping it when a ping is due."""


@dataclass(frozen=True, slots=True)
class _Pinged:
    ok: bool
    error: str = ""


class DriverActor(SupervisedActor):
    """Runs a shard's driver; heartbeats while pings come back, crashes when the process dies."""

    def __init__(self, ctx: ChildContext, shard: Shard) -> None:
        super().__init__(ctx)
        self.shard = shard
        self.driver: Driver | None = None
        self._timer: Timer | None = None
        self._pinging = False
        self._next_ping = 0.0

    @classmethod
    def child_spec(cls, shard: Shard, *, budget: RestartBudget | None = None) -> ChildSpec:
        return ChildSpec(
            id=shard.id,
            start=lambda ctx: cls.start(ctx, shard),
            kind="driver",
            shutdown_timeout=10.0,
            budget=budget or RestartBudget(),
            liveness=Liveness(heartbeat_timeout=PING_TIMEOUT + 2 * PING_INTERVAL,
                              start_timeout=60.0),
        )

    def started(self) -> None:
        driver = Driver(f"warden-{self.shard.id}")
        self.ctx.add_kill_hook(driver.kill)
        self.driver = driver.start()
        self.shard.publish(driver)
        self.ctx.publish(driver_pid=driver.pid)
        self.ctx.heartbeat()
        self._next_ping = self.ctx.clock.monotonic() + PING_INTERVAL
        self._timer = self.ctx.scheduler.call_every(CHECK_INTERVAL, self._tell_check)

    def stopped(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        driver, self.driver = self.driver, None
        if driver is not None:
            self.shard.withdraw(driver)
            driver.stop()

    def receive(self, message: Any) -> Any:
        match message:
            case _Check():
                self._check()
            case _Pinged(ok=ok, error=error):
                self._pinging = False
                if ok:
                    self.ctx.heartbeat()
                else:
                    logger.warning("%s: a ping through the driver failed: %s", self.shard.id, error)
            case _:
                return super().receive(message)
        return None

    def _check(self) -> None:
        driver = self.driver
        assert driver is not None
        if not driver.alive():
            raise DriverGone(f"the Playwright driver (pid {driver.pid}) died")
        now = self.ctx.clock.monotonic()
        if self._pinging or now < self._next_ping:
            return
        self._pinging = True
        self._next_ping = now + PING_INTERVAL
        try:
            future = driver.submit(driver.ping(), PING_TIMEOUT)
        except RuntimeError as exc:  # the loop is closed
            raise DriverGone(f"{self.shard.id}: the driver's loop is gone") from exc
        future.add_done_callback(self._pinged)

    def _pinged(self, future: Future[None]) -> None:
        """On the driver's loop thread: tell the actor how the ping went."""
        error = future.exception() if not future.cancelled() else TimeoutError("cancelled")
        self._tell(_Pinged(ok=error is None, error=repr(error) if error else ""))

    def _tell_check(self) -> None:
        self._tell(_Check())

    def _tell(self, message: object) -> None:
        with contextlib.suppress(pykka.ActorDeadError):  # stopped meanwhile
            self.actor_ref.tell(message)
