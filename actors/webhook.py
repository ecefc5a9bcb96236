"""The webhook actor delivers the outbox to one endpoint: in order, one POST at a time, signed.

It never holds the only copy of an event: it reads the head of the durable outbox, hands a run
of events to its `Poster` (which POSTs them one after another on its own loop thread) and
writes each answer back to the outbox. The head blocks the queue until it is delivered or
dead-lettered, so ordering is global per endpoint and hence per session. What an answer means
and when to try again are the pure functions of `actors.delivery`; this module only carries
them out, timing every wait with `ctx.scheduler` so tests can drive a 24-hour schedule with
a fake clock. While a POST is in flight the actor still reads its mailbox and heartbeats.
"""

from __future__ import annotations

import contextlib
import logging
import random
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import pykka

from actors.delivery import (
    PROBE_INITIAL,
    PROBE_MAX,
    AttemptResult,
    EndpointState,
    Outcome,
    classify,
    probe_delay,
    retry_delay,
)
from actors.outbox import Outbox
from actors.poster import Attempted, Poster
from actors.signing import Signer
from actors.webhook_event import StoredEvent
from runtime import ChildContext, ChildSpec, Liveness, RestartBudget, SupervisedActor, Timer

__all__ = [
    "DEFAULT_SCHEDULE",
    "HEARTBEAT_INTERVAL",
    "PURGE_INTERVAL",
    "DeliveryObserver",
    "WebhookActor",
    "WebhookConfig",
]

logger = logging.getLogger(__name__)

HEARTBEAT_INTERVAL = 1.0  # seconds between ticks: heartbeat, and a look for requeued events
PURGE_INTERVAL = 60.0  # seconds between purges of delivered events older than keep_delivered
RUN_SIZE = 256  # events handed to the poster at once; the run still stops at the first failure
DEFAULT_SCHEDULE = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0, 50400.0, 86400.0)


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    url: str = "http://127.0.0.1:3001/demo/webhook"
    secret: str = "whsec_ZGVtby1zZWNyZXQtZGVtby1zZWNyZXQtZGVtbw=="
    timeout: float = 15.0
    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    jitter: float = 0.2
    keep_delivered: float = 7 * 86400.0


class DeliveryObserver(Protocol):
    """Told of every attempt (on the actor's thread); the metrics class implements it."""

    def delivery_attempted(self, outcome: str, seconds: float) -> None:
        """`outcome` is one of "delivered", "retry", "dead_letter", "paused"."""
        ...


@dataclass(frozen=True, slots=True)
class Wake:
    """Look at the queue: events were committed, or a wait ran out."""


@dataclass(frozen=True, slots=True)
class Tick:
    """The actor's own timer: heartbeat, purge, and a look for events queued from outside."""


class WebhookActor(SupervisedActor):
    """Delivers `outbox` to `config.url`. Start with `WebhookActor.start(ctx, outbox, config)`."""

    def __init__(self, ctx: ChildContext, outbox: Outbox, config: WebhookConfig,
                 observer: DeliveryObserver | None = None, *,
                 rng: random.Random | None = None, run_size: int = RUN_SIZE) -> None:
        super().__init__(ctx)
        self._outbox = outbox
        self._config = config
        self._observer = observer
        self._rng = rng or random.Random()
        self._run_size = run_size
        self._url = _redact(config.url)
        self._poster: Poster | None = None
        self._unsubscribe = _nothing
        self._ticker: Timer | None = None
        self._wait: Timer | None = None
        self._not_before: float | None = None  # ctx.clock.monotonic() before which we wait
        self._run = 0  # the current run's number; answers of older runs are ignored
        self._in_flight = False
        self._wake_told = False  # a Wake is already in the mailbox: no need for another
        self._state = EndpointState.OK
        self._probes = 0
        self._pauses = 0
        self._last_purge = 0.0
        self._shown: dict[str, Any] = {}

    @classmethod
    def child_spec(cls, outbox: Outbox, config: WebhookConfig,
                   observer: DeliveryObserver | None = None, *, id: str = "webhook",
                   budget: RestartBudget | None = None) -> ChildSpec:
        """A spec that runs this actor; a POST in flight may take `config.timeout` to answer."""
        return ChildSpec(
            id=id,
            start=lambda ctx: cls.start(ctx, outbox, config, observer),
            budget=budget or RestartBudget(),
            liveness=Liveness(heartbeat_timeout=config.timeout + 10.0),
        )

    # --- lifecycle (the actor's thread) -------------------------------------------------------

    def started(self) -> None:
        self._poster = Poster(self._config.url, Signer(self._config.secret), self._config.timeout)
        self.ctx.add_kill_hook(self._poster.close)
        self._poster.start()
        self._last_purge = self.ctx.clock.monotonic()
        self._ticker = self.ctx.scheduler.call_every(HEARTBEAT_INTERVAL,
                                                     lambda: self._tell(Tick()))
        self._unsubscribe = self._outbox.subscribe(self._committed)
        self.ctx.heartbeat()
        self._publish(last_status=None, last_error=None)
        self._wake()

    def stopped(self) -> None:
        self._unsubscribe()
        for timer in (self._ticker, self._wait):
            if timer is not None:
                timer.cancel()
        if self._poster is not None:
            self._poster.close()

    def receive(self, message: Any) -> Any:
        match message:
            case Attempted():
                self._attempted(message)
            case Wake():
                self._wake_told = False
                self._wake()
            case Tick():
                self._tick()
            case _:
                return super().receive(message)
        return None

    # --- delivering ---------------------------------------------------------------------------

    def _wake(self) -> None:
        if self._in_flight or self._poster is None:
            return
        if self._not_before is not None:
            if self.ctx.clock.monotonic() < self._not_before:
                return
            self._not_before = None
        events = self._outbox.pending(self._run_size)
        if events:
            self._run += 1
            self._in_flight = True
            self._poster.submit(self._run, events, self._tell)

    def _attempted(self, message: Attempted) -> None:
        if message.run != self._run:
            return
        if message.last:
            self._in_flight = False
        *delivered, (event, result) = message.answers
        if delivered:
            self._outbox.mark_all_delivered([(e.id, r.status or 0) for e, r in delivered])
            for _, answer in delivered:
                self._observe(Outcome.DELIVERED, answer.seconds)
        outcome = self._settle(event, result)
        self._publish(last_status=result.status, last_error=result.error or None)
        self._observe(outcome, result.seconds)
        if not self._in_flight and self._not_before is None:
            self._wake()

    def _settle(self, event: StoredEvent, result: AttemptResult) -> Outcome:
        """Write one answer to the outbox and act on it; returns what it came to."""
        outcome = classify(result.status)
        if outcome is Outcome.RETRY:
            delay = retry_delay(event.attempts + 1, self._config.schedule, self._config.jitter,
                                self._rng, result.retry_after)
            if delay is not None:
                self._outbox.record_retry(event.id, result.status, result.error,
                                          self._sleep(delay))
                self._enter(EndpointState.RETRYING, f"{event.id}: {result.error}")
                return outcome
            outcome = Outcome.DEAD_LETTER
            logger.warning("webhook %s: giving up on %s after %d attempts, the last: %s",
                           self._url, event.id, event.attempts + 1, result.error)
        elif outcome is Outcome.DEAD_LETTER:
            logger.warning("webhook %s refused %s for good: %s", self._url, event.id,
                           result.error)
        if outcome is Outcome.DELIVERED:
            assert result.status is not None
            self._outbox.mark_delivered(event.id, result.status)
            self._enter(EndpointState.OK, "")
        elif outcome is Outcome.DEAD_LETTER:
            self._outbox.dead_letter(event.id, result.status, result.error)
            self._enter(EndpointState.OK, "")
        elif outcome is Outcome.PAUSED:
            self._probes += 1
            self._outbox.record_pause(event.id, result.status, result.error,
                                      self._sleep(probe_delay(self._probes)))
            self._enter(EndpointState.PAUSED, result.error)
        return outcome

    def _sleep(self, delay: float) -> float:
        """Wait `delay` seconds before the next run; returns when that is, in wall seconds."""
        if self._wait is not None:
            self._wait.cancel()
        self._not_before = self.ctx.clock.monotonic() + delay
        self._wait = self.ctx.scheduler.call_later(delay, lambda: self._tell(Wake()))
        return self.ctx.clock.time() + delay

    def _enter(self, state: EndpointState, why: str) -> None:
        before, self._state = self._state, state
        if state is EndpointState.PAUSED and before is not EndpointState.PAUSED:
            self._pauses += 1
            logger.error("webhook %s paused: %s. Events are kept and the endpoint is probed "
                         "(first after %gs, then at most every %gs) until it answers 2xx.",
                         self._url, why, PROBE_INITIAL, PROBE_MAX)
        elif state is EndpointState.OK and before is not EndpointState.OK:
            self._probes = 0
            logger.info("webhook %s recovered (was %s)", self._url, before)
        elif state is EndpointState.RETRYING and before is EndpointState.OK:
            logger.warning("webhook %s: retrying %s", self._url, why)

    # --- housekeeping -------------------------------------------------------------------------

    def _tick(self) -> None:
        self.ctx.heartbeat()
        now = self.ctx.clock.monotonic()
        if now - self._last_purge >= PURGE_INTERVAL:
            self._last_purge = now
            purged = self._outbox.purge_delivered(self._config.keep_delivered)
            if purged:
                logger.info("outbox: forgot %d delivered events older than %gs", purged,
                            self._config.keep_delivered)
        self._wake()  # picks up events requeued by `warden outbox requeue` in another process

    def _publish(self, *, last_status: int | None, last_error: str | None) -> None:
        shown = {
            "endpoint_state": str(self._state),
            "paused_reason": last_error if self._state is EndpointState.PAUSED else None,
            "next_attempt_at": (None if self._not_before is None else
                                self.ctx.clock.time() + self._not_before
                                - self.ctx.clock.monotonic()),
            "last_status": last_status,
            "last_error": last_error,
            "pauses": self._pauses,
            "url": self._url,
        }
        if shown != self._shown:
            self._shown = shown
            self.ctx.publish(**shown)

    def _observe(self, outcome: Outcome, seconds: float) -> None:
        if self._observer is None:
            return
        try:
            self._observer.delivery_attempted(str(outcome), seconds)
        except Exception:
            logger.exception("delivery observer %r failed", self._observer)

    # --- from other threads -------------------------------------------------------------------

    def _committed(self) -> None:
        """The outbox committed events (on the appender's thread)."""
        if not self._wake_told:
            self._wake_told = True
            self._tell(Wake())

    def _tell(self, message: object) -> None:
        with contextlib.suppress(pykka.ActorDeadError):
            self.actor_ref.tell(message)


def _redact(url: str) -> str:
    """`url` without any user:password part or query string (often a key), for logs and the
    status board."""
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        parts = parts._replace(netloc=f"{host}:{parts.port}" if parts.port else host)
    return urlunsplit(parts._replace(query="redacted" if parts.query else "", fragment=""))


def _nothing() -> None:
    pass
