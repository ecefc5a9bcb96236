"""A browser session is one actor that owns one Chromium, one page and one adapter.

Playwright's sync API hears the page only while its thread is inside a Playwright call
(a binding fired 10 times a second delivered nothing during `time.sleep(1)`),
so the actor pumps: it tells itself `Pump`, spends `pump_interval` inside
`page.wait_for_timeout`, does whatever checks are due, and tells itself `Pump` again. Other
messages (a stop) are handled between two pumps.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from playwright.sync_api import BrowserContext, Page, Playwright, sync_playwright

from actors.adapters.base import Adapter, AuthState, InboundMessage
from actors.browser import BrowserTree, clear_profile_locks
from actors.policy import Policy
from runtime import ChildContext, ChildSpec, Liveness, Reason, SupervisedActor

__all__ = ["LAUNCH_GATE", "BrowserGone", "BrowserSession", "Inbound", "SessionSettings"]

logger = logging.getLogger(__name__)

LAUNCH_GATE = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))
START_TIMEOUT = 120.0  # seconds to the first heartbeat: queued behind other launches, then open


class Inbound(Protocol):
    """Where inbound messages go (the webhook outbox): `append` returns once committed."""

    def append(self, session_id: str, type: str, data: Mapping[str, Any],
               at: float | None = None) -> Any: ...


class BrowserGone(RuntimeError):
    """The browser or the page died under the session (crash, kill -9, closed)."""


@dataclass(frozen=True, slots=True)
class SessionSettings:
    id: str
    url: str
    adapter: type[Adapter]
    adapter_name: str
    policy: Policy
    profile_dir: Path
    executable: str
    args: tuple[str, ...]
    launch_timeout: float = 30.0
    # Shared by the sessions of one process: how many browsers may launch at once. Thirty
    # launched together on two cores take longer each than a heartbeat timeout.
    launch_gate: threading.Semaphore = field(default_factory=lambda: LAUNCH_GATE)
    pump_interval: float = 0.05  # 50 ms: inbound latency p50 stays well under the 25 ms target
    memory_interval: float = 2.0  # the limit check: ~3 ms a tree
    pss_interval: float = 30.0  # the published PSS: 18-30 ms a tree


@dataclass(frozen=True, slots=True)
class Pump:
    """Spend one slice inside Playwright so page events are dispatched; then run due checks."""


class BrowserSession(SupervisedActor):
    """Supervised child: heartbeats after each page probe, reports activity per inbound event,
    runs the adapter's canary, watches memory, and is freed from outside by killing its tree."""

    def __init__(self, ctx: ChildContext, settings: SessionSettings, inbound: Inbound) -> None:
        super().__init__(ctx)
        self.settings = settings
        self.inbound = inbound
        self.adapter = settings.adapter(settings.id, settings.url)
        self.clock = ctx.clock
        self._pw: Playwright | None = None
        self._context: BrowserContext | None = None
        self._page: Page | None = None
        self._tree: BrowserTree | None = None
        self._gone = ""
        self._auth = AuthState.LOADING
        self._next_probe = 0.0
        self._next_memory = 0.0
        self._next_canary = 0.0
        self._canary_token: str | None = None
        self._canary_deadline = 0.0
        self._canary_failures = 0
        self._over_limit = 0
        self._next_pss = 0.0
        self._last_beat = 0.0

    @classmethod
    def child_spec(cls, settings: SessionSettings, inbound: Inbound) -> ChildSpec:
        """A spec that runs this session under its policy's deadlines and restart budget."""
        policy = settings.policy
        return ChildSpec(
            id=settings.id,
            start=lambda ctx: cls.start(ctx, settings, inbound),
            kind="session",
            shutdown_timeout=5.0,
            budget=policy.budget,
            liveness=Liveness(heartbeat_timeout=policy.heartbeat_timeout,
                              activity_timeout=policy.activity_timeout,
                              # queued behind other launches, then up to launch_timeout to open
                              start_timeout=max(policy.heartbeat_timeout, START_TIMEOUT)),
        )

    # --- lifecycle ------------------------------------------------------------------------------

    def started(self) -> None:
        s = self.settings
        s.profile_dir.mkdir(parents=True, exist_ok=True)
        clear_profile_locks(s.profile_dir)
        self.ctx.publish(adapter=s.adapter_name, browser_pid=None, memory_bytes=None,
                         last_canary=None)
        killed = threading.Event()  # a session given up while queued must never launch
        self.ctx.add_kill_hook(killed.set)
        while not s.launch_gate.acquire(timeout=0.25):
            if killed.is_set():
                raise BrowserGone("stopped while waiting to launch")
        try:
            if killed.is_set():
                raise BrowserGone("stopped while waiting to launch")
            self._launch()
        finally:
            s.launch_gate.release()
        now = self.clock.monotonic()
        self._next_canary = now  # the first canary right away: proves the path end to end
        self._check(now)
        self.actor_ref.tell(Pump())

    def _launch(self) -> None:
        s = self.settings
        self._pw = sync_playwright().start()
        self._context = self._pw.chromium.launch_persistent_context(
            str(s.profile_dir), executable_path=s.executable, headless=True,
            args=list(s.args), timeout=s.launch_timeout * 1000)
        self._tree = BrowserTree.find(s.profile_dir)
        if self._tree is None:
            raise BrowserGone(f"no browser process found for profile {s.profile_dir}: it could "
                              "not be freed from outside if it hung")
        self.ctx.add_kill_hook(self._tree.kill)
        self.ctx.publish(browser_pid=self._tree.pid)
        self._context.on("close", lambda _: self._mark_gone("browser closed"))
        page = self._context.pages[0] if self._context.pages else self._context.new_page()
        page.on("crash", lambda _: self._mark_gone("page crashed"))
        page.on("close", lambda _: self._mark_gone("page closed"))
        self._page = page
        self.adapter.attach(page, self)
        self.adapter.open(page, s.launch_timeout)

    def stopped(self) -> None:
        context, pw = self._context, self._pw
        self._context = self._pw = self._page = None
        alive = self._tree.alive() if self._tree is not None else True
        if context is not None and alive and not self._gone:
            try:
                context.close()
            except Exception as exc:  # a dead or killed browser: its tree is killed below
                logger.debug("closing the browser of %s: %r", self.settings.id, exc)
        if self._tree is not None:
            self._tree.kill()
        if pw is not None:
            try:
                pw.stop()
            except Exception as exc:
                logger.debug("stopping playwright of %s: %r", self.settings.id, exc)

    def receive(self, message: Any) -> Any:
        if isinstance(message, Pump):
            self._pump()
            return None
        return super().receive(message)

    # --- the pump -------------------------------------------------------------------------------

    def _pump(self) -> None:
        page = self._page
        if page is None:
            return
        page.wait_for_timeout(self.settings.pump_interval * 1000)
        self._check(self.clock.monotonic())
        self.actor_ref.tell(Pump())

    def _check(self, now: float) -> None:
        if self._gone:
            raise BrowserGone(self._gone)
        assert self._page is not None
        policy = self.settings.policy
        if now >= self._next_probe:
            self.adapter.probe(self._page)
            self._beat(now)
            self._next_probe = now + policy.heartbeat_interval
            self._check_auth()
        if policy.canary is not None and self._auth is AuthState.READY:
            self._check_canary(now)
        if now >= self._next_memory and self._tree is not None:
            self._next_memory = now + self.settings.memory_interval
            self._check_memory(now)

    def _check_memory(self, now: float) -> None:
        """Restart when the tree's anonymous memory stays over the limit; publish its PSS.

        The limit is checked on `RssAnon` (kernel counters, ~3 ms a tree): PSS of one idle
        tree swung from 266 to 415 MiB here as other browsers came and went, while anonymous
        memory is the tree's own and is what a leaking page grows. Two readings in a row rule
        out a spike. PSS (18-30 ms a tree) is published for people every `pss_interval`."""
        assert self._tree is not None
        if now >= self._next_pss:
            self._next_pss = now + self.settings.pss_interval
            self.ctx.publish(memory_bytes=self._tree.memory().pss)
        limit = self.settings.policy.memory_limit
        if limit is None:
            return
        used = self._tree.anonymous_bytes()
        if used <= limit:
            self._over_limit = 0
            return
        self._over_limit += 1
        if self._over_limit >= 2:
            self.ctx.unhealthy(Reason.MEMORY, restart=True,
                               detail=f"browser holds {used / 2**20:.0f} MiB of anonymous "
                                      f"memory, limit {limit / 2**20:.0f} MiB")

    def _check_auth(self) -> None:
        assert self._page is not None
        state = self.adapter.auth_state(self._page)
        if state is self._auth:
            return
        previous, self._auth = self._auth, state
        if state is AuthState.AUTH_REQUIRED:
            self._canary_token = None
            self.ctx.auth_required("the app shows its login screen")
        elif state is AuthState.READY and previous is AuthState.AUTH_REQUIRED:
            self._canary_failures = 0
            self._next_canary = self.clock.monotonic()
            self.ctx.healthy()

    def _check_canary(self, now: float) -> None:
        canary = self.settings.policy.canary
        assert canary is not None and self._page is not None
        if self._canary_token is not None and now >= self._canary_deadline:
            self._canary_token = None
            self._canary_failures += 1
            detail = (f"no canary echo within {canary.timeout:g}s "
                      f"({self._canary_failures} of {canary.failures})")
            restart = self._canary_failures >= canary.failures
            self.ctx.unhealthy(Reason.CANARY, restart=restart, detail=detail)
        if self._canary_token is None and now >= self._next_canary:
            self._canary_token = secrets.token_hex(8)
            self._canary_deadline = now + canary.timeout
            self._next_canary = now + canary.interval
            self.adapter.send_canary(self._page, self._canary_token)

    def _beat(self, now: float) -> None:
        self._last_beat = now
        self.ctx.heartbeat()

    def _mark_gone(self, why: str) -> None:
        self._gone = self._gone or why

    # --- SessionSink: called by the adapter from inside Playwright calls ---------------------

    def message(self, message: InboundMessage) -> bool:
        try:
            data = {
                "message_id": message.id,
                "from": message.sender,
                "body": message.body,
                "timestamp": _iso(message.timestamp),
                **message.data,
            }
            self.inbound.append(self.settings.id, "message.received", data, self.clock.time())
        except Exception:
            logger.exception("session %s could not accept message %s; the app keeps it unacked",
                             self.settings.id, message.id)
            return False
        self.ctx.activity()
        # A page handing us events is alive. A backlog of thousands (each committed) keeps
        # the thread inside one pump slice for seconds: 6,000 messages starved the probe
        # past a 5 s heartbeat timeout and a working session was killed.
        now = self.clock.monotonic()
        if now - self._last_beat >= self.settings.policy.heartbeat_interval:
            self._beat(now)
        self.ctx.count("events")
        return True

    def canary_echo(self, token: str) -> None:
        if token != self._canary_token:
            return  # a late echo of a canary already counted as failed
        self._canary_token = None
        self.ctx.activity()  # an echo is an inbound event: a quiet session is not a dead one
        self.ctx.publish(last_canary=self.clock.time())
        if self._canary_failures:
            self._canary_failures = 0
            self.ctx.healthy()


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")
