"""A webhook actor delivers the outbox to one endpoint: each session's events in order, one at a
time, sessions side by side on up to `connections` connections, signed.

It never holds the only copy of an event: it reads what its endpoint's queue holds, keeps the
lanes' positions in memory (`actors.lanes`), hands runs of a lane's events to its `Poster` and
writes every answer back to the outbox. A lane's head blocks only its own lane until it is
delivered or dead-lettered; a refusal of the endpoint itself (401/403/404/410) pauses every
lane and probes. What an answer means and when to try again are the pure functions of
`actors.delivery`; this module only carries them out, timing every wait with `ctx.scheduler`,
so tests can drive a 24-hour schedule with a fake clock. While POSTs are in flight the actor
still reads its mailbox and heartbeats. When it stops, POSTs in flight get `STOP_GRACE` to
answer, and every answer that came is written before the actor ends, so a clean shutdown
sends nothing twice.
"""

from __future__ import annotations

import contextlib
import logging
import random
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import pykka

from actors.delivery import PROBE_INITIAL, PROBE_MAX, EndpointState, Outcome, verdict
from actors.endpoint import DEFAULT_ENDPOINT, DEFAULT_SCHEDULE, WebhookConfig
from actors.lanes import Lane, Lanes
from actors.outbox import Outbox
from actors.outbox_queue import Answer
from actors.poster import Answered, Poster
from actors.signing import Signer
from runtime import ChildContext, ChildSpec, Liveness, RestartBudget, SupervisedActor, Timer

__all__ = [
    "DEFAULT_SCHEDULE",
    "HEARTBEAT_INTERVAL",
    "KIND",
    "PRUNE_INTERVAL",
    "DeliveryObserver",
    "WebhookActor",
    "WebhookConfig",
    "child_id",
    "redact",
]

logger = logging.getLogger(__name__)

KIND = "webhook"  # the child spec kind of every webhook actor
HEARTBEAT_INTERVAL = 1.0  # seconds between ticks: heartbeat, prune, a look for requeued events
PRUNE_INTERVAL = 60.0  # seconds between prunes of delivered rows older than keep_delivered
PRUNE_BUDGET = 0.05  # seconds of pruning per tick at most, in batches of PRUNE_BATCH rows
PRUNE_BATCH = 100
RUN_SIZE = 256  # events of one lane handed to the poster at once; a run stops at a failure
LANE_CAP = 256  # positions of one lane held in memory; the rest are read as it drains
SCAN_SIZE = 1024  # pending deliveries read per query
STOP_GRACE = 2.0  # seconds POSTs in flight get to answer when the actor stops


def child_id(endpoint: str) -> str:
    """The tree's id for the actor of `endpoint` (`webhook` for the default one)."""
    return "webhook" if endpoint == DEFAULT_ENDPOINT else f"webhook-{endpoint}"


class DeliveryObserver(Protocol):
    """Told of every attempt (on the actor's thread); the metrics class implements it."""

    def delivery_attempted(self, endpoint: str, outcome: str, seconds: float) -> None:
        """`outcome` is one of "delivered", "retry", "dead_letter", "paused"."""
        ...


@dataclass(frozen=True, slots=True)
class Wake:
    """Look at the queue: events were committed or requeued, or a wait ran out."""


@dataclass(frozen=True, slots=True)
class AnswersReady:
    """The poster has answers to take."""


@dataclass(frozen=True, slots=True)
class Tick:
    """The actor's own timer: heartbeat, prune, and a look for events requeued from outside."""


class WebhookActor(SupervisedActor):
    """Delivers `outbox` to `config.url`. Start with `WebhookActor.start(ctx, outbox, config)`."""

    def __init__(self, ctx: ChildContext, outbox: Outbox, config: WebhookConfig,
                 observer: DeliveryObserver | None = None, *,
                 rng: random.Random | None = None, run_size: int = RUN_SIZE,
                 lane_cap: int = LANE_CAP) -> None:
        super().__init__(ctx)
        self._outbox = outbox
        self._queue = outbox.endpoint(config.id)
        self._config = config
        self._observer = observer
        self._rng = rng or random.Random()
        self._run_size = run_size
        self._lane_cap = lane_cap
        self._lanes = Lanes(config.connections, lane_cap)
        self._url = redact(config.url)
        self._poster: Poster | None = None
        self._unsubscribe = _nothing
        self._ticker: Timer | None = None
        self._wait: Timer | None = None
        self._wait_until: float | None = None  # monotonic time the `_wait` timer fires
        self._wake_told = False  # a Wake is already in the mailbox: no need for another
        self._unread = True  # events may have been committed since the last read
        self._generation = 0
        self._resetting = False  # requeued from outside: start over once no run is in flight
        self._state = EndpointState.OK
        self._pauses = 0
        self._last_status: int | None = None
        self._last_error: str | None = None
        self._last_prune = 0.0
        self._pruning = False
        self._shown: dict[str, Any] = {}

    @classmethod
    def child_spec(cls, outbox: Outbox, config: WebhookConfig,
                   observer: DeliveryObserver | None = None, *,
                   budget: RestartBudget | None = None) -> ChildSpec:
        """A spec that runs this actor; a POST in flight may take `config.timeout` to answer."""
        return ChildSpec(
            id=child_id(config.id),
            start=lambda ctx: cls.start(ctx, outbox, config, observer),
            budget=budget or RestartBudget(),
            liveness=Liveness(heartbeat_timeout=config.timeout + 10.0),
            shutdown_timeout=STOP_GRACE + 6.0,
            kind=KIND,
        )

    # --- lifecycle (the actor's thread) -------------------------------------------------------

    def started(self) -> None:
        config = self._config
        self._poster = Poster(config.url, Signer(config.secret), config.timeout,
                              connections=config.connections,
                              notify=lambda: self._tell(AnswersReady()),
                              name=f"warden-{child_id(config.id)}-http")
        self.ctx.add_kill_hook(self._poster.close)
        self._poster.start()
        self._last_prune = self.ctx.clock.monotonic()
        self._generation = self._queue.generation()
        self._lanes.scanned_to = self._queue.first_pending() - 1
        self._ticker = self.ctx.scheduler.call_every(HEARTBEAT_INTERVAL,
                                                     lambda: self._tell(Tick()))
        self._unsubscribe = self._outbox.subscribe(self._committed)
        self.ctx.heartbeat()
        self._publish()
        self._pump()

    def stopped(self) -> None:
        self._unsubscribe()
        for timer in (self._ticker, self._wait):
            if timer is not None:
                timer.cancel()
        poster, self._poster = self._poster, None
        if poster is None:
            return
        try:
            self._record(poster.drain(STOP_GRACE))  # answered before the stop: written now
        finally:
            poster.close()

    def receive(self, message: Any) -> Any:
        match message:
            case AnswersReady():
                if self._poster is not None:
                    self._record(self._poster.take())
                    self._pump()
            case Wake():
                self._wake_told = False
                self._unread = True
                self._check_generation()
                self._pump()
            case Tick():
                self._tick()
            case _:
                return super().receive(message)
        return None

    # --- delivering ---------------------------------------------------------------------------

    def _pump(self) -> None:
        """Read what is new, and start every lane that may start."""
        if self._poster is None or self._resetting:
            return
        lanes, queue = self._lanes, self._queue
        now, wall = self.ctx.clock.monotonic(), self.ctx.clock.time()
        for _ in range(8):  # a long backlog is read over several wakes, not in one go
            if not self._unread:
                break
            found = queue.waiting(lanes.scanned_to, SCAN_SIZE)
            lanes.load(found, now, wall)
            self._unread = len(found) == SCAN_SIZE
        for lane in lanes.to_refill():
            found = queue.lane(lane.session_id, lane.loaded_to, self._lane_cap)
            lanes.refill(lane.session_id, found, self._lane_cap, now, wall)
        runs = [(lane, lanes.start(lane, self._run_size)) for lane in lanes.ready(now)]
        if runs:
            events = queue.events([w.pos for _, waiting in runs for w in waiting])
            for lane, waiting in runs:
                self._poster.submit(lane.session_id,
                                    [events[w.pos] for w in waiting if w.pos in events])
        self._sleep_until(lanes.next_wake(now))

    def _record(self, answers: list[Answered]) -> None:
        """Write answers back to the outbox and move their lanes on."""
        if not answers:
            return
        now, wall = self.ctx.clock.monotonic(), self.ctx.clock.time()
        written: list[Answer] = []
        for answered in answers:
            lane = self._lanes.lanes.get(answered.lane)
            if lane is None:
                continue
            written.append(self._settle(lane, answered, now, wall))
            if answered.last:
                self._lanes.finish(lane)
            self._last_status = answered.result.status
            self._last_error = answered.result.error or None
        self._queue.settle(written)
        waiting = any(lane.queue and lane.not_before > now for lane in self._lanes.lanes.values())
        self._enter(EndpointState.PAUSED if self._lanes.paused else
                    EndpointState.RETRYING if waiting else EndpointState.OK,
                    self._last_error or "")
        self._publish()
        for answer in written:  # once written and shown, so observers see what they count
            self._observe(answer.outcome, answer.seconds)

    def _settle(self, lane: Lane, answered: Answered, now: float, wall: float) -> Answer:
        """Carry out the verdict on one answer for its lane; returns what to write."""
        result, event = answered.result, answered.event
        head = lane.head
        failures = head.failures if head is not None and head.pos == event.pos else 0
        judged = verdict(result, failures, self._config.schedule, self._config.jitter,
                         self._rng, self._lanes.probes)
        if judged.gave_up:
            logger.warning("webhook %s: giving up on %s after %d attempts, the last: %s",
                           self._url, event.id, failures + 1, result.error)
        elif judged.outcome is Outcome.DEAD_LETTER:
            logger.warning("webhook %s refused %s for good: %s", self._url, event.id,
                           result.error)
        if judged.outcome in (Outcome.DELIVERED, Outcome.DEAD_LETTER):
            self._lanes.delivered(lane, event.pos)
        elif judged.outcome is Outcome.RETRY:
            assert judged.wait is not None
            self._lanes.retry(lane, event.pos, now + judged.wait)
        else:
            assert judged.wait is not None
            self._lanes.pause(lane, now + judged.wait)
        return Answer(event.pos, judged.outcome, result.status, result.error, answered.at,
                      result.seconds, None if judged.wait is None else wall + judged.wait)

    def _sleep_until(self, when: float | None) -> None:
        """Have a Wake come at `when` (monotonic seconds), or none."""
        if when == self._wait_until:
            return
        if self._wait is not None:
            self._wait.cancel()
            self._wait = None
        self._wait_until = when
        if when is not None:
            delay = max(0.0, when - self.ctx.clock.monotonic())
            self._wait = self.ctx.scheduler.call_later(delay, self._timer_woke)

    def _timer_woke(self) -> None:
        self._wait_until = None
        self._tell(Wake())

    def _enter(self, state: EndpointState, why: str) -> None:
        before, self._state = self._state, state
        if state is EndpointState.PAUSED and before is not EndpointState.PAUSED:
            self._pauses += 1
            logger.error("webhook %s paused: %s. Events are kept and the endpoint is probed "
                         "(first after %gs, then at most every %gs) until it answers 2xx.",
                         self._url, why, PROBE_INITIAL, PROBE_MAX)
        elif state is EndpointState.OK and before is not EndpointState.OK:
            logger.info("webhook %s recovered (was %s)", self._url, before)
        elif state is EndpointState.RETRYING and before is EndpointState.OK:
            logger.warning("webhook %s: retrying, the last error: %s", self._url, why)

    # --- housekeeping -------------------------------------------------------------------------

    def _check_generation(self) -> None:
        """Events were requeued or replayed (here or by `warden outbox`): read the lanes again,
        once no run is in flight."""
        generation = self._queue.generation()
        if generation != self._generation:
            self._generation = generation
            self._resetting = True
        if self._resetting and self._lanes.busy == 0:
            old, self._resetting, self._unread = self._lanes, False, True
            self._lanes = Lanes(self._config.connections, self._lane_cap)
            self._lanes.scanned_to = self._queue.first_pending() - 1
            self._lanes.paused_until, self._lanes.probes = old.paused_until, old.probes

    def _tick(self) -> None:
        self.ctx.heartbeat()
        self._outbox.checkpoint()
        now = self.ctx.clock.monotonic()
        if now - self._last_prune >= PRUNE_INTERVAL:
            self._last_prune, self._pruning = now, True
        if self._pruning:
            self._prune()
        self._check_generation()
        self._pump()
        self._publish()

    def _prune(self) -> None:
        """Forget delivered rows older than keep_delivered, a few batches per tick, so neither
        appends nor this actor's own deliveries wait long behind it."""
        keep = self._config.keep_delivered
        began = self.ctx.clock.monotonic()
        pruned = 0
        while True:
            count = self._queue.prune(keep, PRUNE_BATCH)
            pruned += count
            if count < PRUNE_BATCH:
                pruned += self._outbox.prune_unrouted(keep)
                self._pruning = False
                break
            if self.ctx.clock.monotonic() - began >= PRUNE_BUDGET:
                break
        if pruned:
            logger.debug("webhook %s: forgot %d delivered events older than %gs", self._url,
                         pruned, keep)

    def _publish(self) -> None:
        wake = self._lanes.next_wake(self.ctx.clock.monotonic())
        shown = {
            "endpoint": self._config.id,
            "endpoint_state": str(self._state),
            "paused_reason": self._last_error if self._state is EndpointState.PAUSED else None,
            "next_attempt_at": (None if wake is None else
                                self.ctx.clock.time() + wake - self.ctx.clock.monotonic()),
            "last_status": self._last_status,
            "last_error": self._last_error,
            "pauses": self._pauses,
            "in_flight": self._lanes.busy,
            "url": self._url,
        }
        if shown != self._shown:
            self._shown = shown
            self.ctx.publish(**shown)

    def _observe(self, outcome: Outcome, seconds: float) -> None:
        if self._observer is None:
            return
        try:
            self._observer.delivery_attempted(self._config.id, str(outcome), seconds)
        except Exception:
            logger.exception("delivery observer %r failed", self._observer)

    # --- from other threads -------------------------------------------------------------------

    def _committed(self) -> None:
        """The outbox committed or requeued events (on the committing thread)."""
        if not self._wake_told:
            self._wake_told = True
            self._tell(Wake())

    def _tell(self, message: object) -> None:
        with contextlib.suppress(pykka.ActorDeadError):
            self.actor_ref.tell(message)


def redact(url: str) -> str:
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
