"""A browser session is one actor that owns one Chromium, one page and one adapter.

Its page lives on its shard's driver loop; the actor never waits on it. Every page call is
submitted with a deadline and its result comes back as a message, and so does every page
event (an inbound message, a canary echo, a crash). The actor's own thread only ever waits on
its mailbox, so a hung page costs a timeout, never a thread, and a stop is always heard.

The page heartbeats by itself: a timer in the page calls a raw CDP binding with the app's state
every heartbeat interval, one way, with no reply. A hung page's timer never fires, so its
heartbeats stop and the supervisor's deadline restarts it. Measured on 8 idle pages, this costs
the browsers next to nothing, where asking each page with `evaluate` every 2 s cost 3% of a
core in the browsers and 0.6% in the driver.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pykka
from playwright.async_api import BrowserContext, ConsoleMessage, Page

from actors.adapters.base import Adapter, AuthState, InboundMessage
from actors.browser import BrowserTree, clear_profile_locks, sandboxed
from actors.driver import Driver
from actors.launch import LaunchGate, Ticket
from actors.memory import MemoryReading, MemoryWatch
from actors.policy import Policy
from actors.shard import Shard
from runtime import ChildContext, ChildSpec, Liveness, Reason, SupervisedActor, Timer

__all__ = ["START_TIMEOUT", "BrowserGone", "BrowserSession", "Inbound", "SessionDeps",
           "SessionSettings"]

logger = logging.getLogger(__name__)

BEAT_BINDING = "__wardenBeat"
# Runs in every document of the page before its own scripts: beat now, then every interval.
BEAT_SCRIPT = """
(() => {
  const beat = () => {
    let state = "loading";
    try { state = String(%(state)s); } catch (e) { /* the app is not there yet */ }
    window[%(binding)s](state);
  };
  beat();
  setInterval(beat, %(ms)d);
})();
"""
START_TIMEOUT = 120.0  # seconds to the first heartbeat: queued behind other launches, then open
CLOSE_TIMEOUT = 3.0  # a graceful close of the browser; after it the tree is killed anyway
CONSOLE_LINES = 50


class Inbound(Protocol):
    """Where inbound messages go (the webhook outbox): `append` returns once committed."""

    def append(self, session_id: str, type: str, data: Mapping[str, Any],
               at: float | None = None) -> Any: ...


class BrowserGone(RuntimeError):
    """The browser or the page died under the session (crash, kill -9, closed)."""


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """One session's own settings, from its config entry."""

    id: str
    url: str
    adapter: type[Adapter]
    adapter_name: str
    policy: Policy
    profile_dir: Path
    executable: str
    args: tuple[str, ...]
    launch_timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class SessionDeps:
    """What a session shares with others: where messages go, its shard's driver, the launch
    queue, and the memory sampler (None: memory not watched)."""

    inbound: Inbound
    shard: Shard
    gate: LaunchGate
    memory: MemoryWatch | None = None


# --- messages the session tells itself ----------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Beat:
    """The page's own heartbeat, with the state of the app it shows (an AuthState value)."""

    state: str


@dataclass(frozen=True, slots=True)
class _CanaryDue:
    """Timer: send the next canary."""


@dataclass(frozen=True, slots=True)
class _CanaryEcho:
    token: str


@dataclass(frozen=True, slots=True)
class _CanaryExpired:
    token: str


@dataclass(frozen=True, slots=True)
class _PageMessage:
    message: InboundMessage
    reply: Callable[[bool], None]


@dataclass(frozen=True, slots=True)
class _PageGone:
    why: str


class BrowserSession(SupervisedActor):
    """Supervised child: heartbeats with its page, reports activity per inbound event, runs the
    adapter's canary, applies the memory limit, and is freed by killing its tree."""

    def __init__(self, ctx: ChildContext, settings: SessionSettings, deps: SessionDeps) -> None:
        super().__init__(ctx)
        self.settings = settings
        self.deps = deps
        self.adapter = settings.adapter(settings.id, settings.url)
        self.clock = ctx.clock
        self.console: deque[str] = deque(maxlen=CONSOLE_LINES)  # appended on the driver loop
        self._driver: Driver | None = None
        self._context: BrowserContext | None = None
        self._page: Page | None = None
        self._tree: BrowserTree | None = None
        self._canary_timer: Timer | None = None
        self._expiry: Timer | None = None
        self._unwatch: Callable[[], None] | None = None
        self._auth = AuthState.LOADING
        self._canary_token: str | None = None
        self._canary_failures = 0
        self._over_limit = 0
        self._last_beat = 0.0

    @classmethod
    def child_spec(cls, settings: SessionSettings, deps: SessionDeps) -> ChildSpec:
        """A spec that runs this session under its policy's deadlines and restart budget; it
        depends on its shard's driver, whose restart restarts it."""
        policy = settings.policy
        return ChildSpec(
            id=settings.id,
            start=lambda ctx: cls.start(ctx, settings, deps),
            kind="session",
            depends_on=deps.shard.id,
            shutdown_timeout=CLOSE_TIMEOUT + 2.0,
            budget=policy.budget,
            liveness=Liveness(heartbeat_timeout=policy.heartbeat_timeout,
                              activity_timeout=policy.activity_timeout,
                              start_timeout=max(policy.heartbeat_timeout, START_TIMEOUT)),
        )

    # --- lifecycle (the actor's thread) ---------------------------------------------------------

    def started(self) -> None:
        s = self.settings
        s.profile_dir.mkdir(parents=True, exist_ok=True)
        clear_profile_locks(s.profile_dir)
        self.ctx.publish(adapter=s.adapter_name, browser_pid=None, memory_bytes=None,
                         last_canary=None)
        ticket = Ticket()  # a session stopped while it waits must never launch
        self.ctx.add_kill_hook(ticket.cancel)
        self.ctx.add_kill_hook(self.deps.shard.nudge)
        driver = self.deps.shard.wait(START_TIMEOUT, ticket)
        self._driver = driver
        self.deps.gate.acquire(ticket)
        try:
            self._context, self._page = driver.run(self._open(driver), s.launch_timeout)
        except BaseException:
            self._kill_profile()  # a launch cut short may have left its browser running
            raise
        finally:
            self.deps.gate.release()
        self._tree = BrowserTree.find(s.profile_dir)
        if self._tree is None:
            raise BrowserGone(f"no browser process found for profile {s.profile_dir}: it could "
                              "not be freed from outside if it hung")
        self.ctx.add_kill_hook(self._tree.kill)
        self.ctx.publish(browser_pid=self._tree.pid)
        if self.deps.memory is not None and s.policy.memory_limit is not None:
            self._unwatch = self.deps.memory.watch(self._tree.pid, self._tell)
        canary = s.policy.canary
        if canary is not None:
            self._canary_timer = self.ctx.scheduler.call_every(
                canary.interval, lambda: self._tell(_CanaryDue()))

    async def _open(self, driver: Driver) -> tuple[BrowserContext, Page]:
        """On the driver loop: launch the browser, hook the page's events, open the app."""
        s = self.settings
        context = await driver.playwright.chromium.launch_persistent_context(
            str(s.profile_dir), executable_path=s.executable, headless=True, args=list(s.args),
            timeout=s.launch_timeout * 1000, chromium_sandbox=sandboxed(s.args))
        context.on("close", self._gone_on("browser closed"))
        page = context.pages[0] if context.pages else await context.new_page()
        page.on("crash", self._gone_on("page crashed"))
        page.on("close", self._gone_on("page closed"))
        page.on("console", self._console)
        cdp = await context.new_cdp_session(page)
        await cdp.send("Runtime.enable")  # without it, documents loaded later lack the binding
        await cdp.send("Runtime.addBinding", {"name": BEAT_BINDING})
        cdp.on("Runtime.bindingCalled", self._binding_called)
        await page.add_init_script(BEAT_SCRIPT % {
            "binding": json.dumps(BEAT_BINDING), "state": self.adapter.state_expression,
            "ms": round(s.policy.heartbeat_interval * 1000)})
        await self.adapter.attach(page, self)
        await self.adapter.open(page, s.launch_timeout)
        return context, page

    def stopped(self) -> None:
        for timer in (self._canary_timer, self._expiry):
            if timer is not None:
                timer.cancel()
        if self._unwatch is not None:
            self._unwatch()
        context, driver, tree = self._context, self._driver, self._tree
        self._context = self._page = None
        if context is not None and driver is not None and driver.alive() and (
                tree is None or tree.alive()):
            try:
                driver.run(context.close(), CLOSE_TIMEOUT)
            except Exception as exc:  # dead, hung or killed: the tree is killed below
                logger.debug("closing the browser of %s: %r", self.settings.id, exc)
        if tree is not None:
            tree.kill()

    def receive(self, message: Any) -> Any:
        match message:
            case _PageMessage(message=inbound, reply=reply):
                reply(self.accept(inbound))
            case _Beat(state=state):
                self._beaten(state)
            case _CanaryDue():
                self._send_canary()
            case _CanaryEcho(token=token):
                self._canary_echo(token)
            case _CanaryExpired(token=token):
                self._canary_expired(token)
            case MemoryReading():
                self._memory(message)
            case _PageGone(why=why):
                self._gone(why)
            case _:
                return super().receive(message)
        return None

    # --- heartbeats and the login screen ---------------------------------------------------------

    def _binding_called(self, event: dict[str, Any]) -> None:
        """On the driver loop: a raw CDP binding was called by the page."""
        if event.get("name") == BEAT_BINDING:
            self._tell(_Beat(str(event.get("payload", ""))))

    def _beaten(self, state: str) -> None:
        self._beat(self.clock.monotonic())
        try:
            auth = AuthState(state)
        except ValueError:
            auth = AuthState.LOADING
        if auth is self._auth or auth is AuthState.LOADING:
            return
        previous, self._auth = self._auth, auth
        if auth is AuthState.AUTH_REQUIRED:
            self._canary_token = None
            self.ctx.auth_required("the app shows its login screen")
        elif auth is AuthState.READY:
            if previous is AuthState.AUTH_REQUIRED:
                self._canary_failures = 0
                self.ctx.healthy()
            self._send_canary()  # proves the path end to end as soon as the app is ready

    # --- the canary -----------------------------------------------------------------------------

    def _send_canary(self) -> None:
        canary = self.settings.policy.canary
        if canary is None or self._auth is not AuthState.READY or self._canary_token is not None:
            return
        assert self._page is not None
        token = self._canary_token = secrets.token_hex(8)
        self._expiry = self.ctx.scheduler.call_later(
            canary.timeout, lambda: self._tell(_CanaryExpired(token)))
        self._submit(self.adapter.send_canary(self._page, token), canary.timeout,
                     lambda _: None, lambda error: None)  # a failed send shows as no echo

    def _canary_echo(self, token: str) -> None:
        if token != self._canary_token:
            return  # a late echo of a canary already counted as failed
        self._canary_token = None
        if self._expiry is not None:
            self._expiry.cancel()
        self.ctx.activity()  # an echo is an inbound event: a quiet session is not a dead one
        self.ctx.publish(last_canary=self.clock.time())
        if self._canary_failures:
            self._canary_failures = 0
            self.ctx.healthy()

    def _canary_expired(self, token: str) -> None:
        canary = self.settings.policy.canary
        if token != self._canary_token or canary is None:
            return
        self._canary_token = None
        self._canary_failures += 1
        detail = (f"no canary echo within {canary.timeout:g}s "
                  f"({self._canary_failures} of {canary.failures})")
        self.ctx.unhealthy(Reason.CANARY, restart=self._canary_failures >= canary.failures,
                           detail=detail)

    # --- memory ---------------------------------------------------------------------------------

    def _memory(self, reading: MemoryReading) -> None:
        """Restart when the tree's anonymous memory is over the limit on two readings in a row
        (one rules out a spike); publish its PSS when it was read."""
        if reading.pss is not None:
            self.ctx.publish(memory_bytes=reading.pss)
        limit = self.settings.policy.memory_limit
        if limit is None:
            return
        if reading.anonymous <= limit:
            self._over_limit = 0
            return
        self._over_limit += 1
        if self._over_limit >= 2:
            self.ctx.unhealthy(
                Reason.MEMORY, restart=True,
                detail=f"browser holds {reading.anonymous / 2**20:.0f} MiB of anonymous memory, "
                       f"limit {limit / 2**20:.0f} MiB")

    # --- the page's end -------------------------------------------------------------------------

    def _gone(self, why: str) -> None:
        if self._driver is not None and not self._driver.alive():
            return  # the driver died under every page of its shard: its restart restarts us
        raise BrowserGone(why)

    # --- inbound messages -----------------------------------------------------------------------

    def accept(self, message: InboundMessage) -> bool:
        """Commit `message` to the outbox (actor thread); True once committed."""
        try:
            data = {
                "message_id": message.id,
                "from": message.sender,
                "body": message.body,
                "timestamp": _iso(message.timestamp),
                **message.data,
            }
            self.deps.inbound.append(self.settings.id, "message.received", data,
                                     self.clock.time())
        except Exception:
            logger.exception("session %s could not accept message %s; the app keeps it unacked",
                             self.settings.id, message.id)
            return False
        self.ctx.count("events")
        self.ctx.activity()
        # A page handing us events answers: a backlog thousands long may queue the probe's
        # answer behind it, so accepted messages heartbeat too (at most once an interval).
        now = self.clock.monotonic()
        if now - self._last_beat >= self.settings.policy.heartbeat_interval:
            self._beat(now)
        return True

    # --- SessionSink: called by the adapter on the driver loop ---------------------------------

    def message(self, message: InboundMessage) -> Awaitable[bool]:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[bool] = loop.create_future()

        def reply(committed: bool) -> None:  # actor thread
            loop.call_soon_threadsafe(_resolve, answer, committed)

        try:
            self.actor_ref.tell(_PageMessage(message, reply))
        except pykka.ActorDeadError:
            answer.set_result(False)  # the page keeps it unacked
        return answer

    def canary_echo(self, token: str) -> None:
        self._tell(_CanaryEcho(token))

    # --- plumbing -------------------------------------------------------------------------------

    def _console(self, message: ConsoleMessage) -> None:
        self.console.append(f"{message.type}: {message.text}"[:500])

    def _submit(self, coro: Coroutine[Any, Any, Any], timeout: float,
                ok: Callable[[Any], object], failed: Callable[[str], object]) -> None:
        """Run `coro` on the driver loop; its result or error comes back as a message."""
        driver = self._driver
        if driver is None:
            coro.close()
            return

        def done(future: Future[Any]) -> None:
            if future.cancelled():
                message = failed("cancelled")
            elif (error := future.exception()) is not None:
                message = failed(f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
                                 if str(error) else type(error).__name__)
            else:
                message = ok(future.result())
            if message is not None:
                self._tell(message)

        try:
            driver.submit(coro, timeout).add_done_callback(done)
        except RuntimeError:  # the driver's loop has closed
            self._tell(failed("the driver's loop is gone"))

    def _beat(self, now: float) -> None:
        self._last_beat = now
        self.ctx.heartbeat()

    def _gone_on(self, why: str) -> Callable[[Any], None]:
        """A page or browser event handler that tells the actor its page is gone."""
        return lambda _: self._tell(_PageGone(why))

    def _tell(self, message: object) -> None:
        with contextlib.suppress(pykka.ActorDeadError):  # stopped meanwhile
            self.actor_ref.tell(message)

    def _kill_profile(self) -> None:
        tree = BrowserTree.find(self.settings.profile_dir)
        if tree is not None:
            tree.kill()


def _resolve(future: asyncio.Future[bool], value: bool) -> None:
    if not future.done():
        future.set_result(value)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")

