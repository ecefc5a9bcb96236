"""A browser session is one actor that owns one Chromium, one page and one adapter.

Its page lives on its shard's driver loop; the actor never waits on it for long. Page calls are
submitted with deadlines and answer as messages, and every page event (a heartbeat, an inbound
message, a server ack, a crash) arrives as a message. The actor's own thread waits on its
mailbox, so a hung page costs a timeout, never a thread, and a stop is always heard.

The page talks one way, through raw CDP bindings the session installs in every document: a
timer in the page reports the app's state every heartbeat interval (a hung page's timer never
fires, so its heartbeats stop and the supervisor's deadline restarts it), and the adapter's
hook reports messages and acks. Measured on 8 idle pages, this costs the browsers next to
nothing, where asking each page with `evaluate` every 2 s cost 3% of a core in the browsers
and 0.6% in the driver.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pykka
from playwright.async_api import BrowserContext, ConsoleMessage, Page

from actors.adapters.base import (
    EVENT_BINDING,
    Adapter,
    AuthState,
    InboundMessage,
    add_bindings,
)
from actors.browser import BrowserTree, clear_profile_locks, sandboxed
from actors.canary import Canary
from actors.driver import Driver
from actors.incidents import IncidentRecorder
from actors.launch import LaunchGate, Ticket
from actors.memory import MemoryReading, MemoryWatch
from actors.pages import LivePage, Pages
from actors.policy import Policy
from actors.reconcile import Reconciled, StoreUnreadable, reconcile
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
# Why a login is needed, as `session.auth_required` says it (`data.reason`), and what it means.
LOGIN_REASONS = {
    "logout": "the app shows its login screen",
    "conflict": "the account was opened in another browser, which took it over",
}
START_TIMEOUT = 120.0  # seconds to the first heartbeat: queued behind other launches, then open
CLOSE_TIMEOUT = 3.0  # a graceful close of the browser; after it the tree is killed anyway
RECONCILE_RETRY_MAX = 30.0  # seconds between two tries of a reconciliation that keeps failing
OPEN_MARGIN = 5.0  # seconds past an adapter's own load timeout before its open is cut short
READ_TIMEOUT = 30.0  # one slice of the app's history
OFFLINE_RETRY_MAX = 60.0  # seconds between attempts to load an app that cannot be reached
CONSOLE_LINES = 50


class Inbound(Protocol):
    """Where inbound messages go (the webhook outbox): `append` returns once committed."""

    def append(self, session_id: str, type: str, data: Mapping[str, Any],
               at: float | None = None) -> Any: ...
    def message_high_water(self, session_id: str) -> float | None: ...
    def known_messages(self, session_id: str, message_ids: Sequence[str]) -> set[str]: ...


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
    load_timeout: float | None = None  # the app's own load time; None: what its adapter says


@dataclass(frozen=True, slots=True)
class SessionDeps:
    """What a session shares with others: where messages go, its shard's driver, the launch
    queue, the memory sampler (None: memory not watched), the page directory and the incident
    recorder."""

    inbound: Inbound
    shard: Shard
    gate: LaunchGate
    memory: MemoryWatch | None = None
    pages: Pages | None = None  # where the front and incidents find the open page
    incidents: IncidentRecorder | None = None


# --- messages the session tells itself ----------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Beat:
    """The page's own heartbeat, with the state of the app it shows (an AuthState value)."""

    state: str


@dataclass(frozen=True, slots=True)
class _PageMessage:
    message: InboundMessage


@dataclass(frozen=True, slots=True)
class _Acked:
    message_id: str
    ack: int


@dataclass(frozen=True, slots=True)
class _CanaryDue:
    """Timer: send the next canary."""


@dataclass(frozen=True, slots=True)
class _CanarySent:
    token: str
    message_id: str


@dataclass(frozen=True, slots=True)
class _CanaryExpired:
    token: str


@dataclass(frozen=True, slots=True)
class _Reload:
    """Timer: try again to load an app that could not be reached."""


@dataclass(frozen=True, slots=True)
class _Loaded:
    error: str = ""  # empty: the app is open
    unreachable: bool = False


@dataclass(frozen=True, slots=True)
class _Reconcile:
    """Read the app's store against the outbox (after a commit failed, say)."""


@dataclass(frozen=True, slots=True)
class _PageGone:
    why: str


class BrowserSession(SupervisedActor):
    """Supervised child: heartbeats with its page, reports activity per inbound event, proves
    the app's server round trip with a canary, reconciles the app's store with the outbox,
    applies the memory limit, and is freed by killing its tree."""

    def __init__(self, ctx: ChildContext, settings: SessionSettings, deps: SessionDeps) -> None:
        super().__init__(ctx)
        self.settings = settings
        self.deps = deps
        self.adapter = settings.adapter(settings.id, settings.url)
        # The app may need longer than a launch to load (WhatsApp Web syncs first).
        self._load_timeout = settings.load_timeout or max(settings.launch_timeout,
                                                          settings.adapter.load_timeout)
        self.clock = ctx.clock
        self.console: deque[str] = deque(maxlen=CONSOLE_LINES)  # appended on the driver loop
        self._driver: Driver | None = None
        self._context: BrowserContext | None = None
        self._page: Page | None = None
        self._tree: BrowserTree | None = None
        self._unwatch: Callable[[], None] | None = None
        self._auth = AuthState.LOADING
        self._canary = Canary()
        self._canary_timer: Timer | None = None
        self._expiry: Timer | None = None
        self._canary_failures = 0
        self._over_limit = 0
        self._last_beat = 0.0
        self._retry: Timer | None = None
        self._retry_delay = 1.0
        self._offline_beat: Timer | None = None
        self._reconcile_retry: Timer | None = None  # set while a reconciliation is owed
        self._reconcile_failures = 0  # in a row: the retry waits longer each time
        self._reconcile_tried = -RECONCILE_RETRY_MAX  # monotonic time of the last attempt
        self._recovered_unreported = 0  # appended by reconciliations that did not complete
        self._withdraw: Callable[[], None] | None = None

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
            on_fault=None if deps.incidents is None else deps.incidents.record,
            shutdown_timeout=CLOSE_TIMEOUT + 2.0,
            budget=policy.budget,
            liveness=Liveness(heartbeat_timeout=policy.heartbeat_timeout,
                              activity_timeout=policy.activity_timeout,
                              # queued behind other launches, then the app's own load time
                              start_timeout=max(policy.heartbeat_timeout, START_TIMEOUT,
                                                settings.adapter.load_timeout + 60.0)),
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
            self._context, self._page = driver.run(self._launch(driver), s.launch_timeout)
            self._tree = BrowserTree.find(s.profile_dir)
            if self._tree is None:
                raise BrowserGone(f"no browser process found for profile {s.profile_dir}: it "
                                  "could not be freed from outside if it hung")
            self.ctx.add_kill_hook(self._tree.kill)
            # The adapter keeps to its timeout and says why it ran out; ours is the backstop.
            loaded = self._run(self.adapter.open(self._page, self._load_timeout),
                               self._load_timeout + OPEN_MARGIN)
        except BaseException:
            self._kill_profile()  # a launch cut short may have left its browser running
            raise
        finally:
            self.deps.gate.release()
        self.ctx.publish(browser_pid=self._tree.pid)
        if self.deps.pages is not None:
            self._withdraw = self.deps.pages.register(LivePage(
                s.id, driver, self._page, self.adapter, self._tree, self.console))
        if self.deps.memory is not None and s.policy.memory_limit is not None:
            self._unwatch = self.deps.memory.watch(self._tree.pid, self._tell)
        canary = s.policy.canary
        if canary is not None:
            self._canary_timer = self.ctx.scheduler.call_every(
                canary.interval, lambda: self._tell(_CanaryDue()))
        if isinstance(loaded, Exception):
            self._load_failed(loaded)
        else:
            self.reconcile()

    async def _launch(self, driver: Driver) -> tuple[BrowserContext, Page]:
        """On the driver loop: launch the browser and hook the page's events and bindings."""
        s = self.settings
        context = await driver.playwright.chromium.launch_persistent_context(
            str(s.profile_dir), executable_path=s.executable, headless=True, args=list(s.args),
            timeout=s.launch_timeout * 1000, chromium_sandbox=sandboxed(s.args))
        context.on("close", self._gone_on("browser closed"))
        page = context.pages[0] if context.pages else await context.new_page()
        page.on("crash", self._gone_on("page crashed"))
        page.on("close", self._gone_on("page closed"))
        page.on("console", self._console)
        await add_bindings(context, page, (BEAT_BINDING, EVENT_BINDING), self._binding_called)
        await page.add_init_script(BEAT_SCRIPT % {
            "binding": json.dumps(BEAT_BINDING), "state": self.adapter.state_expression,
            "ms": round(s.policy.heartbeat_interval * 1000)})
        await self.adapter.attach(page)
        return context, page

    def stopped(self) -> None:
        for timer in (self._canary_timer, self._expiry, self._retry, self._offline_beat,
                      self._reconcile_retry):
            if timer is not None:
                timer.cancel()
        for undo in (self._unwatch, self._withdraw):
            if undo is not None:
                undo()
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
            case _Beat(state=state):
                self._beaten(state)
            case _PageMessage(message=inbound):
                if self._reconcile_retry is not None and not self._reconcile_first():
                    self.ctx.count("held")  # in the app's store, for the next reconciliation
                    return None
                if not self.accept(inbound):
                    self._reconcile_soon()  # the page has it; the outbox will, once it can
            case _Acked(message_id=message_id, ack=ack):
                if self._canary.acked(message_id, ack):
                    self._canary_proven()
            case _CanaryDue():
                self._send_canary()
            case _CanarySent(token=token, message_id=message_id):
                if self._canary.sent(token, message_id):
                    self._canary_proven()
            case _CanaryExpired(token=token):
                self._canary_expired(token)
            case MemoryReading():
                self._memory(message)
            case _Reload():
                self._reload()
            case _Loaded(error=error, unreachable=unreachable):
                self._loaded(error, unreachable)
            case _Reconcile():
                self._reconcile_retry = None
                self.reconcile()
            case _PageGone(why=why):
                self._gone(why)
            case _:
                return super().receive(message)
        return None

    # --- heartbeats and the app's state ---------------------------------------------------------

    def _binding_called(self, event: dict[str, Any]) -> None:
        """On the driver loop: the page called one of the session's CDP bindings."""
        name, payload = event.get("name"), str(event.get("payload", ""))
        if name == BEAT_BINDING:
            self._tell(_Beat(payload))
        elif name == EVENT_BINDING:
            self.adapter.page_event(payload, self)

    def _beaten(self, state: str) -> None:
        self._beat(self.clock.monotonic())
        name, _, why = state.partition(":")
        try:
            auth = AuthState(name)
        except ValueError:
            auth = AuthState.LOADING
        if auth is self._auth or auth is AuthState.LOADING:
            return
        previous, self._auth = self._auth, auth
        if auth is AuthState.AUTH_REQUIRED:
            self._canary.drop()
            reason, _, text = (why or "logout").partition(":")
            self.ctx.auth_required(f"{reason}: {text.strip() or LOGIN_REASONS.get(reason, reason)}")
        elif auth is AuthState.OFFLINE:
            self._canary.drop()
            self.ctx.offline(why or "the app lost its server; it reconnects by itself")
        elif auth is AuthState.READY:
            if previous in (AuthState.AUTH_REQUIRED, AuthState.OFFLINE):
                self._canary_failures = 0
                self.ctx.healthy()
                self.reconcile()
            self._send_canary()  # proves the path end to end as soon as the app is ready

    # --- an app that cannot be reached ----------------------------------------------------------

    def _load_failed(self, error: Exception) -> None:
        if not _unreachable(error):
            raise error
        self._auth = AuthState.OFFLINE
        self.ctx.offline(f"the app cannot be reached: {_first_line(error)}")
        # The error page runs no heartbeat of the app's: the session's own stands in for it,
        # saying nothing of the app's state (a late one must not undo a recovery).
        self._offline_beat = self.ctx.scheduler.call_every(
            self.settings.policy.heartbeat_interval, lambda: self._tell(_Beat("loading")))
        self._retry_later()

    def _retry_later(self) -> None:
        self._retry = self.ctx.scheduler.call_later(self._retry_delay,
                                                    lambda: self._tell(_Reload()))
        self._retry_delay = min(OFFLINE_RETRY_MAX, self._retry_delay * 2)

    def _reload(self) -> None:
        if self._page is None:
            return

        def done(error: str) -> _Loaded:
            return _Loaded(error, unreachable="net::ERR_" in error)

        self._submit(self.adapter.open(self._page, self._load_timeout),
                     self._load_timeout + OPEN_MARGIN, lambda _: _Loaded(), done)

    def _loaded(self, error: str, unreachable: bool) -> None:
        if error and not unreachable:
            raise BrowserGone(f"the app could not be loaded: {error}")
        if error:
            self._retry_later()
            return
        if self._offline_beat is not None:
            self._offline_beat.cancel()
            self._offline_beat = None
        self._retry_delay = 1.0  # the page's own heartbeat now says ready (or its login screen)

    # --- the canary -----------------------------------------------------------------------------

    def _send_canary(self) -> None:
        canary = self.settings.policy.canary
        if canary is None or self._auth is not AuthState.READY or self._canary.in_flight:
            return
        assert self._page is not None
        token, body = self._canary.send()
        self._expiry = self.ctx.scheduler.call_later(
            canary.timeout, lambda: self._tell(_CanaryExpired(token)))
        self._submit(self.adapter.send_canary(self._page, body), canary.timeout,
                     lambda message_id: _CanarySent(token, str(message_id)),
                     lambda error: None)  # a failed send shows as no server ack

    def _canary_proven(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        self.ctx.activity()  # the server answered: a quiet session is not a dead one
        self.ctx.publish(last_canary=self.clock.time())
        if self._canary_failures:
            self._canary_failures = 0
            self.ctx.healthy()
            self.reconcile()

    def _canary_expired(self, token: str) -> None:
        canary = self.settings.policy.canary
        if not self._canary.expired(token) or canary is None:
            return
        if self._auth is not AuthState.READY:
            return  # logged out or offline meanwhile: not the connection's fault
        self._canary_failures += 1
        detail = (f"no server ack of the canary within {canary.timeout:g}s "
                  f"({self._canary_failures} of {canary.failures})")
        self.ctx.unhealthy(Reason.CANARY, restart=self._canary_failures >= canary.failures,
                           detail=detail)

    # --- reconciliation -------------------------------------------------------------------------

    def reconcile(self) -> bool:
        """Append what the app's store holds and the outbox lacks, in the app's order, before
        any newer live message (they wait in the mailbox, and are known by then). False when the
        store or the outbox could not be used: it is tried again soon, and live messages wait
        for it in the store."""
        page, driver, session = self._page, self._driver, self.settings.id
        if page is None or driver is None:
            return False  # no store to read: the next open reconciles
        self._reconcile_tried = self.clock.monotonic()

        def read(start: float, limit: int) -> Sequence[InboundMessage]:
            try:
                return driver.run(self.adapter.history(page, start, limit), READ_TIMEOUT)
            except Exception as exc:
                raise StoreUnreadable(_first_line(exc)) from exc

        def append(message: InboundMessage) -> None:
            self._append(message, recovered=True)
            self._recovered_unreported += 1
            self.ctx.count("reconciled")

        try:
            done = reconcile(session, self.deps.inbound, read, append, now=self.clock.time())
        except Exception:
            logger.exception("session %s: reconciliation could not use the outbox; again soon",
                             session)
            self._reconcile_soon()
            return False
        if not done.complete:
            self._reconcile_soon()
            return False
        if self._recovered_unreported:
            self._report_reconciled(self._recovered_unreported, done)
            self._recovered_unreported = 0
        if self._reconcile_retry is not None:
            self._reconcile_retry.cancel()
            self._reconcile_retry = None
        if self._reconcile_failures:
            self._reconcile_failures = 0
            self.ctx.publish(reconcile_owed_since=None)
        return True

    def _reconcile_first(self) -> bool:
        """Before a live message while a reconciliation is owed: try it now (it appends that
        message too, in its place), at most once a second; True once nothing is owed."""
        if self.clock.monotonic() - self._reconcile_tried < 1.0:
            return False
        return self.reconcile()

    def _report_reconciled(self, recovered: int, done: Reconciled) -> None:
        """`recovered` counts the messages of earlier passes that did not complete too."""
        session = self.settings.id
        logger.info("session %s: %d messages recovered from the app's store", session, recovered)
        data = {"recovered": recovered, "scanned": done.scanned, "since": _iso(done.since)}
        try:
            self.deps.inbound.append(session, "session.reconciled", data, self.clock.time())
        except Exception:  # the messages are committed; only the report of them is lost
            logger.exception("session %s: session.reconciled could not be appended", session)

    def _reconcile_soon(self) -> None:
        """Reconcile again after a delay that grows while it keeps failing (1 s to 30 s);
        until then, live messages are left in the store for it."""
        if self._reconcile_retry is None:  # one retry at a time, however many commits failed
            if self._reconcile_failures == 0:
                self.ctx.publish(reconcile_owed_since=self.clock.time())
            delay = min(RECONCILE_RETRY_MAX, 2.0 ** self._reconcile_failures)
            self._reconcile_failures += 1
            self._reconcile_retry = self.ctx.scheduler.call_later(
                delay, lambda: self._tell(_Reconcile()))

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
            self._append(message)
        except Exception:
            logger.exception("session %s could not accept message %s; it is read again from the "
                             "app's store", self.settings.id, message.id)
            return False
        self.ctx.count("events")
        self.ctx.activity()
        # A backlog of messages may queue the page's heartbeats behind it: a page handing us
        # events is alive, so accepted messages heartbeat too (at most once an interval).
        now = self.clock.monotonic()
        if now - self._last_beat >= self.settings.policy.heartbeat_interval:
            self._beat(now)
        return True

    def _append(self, message: InboundMessage, *, recovered: bool = False) -> None:
        data = {
            "message_id": message.id,
            "from": message.sender,
            "body": message.body,
            "timestamp": _iso(message.timestamp),
            **message.data,
        }
        if recovered:
            data["recovered"] = True
        self.deps.inbound.append(self.settings.id, "message.received", data, self.clock.time())

    # --- SessionSink: called by the adapter on the driver loop ---------------------------------

    def message(self, message: InboundMessage) -> None:
        self._tell(_PageMessage(message))

    def acked(self, message_id: str, ack: int) -> None:
        self._tell(_Acked(message_id, ack))

    def skipped(self, detail: str) -> None:
        self.ctx.count("skipped")

    def app_state(self, state: str) -> None:
        self._tell(_Beat(state))  # the page's JS ran to say so: a heartbeat too

    def login_code(self, payload: str | None, expires_at: float | None) -> None:
        self.ctx.publish(login_qr=payload, login_qr_expires_at=expires_at)

    # --- plumbing -------------------------------------------------------------------------------

    def _console(self, message: ConsoleMessage) -> None:
        self.console.append(f"{message.type}: {message.text}"[:500])

    def _run(self, coro: Coroutine[Any, Any, Any], timeout: float) -> Any:
        """Run `coro` on the driver loop and wait: its result, or the exception it raised."""
        assert self._driver is not None
        try:
            return self._driver.run(coro, timeout)
        except Exception as exc:
            return exc

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
                message = failed(_first_line(error))
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


def _unreachable(error: BaseException) -> bool:
    """A page load that failed because the app's server cannot be reached (an outage), not
    because the browser or the page is broken."""
    return "net::ERR_" in str(error)


def _first_line(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text.splitlines()[0][:200]}" if text else type(
        error).__name__


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")
