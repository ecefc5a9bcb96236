"""The webhook actor delivers each session's events in order, signed, retrying and pausing by
the answer, sessions side by side.

Every test POSTs to a real aiohttp receiver on loopback. Waits between attempts run on a
FakeClock that the test advances; the POSTs themselves are real.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pykka
import pytest
from standardwebhooks import Webhook

from actors.outbox import FILE_NAME, DeliveryState, Outbox
from actors.webhook import WebhookActor, WebhookConfig
from runtime import (
    ChildContext,
    ChildSpec,
    FakeClock,
    Liveness,
    Runtime,
    Scheduler,
    SupervisorSpec,
)
from runtime.messages import ChildExited
from tests.actors.webhook_receiver import Receiver, Reply

KEY = b"warden-test-signing-key-0123456789"
SECRET = "whsec_" + base64.b64encode(KEY).decode()


def wait_until(predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


class Outcomes:
    """A DeliveryObserver that remembers every outcome."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.seconds: list[float] = []
        self._cond = threading.Condition()

    def delivery_attempted(self, endpoint: str, outcome: str, seconds: float) -> None:
        assert endpoint == "default"
        with self._cond:
            self.seen.append(outcome)
            self.seconds.append(seconds)
            self._cond.notify_all()

    def wait(self, count: int, timeout: float = 15.0) -> list[str]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.seen) >= count, timeout), self.seen
            return list(self.seen)


class Harness:
    """A WebhookActor on a ChildContext we hold, with a fake clock and a real receiver."""

    def __init__(self, tmp_path: Path) -> None:
        self.clock = FakeClock(wall_epoch=time.time())
        self.scheduler = Scheduler(self.clock).start()
        self.outbox = Outbox(tmp_path / FILE_NAME, self.clock)
        self.queue = self.outbox.endpoint("default")
        self.receiver = Receiver()
        self.outcomes = Outcomes()
        self.reports: list[object] = []
        self.ctx: ChildContext | None = None
        self.ref: pykka.ActorRef[Any] | None = None
        self.config = WebhookConfig(url=self.receiver.url, secret=SECRET, timeout=5.0,
                                    schedule=(0.0, 5.0, 300.0), jitter=0.0)

    def start(self, **changes: Any) -> None:
        self.config = replace(self.config, **changes)
        self.ctx = ChildContext("webhook", 1, self.reports.append, self.clock, self.scheduler)
        self.ref = WebhookActor.start(self.ctx, self.outbox, self.config, self.outcomes,
                                      rng=random.Random(7))

    def stop(self) -> None:
        if self.ref is not None:
            self.ref.stop()
            self.ref = None

    @property
    def details(self) -> dict[str, Any]:
        assert self.ctx is not None
        return dict(self.ctx.details)

    def append(self, session: str = "acct-1", **data: Any) -> str:
        return self.outbox.append(session, "message.received", data).id

    def close(self) -> None:
        self.stop()
        self.scheduler.stop()
        self.receiver.close()
        self.outbox.close()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path)
    yield h
    h.close()


def test_events_arrive_in_order_with_the_exact_body_and_valid_signatures(
        harness: Harness) -> None:
    harness.start()
    appended = [harness.outbox.append(f"acct-{i % 2}", "message.received", {"i": i})
                for i in range(6)]
    assert harness.receiver.wait_for(lambda r: len(r.delivered()) == 6)

    received = {r.event["id"]: r for r in harness.receiver.delivered()}
    assert {r.body for r in received.values()} == {e.body for e in appended}
    for session in ("acct-0", "acct-1"):
        assert [r.event["seq"] for r in harness.receiver.delivered()
                if r.event["session_id"] == session] == [1, 2, 3]
    for event in appended:
        request = received[event.id]
        headers = request.headers
        Webhook(SECRET).verify(request.body, dict(headers), json_parse=False)
        stamp = headers["webhook-timestamp"]
        expected = hmac.new(KEY, f"{event.id}.{stamp}.".encode() + request.body, hashlib.sha256)
        assert headers["X-HMAC-Signature"] == expected.hexdigest()
        assert headers["X-Timestamp"] == stamp
        assert headers["webhook-id"] == event.id
        assert headers["Content-Type"] == "application/json"
    assert harness.outcomes.wait(6) == ["delivered"] * 6
    assert wait_until(lambda: harness.queue.stats().delivered == 6)
    assert harness.details["endpoint_state"] == "ok"


def test_a_failure_deep_in_a_long_run_keeps_what_came_before_delivered(
        harness: Harness) -> None:
    harness.receiver.script(*[Reply(204)] * 70, Reply(503))
    ids = [harness.append(i=i) for i in range(100)]
    harness.start()

    assert harness.outcomes.wait(71)[-1] == "retry"
    assert wait_until(lambda: harness.queue.stats().delivered == 70)
    assert [r.event_id for r in harness.queue.records(DeliveryState.PENDING, limit=1)] == [
        ids[70]]
    harness.clock.advance(5.0)
    assert harness.receiver.wait_for(lambda r: len(r.delivered()) == 100)
    assert [r.event["id"] for r in harness.receiver.delivered()] == ids
    assert harness.outcomes.wait(101).count("delivered") == 100
    assert wait_until(lambda: harness.queue.stats().delivered == 100)


def test_a_receiver_that_is_down_gets_everything_once_it_is_up(harness: Harness) -> None:
    harness.receiver.down()
    harness.start()
    first, second = harness.append(i=1), harness.append(i=2)

    assert harness.outcomes.wait(1) == ["retry"]
    assert harness.details["endpoint_state"] == "retrying"
    assert "cannot connect" in harness.details["last_error"]
    assert harness.details["next_attempt_at"] == pytest.approx(harness.clock.time() + 5.0)

    harness.receiver.up()
    harness.clock.advance(5.0)
    assert harness.receiver.wait_for(lambda r: len(r.delivered()) == 2)
    assert [r.event["id"] for r in harness.receiver.delivered()] == [first, second]
    assert harness.outcomes.wait(3) == ["retry", "delivered", "delivered"]
    assert wait_until(lambda: harness.details["endpoint_state"] == "ok")


def test_a_flapping_receiver_still_gets_each_session_in_order(harness: Harness) -> None:
    harness.receiver.script(Reply(500), Reply(204), Reply(204), Reply(503), Reply(502),
                            Reply(204), Reply(500))
    harness.start(connections=1)  # one request at a time: the script's order is the sending order
    ids = [harness.outbox.append(f"s{i % 3}", "message.received", {"i": i}).id
           for i in range(8)]

    while not harness.receiver.wait_for(lambda r: len(r.delivered()) == 8, timeout=0.2):
        harness.clock.advance(300.0)  # past any wait of the schedule

    delivered = [r.event for r in harness.receiver.delivered()]
    assert sorted(e["id"] for e in delivered) == sorted(ids)
    for session in ("s0", "s1", "s2"):
        seqs = [e["seq"] for e in delivered if e["session_id"] == session]
        assert seqs == list(range(1, len(seqs) + 1))
    assert harness.outcomes.wait(12).count("retry") == 4


def test_a_slow_receiver_times_out_and_is_retried(harness: Harness) -> None:
    harness.receiver.script(Reply(204, delay=3.0))
    harness.start(timeout=0.3)
    event_id = harness.append()

    assert harness.outcomes.wait(1) == ["retry"]
    assert "timed out after 0.3s" in harness.details["last_error"]
    record = harness.queue.record(event_id)
    assert record is not None and record.attempts == 1 and record.last_status is None

    harness.clock.advance(5.0)
    assert harness.receiver.wait_for(lambda r: len(r.delivered()) == 1)
    assert harness.outcomes.wait(2) == ["retry", "delivered"]


def test_retry_after_in_seconds_is_honoured(harness: Harness) -> None:
    harness.receiver.script(Reply(429, {"Retry-After": "120"}))
    harness.start()
    harness.append()

    assert harness.outcomes.wait(1) == ["retry"]
    assert harness.details["last_status"] == 429
    assert harness.details["next_attempt_at"] == pytest.approx(harness.clock.time() + 120.0)

    harness.clock.advance(119.0)
    harness.clock.advance(1.0)
    assert harness.receiver.wait_for(lambda r: len(r.delivered()) == 1)


def test_retry_after_as_an_http_date_is_honoured_but_capped(harness: Harness) -> None:
    now = datetime.now(UTC)
    far = format_datetime(now.replace(year=now.year + 1), usegmt=True)
    harness.receiver.script(Reply(503, {"Retry-After": far}))
    harness.start()
    harness.append()

    assert harness.outcomes.wait(1) == ["retry"]
    assert harness.details["next_attempt_at"] == pytest.approx(harness.clock.time() + 3600.0)


def test_a_redirect_is_not_followed_but_retried_on_the_schedule(harness: Harness) -> None:
    moved = harness.receiver.url.replace("/hook", "/moved")
    harness.receiver.script(Reply(301, {"Location": moved}))
    harness.start()
    harness.append()

    assert harness.outcomes.wait(1) == ["retry"]
    error = harness.details["last_error"]
    assert "HTTP 301" in error and "not followed" in error
    harness.clock.advance(5.0)
    assert harness.receiver.wait_for(lambda r: len(r.delivered()) == 1)
    assert [r.path for r in harness.receiver.received] == ["/hook", "/hook"]


def test_a_400_is_dead_lettered_and_the_queue_moves_on(harness: Harness) -> None:
    harness.receiver.script(Reply(400, body=b"missing field"))
    harness.start()
    bad, good = harness.append(i=1), harness.append(i=2)

    assert harness.receiver.wait_for(lambda r: len(r.delivered()) == 1)
    assert harness.receiver.delivered()[0].event["id"] == good
    assert harness.outcomes.wait(2) == ["dead_letter", "delivered"]
    record = harness.queue.record(bad)
    assert record is not None
    assert (record.state, record.last_status, record.last_error) == (
        DeliveryState.DEAD, 400, "HTTP 400: missing field")


def test_the_schedule_runs_out_into_a_dead_letter(harness: Harness) -> None:
    harness.receiver.script(Reply(500), Reply(500), Reply(500))
    harness.start(schedule=(0.0, 1.0, 2.0))
    doomed, next_one = harness.append(i=1), harness.append(i=2)

    for step, delay in ((1, 1.0), (2, 2.0)):
        harness.outcomes.wait(step)
        harness.clock.advance(delay)
    assert harness.receiver.wait_for(lambda r: len(r.delivered()) == 1)
    assert harness.outcomes.wait(4) == ["retry", "retry", "dead_letter", "delivered"]
    record = harness.queue.record(doomed)
    assert record is not None and (record.state, record.attempts) == (DeliveryState.DEAD, 3)
    assert harness.receiver.delivered()[0].event["id"] == next_one


def test_a_410_pauses_the_endpoint_without_spending_the_budget_until_it_recovers(
        harness: Harness) -> None:
    harness.receiver.script(Reply(410), Reply(410), Reply(404))
    harness.start(schedule=(0.0, 1.0))  # a budget two 410s would have spent
    first, second = harness.append(i=1), harness.append(i=2)

    assert harness.outcomes.wait(1) == ["paused"]
    details = harness.details
    assert details["endpoint_state"] == "paused"
    assert details["paused_reason"] == "HTTP 410" and details["pauses"] == 1
    assert details["next_attempt_at"] == pytest.approx(harness.clock.time() + 15.0)
    harness.clock.advance(15.0)  # first probe
    assert harness.outcomes.wait(2) == ["paused", "paused"]
    harness.clock.advance(30.0)  # second probe, later
    assert harness.outcomes.wait(3) == ["paused"] * 3
    record = harness.queue.record(first)
    assert record is not None and (record.attempts, record.failures, record.last_status) == (
        3, 0, 404)

    harness.clock.advance(60.0)  # the receiver answers 2xx again
    assert harness.receiver.wait_for(lambda r: len(r.delivered()) == 2)
    assert [r.event["id"] for r in harness.receiver.delivered()] == [first, second]
    assert wait_until(lambda: harness.details["endpoint_state"] == "ok")
    assert harness.details["pauses"] == 1


def test_events_queued_while_stopped_are_delivered_on_start(harness: Harness) -> None:
    ids = [harness.append(i=i) for i in range(3)]
    harness.start()
    assert harness.receiver.wait_for(lambda r: len(r.delivered()) == 3)
    assert [r.event["id"] for r in harness.receiver.delivered()] == ids


def test_a_requeued_dead_letter_is_delivered_again_with_the_same_id(harness: Harness) -> None:
    harness.receiver.script(Reply(422))
    harness.start()
    event_id = harness.append()
    assert harness.outcomes.wait(1) == ["dead_letter"]

    other = Outbox(harness.outbox.path)  # as `warden outbox requeue` would, from outside
    try:
        assert other.endpoint("default").requeue(event_id)
    finally:
        other.close()
    harness.clock.advance(1.0)  # the actor's tick looks again
    assert harness.receiver.wait_for(lambda r: len(r.delivered()) == 1)
    assert harness.receiver.delivered()[0].headers["webhook-id"] == event_id


def test_delivered_events_are_purged_after_keep_delivered(harness: Harness) -> None:
    harness.start(keep_delivered=30.0)
    harness.append()
    assert harness.outcomes.wait(1) == ["delivered"]
    assert wait_until(lambda: harness.queue.stats().delivered == 1)
    for _ in range(61):
        harness.clock.advance(1.0)
    assert wait_until(lambda: harness.queue.stats().delivered == 0)


def test_an_unusable_secret_stops_the_actor_with_a_clear_error(harness: Harness) -> None:
    harness.start(secret="whsec_not*base64!")
    assert wait_until(lambda: any(isinstance(r, ChildExited) for r in harness.reports))
    exited = next(r for r in harness.reports if isinstance(r, ChildExited))
    assert exited.abnormal
    assert "SigningKeyError: webhook secret: the part after whsec_ is not valid base64" in (
        exited.error)
    assert "not*base64" not in exited.error
    harness.ref = None  # it is already dead


def test_it_heartbeats_under_a_supervisor_while_a_post_hangs(tmp_path: Path) -> None:
    clock = FakeClock(wall_epoch=time.time())
    outbox = Outbox(tmp_path / FILE_NAME, clock)
    receiver = Receiver(default=Reply(204, delay=30.0))
    config = WebhookConfig(url=receiver.url, secret=SECRET, timeout=30.0)
    spec = SupervisorSpec("root", (ChildSpec(
        "webhook", lambda ctx: WebhookActor.start(ctx, outbox, config),
        liveness=Liveness(heartbeat_timeout=config.timeout + 10)),))
    runtime = Runtime(spec, clock=clock).start()
    try:
        outbox.append("acct-1", "session.started", {})
        assert wait_until(lambda: runtime.board.get("webhook") is not None)
        for _ in range(60):  # a minute of fake time, with one POST in flight all along
            clock.advance(1.0)
            stamp = clock.time()  # the supervisor checked the heartbeat deadline at this time:
            assert wait_until(lambda s=stamp: runtime.board.get("webhook").published_at >= s)
        status = runtime.board.get("webhook")
        assert status is not None
        assert (str(status.state), status.restarts_total) == ("healthy", 0)
        assert outbox.endpoint("default").stats().pending == 1
    finally:
        runtime.stop()
        receiver.close()
        outbox.close()
