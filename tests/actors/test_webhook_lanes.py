"""The webhook actor keeps each session's order but not a global one: a failing session holds
back only itself, sessions go side by side on a bounded number of connections, each endpoint
gets what its filters want, and a stop writes down every answer that came."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest

from actors.endpoint import Route
from actors.outbox import FILE_NAME, DeliveryState, Outbox
from actors.webhook import WebhookActor, WebhookConfig
from runtime import ChildContext, FakeClock, Scheduler
from tests.actors.hostile_receiver import HostileReceiver
from tests.actors.test_webhook import SECRET, Harness, Outcomes, wait_until
from tests.actors.webhook_receiver import Receiver, Reply


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path)
    yield h
    h.close()


def seqs_by_session(receiver: Receiver) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for request in receiver.delivered():
        found.setdefault(request.event["session_id"], []).append(request.event["seq"])
    return found


def test_a_session_whose_events_fail_holds_back_only_itself(harness: Harness) -> None:
    harness.receiver.rule = lambda e: Reply(500) if e["session_id"] == "bad" else None
    harness.start()
    bad = [harness.append("bad", i=i) for i in range(3)]
    good = [harness.append(f"s{i % 4}", i=i) for i in range(40)]

    assert harness.receiver.wait_for(lambda r: len(r.delivered()) == 40)
    assert seqs_by_session(harness.receiver) == {f"s{k}": list(range(1, 11)) for k in range(4)}
    assert [r.event["id"] for r in harness.receiver.hook_calls()
            if r.event["session_id"] == "bad"] == [bad[0]]  # tried once, waiting for its retry
    assert harness.details["endpoint_state"] == "retrying"
    assert wait_until(lambda: harness.queue.stats().pending == 3)
    assert {r.event_id for r in harness.queue.records(DeliveryState.PENDING)} == set(bad)
    assert len(good) == 40

    harness.receiver.rule = lambda e: None  # the receiver takes it now
    harness.clock.advance(5.0)
    assert harness.receiver.wait_for(lambda r: len(r.delivered()) == 43)
    assert seqs_by_session(harness.receiver)["bad"] == [1, 2, 3]


def test_sessions_go_side_by_side_on_at_most_the_configured_connections(
        harness: Harness) -> None:
    harness.receiver.default = Reply(204, delay=0.05)
    harness.start(connections=3)
    for i in range(24):
        harness.append(f"s{i % 8}", i=i)

    assert harness.receiver.wait_for(lambda r: len(r.delivered()) == 24)
    assert harness.receiver.most_in_flight == 3
    assert seqs_by_session(harness.receiver) == {f"s{k}": [1, 2, 3] for k in range(8)}


def test_a_refusing_endpoint_pauses_every_session_and_one_probe_resumes_them(
        harness: Harness) -> None:
    harness.receiver.script(Reply(401))
    harness.start(connections=1)
    first = harness.append("a", i=1)
    harness.append("b", i=2)

    assert harness.outcomes.wait(1) == ["paused"]
    assert wait_until(lambda: harness.details["endpoint_state"] == "paused")
    assert len(harness.receiver.hook_calls()) == 1  # b waits too: the endpoint is refusing
    harness.clock.advance(15.0)  # the probe: a's head again, and it goes through
    assert harness.receiver.wait_for(lambda r: len(r.delivered()) == 2)
    assert harness.receiver.hook_calls()[1].event["id"] == first
    assert wait_until(lambda: harness.details["endpoint_state"] == "ok")


def test_a_stop_writes_down_the_answer_to_a_post_in_flight(harness: Harness) -> None:
    """A clean shutdown once left events the receiver had answered 2xx pending, and the next
    start sent them again."""
    harness.receiver.default = Reply(204, delay=0.3)
    harness.start()
    stopped = harness.append("acct-1")
    assert harness.receiver.wait_for(lambda r: r.in_flight == 1)

    harness.stop()

    record = harness.queue.record(stopped)
    assert record is not None and record.state is DeliveryState.DELIVERED
    assert len(harness.receiver.delivered()) == 1
    harness.start()  # the next start has nothing to send again
    harness.append("acct-1")
    assert harness.receiver.wait_for(lambda r: len(r.delivered()) == 2)
    assert harness.receiver.delivered()[1].event["seq"] == 2


def test_a_replay_delivers_the_same_ids_and_bytes_again_and_keeps_the_history(
        harness: Harness) -> None:
    harness.start()
    ids = [harness.append("acct-1", i=i) for i in range(3)]
    assert harness.receiver.wait_for(lambda r: len(r.delivered()) == 3)
    assert wait_until(lambda: harness.queue.stats().delivered == 3)
    first_bodies = [r.body for r in harness.receiver.delivered()]

    assert harness.queue.replay(since=harness.clock.time() - 60) == 3
    assert harness.receiver.wait_for(lambda r: len(r.delivered()) == 6)
    again = harness.receiver.delivered()[3:]
    assert [r.headers["webhook-id"] for r in again] == ids
    assert [r.body for r in again] == first_bodies
    assert wait_until(lambda: harness.queue.stats().delivered == 3)
    detail = harness.outbox.event(ids[0])
    assert detail is not None
    ((_, attempts),) = detail.deliveries
    assert [a.status for a in attempts] == [204, 204]


def test_a_requeued_dead_letter_goes_ahead_of_its_sessions_newer_events(
        harness: Harness) -> None:
    harness.receiver.script(Reply(422))
    harness.start()
    dead = harness.append("acct-1", i=1)
    later = harness.append("acct-1", i=2)
    assert harness.receiver.wait_for(lambda r: len(r.delivered()) == 1)
    assert harness.queue.requeue(dead)
    assert harness.receiver.wait_for(lambda r: len(r.delivered()) == 2)
    assert [r.event["id"] for r in harness.receiver.delivered()] == [later, dead]


def test_a_broken_receiver_costs_no_event_and_never_stalls_another_endpoint(
        tmp_path: Path) -> None:
    clock = FakeClock(wall_epoch=time.time())
    scheduler = Scheduler(clock).start()
    outbox = Outbox(tmp_path / FILE_NAME, clock, routes=[Route("broken"), Route("fine")])
    hostile, receiver = HostileReceiver("huge"), Receiver()
    refs: list[pykka.ActorRef[Any]] = []
    outcomes = {"broken": Outcomes(), "fine": Outcomes()}
    try:
        for endpoint, url in (("broken", hostile.url), ("fine", receiver.url)):
            config = WebhookConfig(id=endpoint, url=url, secret=SECRET, timeout=5.0,
                                   schedule=(0.0,) + (1.0,) * 20, jitter=0.0)
            ctx = ChildContext(endpoint, 1, lambda _: None, clock, scheduler)
            refs.append(WebhookActor.start(ctx, outbox, config, _only(outcomes[endpoint]),
                                           rng=random.Random(1)))
        ids = [outbox.append(f"s{i % 3}", "message.received", {"i": i}).id for i in range(30)]
        for attempt, mode in enumerate(("huge", "truncated", "garbage", "close", "redirect")):
            hostile.mode = mode
            if attempt:
                clock.advance(1.0)  # the three sessions' retries
            assert outcomes["broken"].wait(3 * (attempt + 1)) == ["retry"] * 3 * (attempt + 1)
        assert receiver.wait_for(lambda r: len(r.delivered()) == 30)  # never held up
        broken = outbox.endpoint("broken")
        assert broken.stats().pending == 30 and broken.stats().dead_letters == 0
        assert "delivered" not in outcomes["broken"].seen

        hostile.mode = "ok"
        clock.advance(1.0)
        assert wait_until(lambda: broken.stats().pending == 0)
        assert sorted(d.event_id for d in broken.records(DeliveryState.DELIVERED, limit=100)) \
            == sorted(ids)
    finally:
        for ref in refs:
            ref.stop()
        scheduler.stop()
        hostile.close()
        receiver.close()
        outbox.close()


def test_each_endpoint_gets_only_what_its_filters_want(tmp_path: Path) -> None:
    clock = FakeClock(wall_epoch=time.time())
    scheduler = Scheduler(clock).start()
    configs = [
        WebhookConfig(id="messages", events=("message.*",), secret=SECRET),
        WebhookConfig(id="acct-2-life", events=("session.*",), sessions=("acct-2",),
                      secret=SECRET),
    ]
    outbox = Outbox(tmp_path / FILE_NAME, clock, routes=[c.route() for c in configs])
    receivers = {c.id: Receiver() for c in configs}
    refs = []
    try:
        for config in configs:
            config = WebhookConfig(**{**_fields(config), "url": receivers[config.id].url})
            ctx = ChildContext(config.id, 1, lambda _: None, clock, scheduler)
            refs.append(WebhookActor.start(ctx, outbox, config))
        for session in ("acct-1", "acct-2"):
            outbox.append(session, "session.started", {})
            outbox.append(session, "message.received", {"message_id": f"m-{session}"})
        assert receivers["messages"].wait_for(lambda r: len(r.delivered()) == 2)
        assert receivers["acct-2-life"].wait_for(lambda r: len(r.delivered()) == 1)
        assert {(r.event["session_id"], r.event["type"])
                for r in receivers["messages"].delivered()} == {
            ("acct-1", "message.received"), ("acct-2", "message.received")}
        assert [(r.event["session_id"], r.event["type"])
                for r in receivers["acct-2-life"].delivered()] == [
            ("acct-2", "session.started")]
    finally:
        for ref in refs:
            ref.stop()
        scheduler.stop()
        for receiver in receivers.values():
            receiver.close()
        outbox.close()


class _only:
    """An observer for one endpoint's outcomes."""

    def __init__(self, outcomes: Outcomes) -> None:
        self._outcomes = outcomes

    def delivery_attempted(self, endpoint: str, outcome: str, seconds: float) -> None:
        self._outcomes.delivery_attempted("default", outcome, seconds)


def _fields(config: WebhookConfig) -> dict[str, Any]:
    return {name: getattr(config, name) for name in WebhookConfig.__dataclass_fields__}
