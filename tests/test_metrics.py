"""Warden's metrics carry the contracted names, read the board at scrape time and count events."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from actors.front import FrontDeps
from actors.outbox_health import OutboxHealth
from actors.outbox_records import EndpointStats
from runtime import ChildState, EventBus, EventName, LifecycleEvent, Reason
from tests.actors.test_front import (
    FakeBoard,
    call,
    fake_runtime,
    runtime_deps,
    serving,
    wait_for_sessions,
)
from tests.actors.test_views import NOW, make_status
from warden.metrics import DELIVERY_OUTCOMES, Metrics


class FakeWebhooks:
    """Endpoints with fixed figures, and the outbox's health."""

    def __init__(self, **stats: EndpointStats) -> None:
        self.figures = stats
        self.healthy = OutboxHealth(True, (), 5 * 2**30, 0, None, NOW)

    def ids(self) -> tuple[str, ...]:
        return tuple(self.figures)

    def stats(self, endpoint_id: str) -> EndpointStats:
        return self.figures[endpoint_id]

    def health(self) -> OutboxHealth:
        return self.healthy


def stats(pending: int = 0, oldest: float | None = None, dead: int = 0,
          delivered: int = 0) -> EndpointStats:
    return EndpointStats(pending, oldest, dead, delivered, delivered)


CONTRACT_NAMES = {
    "warden_session_state", "warden_session_restarts_total",
    "warden_session_last_heartbeat_timestamp_seconds",
    "warden_session_last_activity_timestamp_seconds", "warden_session_memory_bytes",
    "warden_session_events_total", "warden_session_recovery_seconds_count",
    "warden_session_reconciled_messages_total", "warden_session_skipped_events_total",
    "warden_actor_mailbox_size", "warden_actor_messages_total",
    "warden_webhook_deliveries_total", "warden_webhook_delivery_seconds_count",
    "warden_webhook_outbox_pending", "warden_webhook_outbox_oldest_age_seconds",
    "warden_webhook_dead_letters_total",
}
OUTBOX_NAMES = {"warden_outbox_healthy", "warden_outbox_free_bytes",
                "warden_outbox_append_failures_total"}


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def samples(text: str) -> Iterator[Sample]:
    for family in text_string_to_metric_families(text):
        yield from family.samples


def restart(child: str, reason: Reason, supervisor: str = "sessions",
            kind: str = "session") -> LifecycleEvent:
    return LifecycleEvent(EventName.RESTART_SCHEDULED, supervisor, child, NOW, reason=reason,
                          attempt=1, delay=1.0, kind=kind)


def test_every_spec_name_is_exposed_even_before_any_event(
        registry: CollectorRegistry) -> None:
    Metrics(registry, FakeBoard([make_status("acct-1", last_heartbeat=NOW, last_activity=NOW,
                                             details={"memory_bytes": 1})]),
            webhooks=FakeWebhooks(default=stats()))
    names = {s.name for s in samples(_text(registry))}
    assert names >= CONTRACT_NAMES | OUTBOX_NAMES


def _text(registry: CollectorRegistry) -> str:
    from prometheus_client import generate_latest

    return generate_latest(registry).decode()


def test_session_state_is_one_for_the_current_state_and_zero_for_the_seven_others(
        registry: CollectorRegistry) -> None:
    board = FakeBoard([make_status("a", ChildState.BACKOFF), make_status("b")])
    Metrics(registry, board)
    for state in ChildState:
        expected = 1.0 if state is ChildState.BACKOFF else 0.0
        assert registry.get_sample_value(
            "warden_session_state", {"session": "a", "state": str(state)}) == expected
    assert registry.get_sample_value(
        "warden_session_state", {"session": "b", "state": "healthy"}) == 1.0
    board.sessions = (make_status("a", ChildState.HEALTHY),)  # read again at the next scrape
    assert registry.get_sample_value(
        "warden_session_state", {"session": "a", "state": "backoff"}) == 0.0


def test_board_details_become_gauges_and_unknown_ones_are_left_out(
        registry: CollectorRegistry) -> None:
    board = FakeBoard([
        make_status("a", last_heartbeat=NOW - 1, last_activity=NOW - 5,
                    details={"memory_bytes": 300 * 2**20},
                    totals={"events": 12, "reconciled": 3}),
        make_status("b"),
    ])
    Metrics(registry, board)
    value = registry.get_sample_value
    assert value("warden_session_last_heartbeat_timestamp_seconds", {"session": "a"}) == NOW - 1
    assert value("warden_session_last_activity_timestamp_seconds", {"session": "a"}) == NOW - 5
    assert value("warden_session_memory_bytes", {"session": "a"}) == 300 * 2**20
    assert value("warden_session_events_total", {"session": "a"}) == 12
    assert value("warden_session_reconciled_messages_total", {"session": "a"}) == 3
    assert value("warden_session_skipped_events_total", {"session": "b"}) == 0
    assert value("warden_session_memory_bytes", {"session": "b"}) is None
    assert value("warden_session_last_heartbeat_timestamp_seconds", {"session": "b"}) is None


def test_restarts_are_counted_by_reason_from_events_with_all_reasons_preset(
        registry: CollectorRegistry) -> None:
    metrics = Metrics(registry, FakeBoard([make_status("a")]))
    bus = EventBus()
    metrics.attach(bus)
    bus.emit(restart("a", Reason.CANARY))
    bus.emit(restart("a", Reason.CANARY))
    bus.emit(restart("a", Reason.MANUAL))
    bus.emit(restart("webhook", Reason.CRASH, supervisor="root", kind=""))  # not a session
    bus.emit(restart("driver-1", Reason.CRASH, kind="driver"))  # a session's sibling, not one
    value = registry.get_sample_value
    assert value("warden_session_restarts_total", {"session": "a", "reason": "canary"}) == 2
    assert value("warden_session_restarts_total", {"session": "a", "reason": "manual"}) == 1
    for reason in ("crash", "heartbeat", "activity", "memory"):
        assert value("warden_session_restarts_total", {"session": "a", "reason": reason}) == 0
    assert value("warden_session_restarts_total", {"session": "webhook", "reason": "crash"}) \
        is None
    assert value("warden_session_restarts_total", {"session": "driver-1", "reason": "crash"}) \
        is None


def test_recovery_times_fill_the_histogram(registry: CollectorRegistry) -> None:
    metrics = Metrics(registry, FakeBoard())
    for seconds in (0.4, 3.0, 90.0):
        metrics.observe(LifecycleEvent(EventName.CHILD_RECOVERED, "sessions", "a", NOW,
                                       reason=Reason.CRASH, recovery_seconds=seconds,
                                       kind="session"))
    value = registry.get_sample_value
    assert value("warden_session_recovery_seconds_count") == 3
    assert value("warden_session_recovery_seconds_bucket", {"le": "0.5"}) == 1
    assert value("warden_session_recovery_seconds_bucket", {"le": "5.0"}) == 2
    assert value("warden_session_recovery_seconds_bucket", {"le": "120.0"}) == 3


def test_actor_message_counts_are_the_totals_the_supervisor_keeps_over_incarnations(
        registry: CollectorRegistry) -> None:
    board = FakeBoard([make_status("a", totals={"messages": 40})],
                      [make_status("webhook", mailbox_size=7)])
    Metrics(registry, board)
    value = registry.get_sample_value
    assert value("warden_actor_messages_total", {"actor": "a"}) == 40
    assert value("warden_actor_mailbox_size", {"actor": "webhook"}) == 7
    board.sessions = (make_status("a", totals={"messages": 48}),)  # banked 45, then 3 new
    assert value("warden_actor_messages_total", {"actor": "a"}) == 48


def test_delivery_attempts_are_counted_by_endpoint_and_outcome_and_timed(
        registry: CollectorRegistry) -> None:
    metrics = Metrics(registry, FakeBoard(), webhooks=FakeWebhooks(crm=stats(), audit=stats()))
    value = registry.get_sample_value
    for endpoint in ("crm", "audit"):
        for outcome in DELIVERY_OUTCOMES:
            assert value("warden_webhook_deliveries_total",
                         {"endpoint": endpoint, "outcome": outcome}) == 0
        assert value("warden_webhook_delivery_seconds_count", {"endpoint": endpoint}) == 0
    metrics.delivery_attempted("crm", "delivered", 0.02)
    metrics.delivery_attempted("crm", "delivered", 0.2)
    metrics.delivery_attempted("audit", "retry", 15.0)
    assert value("warden_webhook_deliveries_total",
                 {"endpoint": "crm", "outcome": "delivered"}) == 2
    assert value("warden_webhook_deliveries_total",
                 {"endpoint": "audit", "outcome": "retry"}) == 1
    assert value("warden_webhook_deliveries_total",
                 {"endpoint": "audit", "outcome": "delivered"}) == 0
    assert value("warden_webhook_delivery_seconds_count", {"endpoint": "crm"}) == 2
    assert value("warden_webhook_delivery_seconds_sum", {"endpoint": "audit"}) == 15.0
    with pytest.raises(ValueError, match="unknown delivery outcome"):
        metrics.delivery_attempted("crm", "lost", 1.0)


def test_outbox_figures_are_read_per_endpoint_at_scrape_time(
        registry: CollectorRegistry) -> None:
    webhooks = FakeWebhooks(crm=stats(3, 42.0, 1, 17), audit=stats())
    Metrics(registry, FakeBoard(), webhooks=webhooks)
    value = registry.get_sample_value
    assert value("warden_webhook_outbox_pending", {"endpoint": "crm"}) == 3
    assert value("warden_webhook_outbox_oldest_age_seconds", {"endpoint": "crm"}) == 42.0
    assert value("warden_webhook_dead_letters_waiting", {"endpoint": "crm"}) == 1
    assert value("warden_webhook_outbox_pending", {"endpoint": "audit"}) == 0
    webhooks.figures["crm"] = stats(delivered=20)
    assert value("warden_webhook_outbox_pending", {"endpoint": "crm"}) == 0
    assert value("warden_webhook_outbox_oldest_age_seconds", {"endpoint": "crm"}) == 0
    assert value("warden_webhook_dead_letters_waiting", {"endpoint": "crm"}) == 0


def test_dead_letters_are_counted_as_they_happen_and_a_requeue_never_moves_the_counter(
        registry: CollectorRegistry) -> None:
    """Three dead letters, a restart (a new process), a requeue of one: the counter was once
    rebuilt from the outbox's level and jumped 3 -> 5, firing a false alert."""
    webhooks = FakeWebhooks(default=stats(dead=3))
    metrics = Metrics(registry, FakeBoard(), webhooks=webhooks)  # after a restart: none seen
    value = registry.get_sample_value
    assert value("warden_webhook_dead_letters_total", {"endpoint": "default"}) == 0
    assert value("warden_webhook_dead_letters_waiting", {"endpoint": "default"}) == 3
    webhooks.figures["default"] = stats(pending=1, oldest=1.0, dead=2)
    assert value("warden_webhook_dead_letters_total", {"endpoint": "default"}) == 0
    metrics.delivery_attempted("default", "dead_letter", 0.1)
    webhooks.figures["default"] = stats(dead=3)
    assert value("warden_webhook_dead_letters_total", {"endpoint": "default"}) == 1


def test_the_outbox_health_is_exposed(registry: CollectorRegistry) -> None:
    webhooks = FakeWebhooks(default=stats())
    Metrics(registry, FakeBoard(), webhooks=webhooks)
    value = registry.get_sample_value
    assert value("warden_outbox_healthy") == 1
    assert value("warden_outbox_free_bytes") == 5 * 2**30
    assert value("warden_outbox_append_failures_total") == 0
    webhooks.healthy = OutboxHealth(False, ("appends fail: disk full",), 0, 7, "disk full", NOW)
    assert value("warden_outbox_healthy") == 0
    assert value("warden_outbox_free_bytes") == 0
    assert value("warden_outbox_append_failures_total") == 7


def test_nothing_lands_on_the_global_registry() -> None:
    from prometheus_client import REGISTRY

    before = {s.name for s in samples(_text(REGISTRY))}
    Metrics(CollectorRegistry(), FakeBoard([make_status("a")]))
    assert not {n for n in {s.name for s in samples(_text(REGISTRY))} - before
                if n.startswith("warden_")}


def test_a_scrape_over_http_of_a_running_runtime_parses(registry: CollectorRegistry) -> None:
    with fake_runtime(["acct-1", "acct-2"]) as runtime:
        metrics = Metrics(registry, runtime.board)
        metrics.attach(runtime.events)
        deps: FrontDeps = runtime_deps(runtime, registry=registry)
        with serving(deps) as front:
            assert call("POST", front.url + "/sessions/acct-2/restart").status == 202
            assert wait_for_sessions(runtime, lambda ss: ss[1].restarts_total == 1
                                     and ss[1].state is ChildState.HEALTHY)
            answer = call("GET", front.url + "/metrics")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/plain")
    found = {(s.name, tuple(sorted(s.labels.items()))): s.value
             for s in samples(answer.raw.decode())}
    assert found[("warden_session_state", (("session", "acct-1"), ("state", "healthy")))] == 1
    assert found[("warden_session_restarts_total",
                  (("reason", "manual"), ("session", "acct-2")))] == 1
    assert found[("warden_session_restarts_total",
                  (("reason", "manual"), ("session", "acct-1")))] == 0
    assert found[("warden_session_events_total", (("session", "acct-1"),))] == 5
    assert found[("warden_session_recovery_seconds_count", ())] == 1
    assert ("warden_actor_messages_total", (("actor", "sessions"),)) in found
    assert {name for name, _ in found} >= CONTRACT_NAMES


def test_given_the_bus_at_construction_it_subscribes_at_once(
        registry: CollectorRegistry) -> None:
    bus = EventBus()
    Metrics(registry, FakeBoard([make_status("a")]), events=bus)
    bus.emit(restart("a", Reason.MEMORY))
    assert registry.get_sample_value(
        "warden_session_restarts_total", {"session": "a", "reason": "memory"}) == 1
