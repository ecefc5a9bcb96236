"""Warden's Prometheus metrics, on a registry the caller owns, never the global one.

Session and actor gauges, and the totals each child's supervisor keeps across its incarnations,
are read from the status board at scrape time; restart counts, abandoned threads, recovery times
and webhook deliveries are counted as they happen; outbox levels and health are read from the
outbox at scrape time. The webhook metrics carry an `endpoint` label.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from actors.endpoint import DEFAULT_ENDPOINT
from actors.outbox_health import OutboxHealth
from actors.outbox_records import EndpointStats
from actors.views import SESSION, Board
from runtime import ChildState, ChildStatus, EventBus, EventName, LifecycleEvent, Reason

__all__ = ["AUTH_FAILURES", "DELIVERY_OUTCOMES", "Metrics", "WebhookFigures"]

DELIVERY_OUTCOMES = ("delivered", "retry", "dead_letter", "paused")
AUTH_FAILURES = ("missing", "wrong")
RECOVERY_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
DELIVERY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0)


class WebhookFigures(Protocol):
    """The endpoints and the outbox, as the metrics read them (actors.webhooks.Webhooks)."""

    def ids(self) -> tuple[str, ...]: ...
    def stats(self, endpoint_id: str) -> EndpointStats: ...
    def health(self) -> OutboxHealth: ...


class Metrics:
    """All of Warden's metrics; `attach(bus)` feeds the event-driven ones."""

    def __init__(
        self,
        registry: CollectorRegistry,
        board: Board,
        *,
        webhooks: WebhookFigures | None = None,
        events: EventBus | None = None,
    ) -> None:
        """With `events`, subscribes to it at once (else call `attach` later)."""
        self.registry = registry
        self.board = board
        self.webhooks = webhooks
        self._lock = threading.Lock()
        self._restarts: defaultdict[tuple[str, str], int] = defaultdict(int)
        self._deliveries: defaultdict[tuple[str, str], int] = defaultdict(int)
        self._auth_failures: dict[str, int] = dict.fromkeys(AUTH_FAILURES, 0)
        self._abandoned = 0
        self.recovery = Histogram(
            "warden_session_recovery_seconds",
            "Seconds from a session's restart decision to its being healthy again.",
            buckets=RECOVERY_BUCKETS, registry=registry)
        self.delivery_seconds = Histogram(
            "warden_webhook_delivery_seconds", "Seconds one webhook delivery attempt took.",
            labelnames=("endpoint",), buckets=DELIVERY_BUCKETS, registry=registry)
        for endpoint in self._endpoints():
            self.delivery_seconds.labels(endpoint)
        registry.register(_BoardCollector(self))
        if events is not None:
            self.attach(events)

    def attach(self, bus: EventBus) -> Callable[[], None]:
        """Subscribe to lifecycle events; returns the unsubscriber."""
        return bus.subscribe(self.observe)

    def observe(self, event: LifecycleEvent) -> None:
        """Count one lifecycle event (on the emitting thread: quick, no I/O)."""
        if event.name is EventName.CHILD_ABANDONED:  # of any child: each is a thread lost
            with self._lock:
                self._abandoned += 1
        if event.kind != SESSION:
            return
        if event.name is EventName.RESTART_SCHEDULED and event.reason is not None:
            with self._lock:
                self._restarts[(event.child, str(event.reason))] += 1
        elif event.name is EventName.CHILD_RECOVERED and event.recovery_seconds is not None:
            self.recovery.observe(event.recovery_seconds)

    def delivery_attempted(self, endpoint: str, outcome: str, seconds: float) -> None:
        """Count one webhook delivery attempt: delivered | retry | dead_letter | paused."""
        if outcome not in DELIVERY_OUTCOMES:
            raise ValueError(f"unknown delivery outcome {outcome!r} "
                             f"(expected one of: {', '.join(DELIVERY_OUTCOMES)})")
        with self._lock:
            self._deliveries[(endpoint, outcome)] += 1
        self.delivery_seconds.labels(endpoint).observe(seconds)

    def _endpoints(self) -> list[str]:
        """The configured endpoints, then any other that was counted (one since removed)."""
        known = list(self.webhooks.ids()) if self.webhooks is not None else [DEFAULT_ENDPOINT]
        with self._lock:
            counted = {endpoint for endpoint, _ in self._deliveries}
        return known + sorted(counted - set(known))

    def auth_failed(self, reason: str) -> None:
        """Count one request the front refused for its token: missing | wrong (any thread)."""
        with self._lock:
            self._auth_failures[reason] = self._auth_failures.get(reason, 0) + 1

    # --- scrape time -----------------------------------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        sessions = self.board.of_kind(SESSION)
        yield from self._session_metrics(sessions)
        yield from self._actor_metrics(self.board.children())
        yield from self._webhook_metrics()
        auth = CounterMetricFamily("warden_http_auth_failures",
                                   "Requests refused for a missing or wrong bearer token.",
                                   labels=("reason",))
        with self._lock:
            for reason, count in self._auth_failures.items():
                auth.add_metric((reason,), count)
            abandoned = self._abandoned
        yield auth
        yield CounterMetricFamily(
            "warden_abandoned", "Threads of children that a stop and a kill did not end, "
            "left blocked (of any child: sessions, drivers, the webhook actor...).",
            value=abandoned)

    def _session_metrics(self, sessions: tuple[ChildStatus, ...]) -> Iterator[Metric]:
        state = GaugeMetricFamily("warden_session_state",
                                  "1 for the session's current state, 0 for the others.",
                                  labels=("session", "state"))
        heartbeat = GaugeMetricFamily("warden_session_last_heartbeat_timestamp_seconds",
                                      "Wall-clock time of the session's last heartbeat.",
                                      labels=("session",))
        activity = GaugeMetricFamily("warden_session_last_activity_timestamp_seconds",
                                     "Wall-clock time of the session's last inbound event.",
                                     labels=("session",))
        memory = GaugeMetricFamily("warden_session_memory_bytes",
                                   "Memory of the session's browser process tree.",
                                   labels=("session",))
        events = CounterMetricFamily("warden_session_events",
                                     "Inbound events the session has forwarded.",
                                     labels=("session",))
        reconciled = CounterMetricFamily(
            "warden_session_reconciled_messages",
            "Messages found in the app's store and appended by reconciliation.",
            labels=("session",))
        skipped = CounterMetricFamily("warden_session_skipped_events",
                                      "Page events that could not be read, skipped.",
                                      labels=("session",))
        restarts = CounterMetricFamily("warden_session_restarts",
                                       "Restarts of the session, by reason.",
                                       labels=("session", "reason"))
        with self._lock:
            counted = dict(self._restarts)
        names = [s.id for s in sessions]
        names += sorted({child for child, _ in counted} - set(names))
        for status in sessions:
            for value in ChildState:
                state.add_metric((status.id, str(value)), 1.0 if status.state is value else 0.0)
            if status.last_heartbeat is not None:
                heartbeat.add_metric((status.id,), status.last_heartbeat)
            if status.last_activity is not None:
                activity.add_metric((status.id,), status.last_activity)
            bytes_ = status.details.get("memory_bytes")
            if isinstance(bytes_, int | float) and not isinstance(bytes_, bool):
                memory.add_metric((status.id,), float(bytes_))
            events.add_metric((status.id,), status.totals.get("events", 0))
            reconciled.add_metric((status.id,), status.totals.get("reconciled", 0))
            skipped.add_metric((status.id,), status.totals.get("skipped", 0))
        for name in names:
            for reason in Reason:
                restarts.add_metric((name, str(reason)), counted.get((name, str(reason)), 0))
        yield from (state, restarts, heartbeat, activity, memory, events, reconciled, skipped)

    def _actor_metrics(self, children: tuple[ChildStatus, ...]) -> Iterator[Metric]:
        mailbox = GaugeMetricFamily("warden_actor_mailbox_size",
                                    "Messages waiting in the actor's inbox.", labels=("actor",))
        messages = CounterMetricFamily("warden_actor_messages",
                                       "Messages the actor has handled, over all incarnations.",
                                       labels=("actor",))
        for status in children:
            mailbox.add_metric((status.id,), status.mailbox_size)
            messages.add_metric((status.id,), status.totals.get("messages", 0))
        yield from (mailbox, messages)

    def _webhook_metrics(self) -> Iterator[Metric]:
        endpoints = self._endpoints()
        labels = ("endpoint",)
        deliveries = CounterMetricFamily("warden_webhook_deliveries",
                                         "Webhook delivery attempts, by endpoint and outcome.",
                                         labels=("endpoint", "outcome"))
        dead = CounterMetricFamily("warden_webhook_dead_letters",
                                   "Events given up on after the retry schedule or a 4xx.",
                                   labels=labels)
        with self._lock:
            counted = dict(self._deliveries)
        for endpoint in endpoints:
            for outcome in DELIVERY_OUTCOMES:
                deliveries.add_metric((endpoint, outcome), counted.get((endpoint, outcome), 0))
            # counted as it happens: a requeue never lowers it, a restart never rebuilds it
            dead.add_metric((endpoint,), counted.get((endpoint, "dead_letter"), 0))
        pending = GaugeMetricFamily("warden_webhook_outbox_pending",
                                    "Events committed to the outbox and not yet delivered.",
                                    labels=labels)
        oldest = GaugeMetricFamily("warden_webhook_outbox_oldest_age_seconds",
                                   "Age of the oldest undelivered event (0 when none).",
                                   labels=labels)
        waiting = GaugeMetricFamily("warden_webhook_dead_letters_waiting",
                                    "Dead letters in the outbox now, waiting for a requeue.",
                                    labels=labels)
        webhooks = self.webhooks
        for endpoint in endpoints:
            # Without an outbox (no webhook configured) nothing is pending: the names still exist.
            stats = None if webhooks is None else webhooks.stats(endpoint)
            pending.add_metric((endpoint,), 0 if stats is None else stats.pending)
            age = None if stats is None else stats.oldest_age_seconds
            oldest.add_metric((endpoint,), 0.0 if age is None else age)
            waiting.add_metric((endpoint,), 0 if stats is None else stats.dead_letters)
        yield from (deliveries, pending, oldest, dead, waiting)
        yield from self._outbox_metrics(None if webhooks is None else webhooks.health())

    def _outbox_metrics(self, health: OutboxHealth | None) -> Iterator[Metric]:
        healthy = GaugeMetricFamily(
            "warden_outbox_healthy",
            "1 while the outbox takes appends (file in place, writable, disk space left).")
        free = GaugeMetricFamily("warden_outbox_free_bytes",
                                 "Free bytes on the outbox's file system.")
        failures = CounterMetricFamily("warden_outbox_append_failures",
                                       "Appends the outbox could not commit (each retried).")
        if health is not None:
            healthy.add_metric((), 1.0 if health.healthy else 0.0)
            if health.free_bytes is not None:
                free.add_metric((), health.free_bytes)
            failures.add_metric((), health.append_failures)
        yield from (healthy, free, failures)


class _BoardCollector(Collector):
    """Adapts `Metrics.collect` to prometheus_client's collector interface."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return self._metrics.collect()

    def describe(self) -> Iterator[Metric]:
        return iter(())  # not described up front: collect() is only called at scrape time
