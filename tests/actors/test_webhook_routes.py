"""The /webhooks routes: endpoints with their backlog, an endpoint's events, one event's
attempts, replay and dead-letter requeues, over a real outbox and real loopback HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.delivery import Outcome
from actors.endpoint import WebhookConfig
from actors.outbox import FILE_NAME, Outbox
from actors.outbox_queue import Answer
from actors.webhooks import Webhooks
from runtime import ChildStatus, FakeClock
from tests.actors.test_front import FakeBoard, call, fake_deps, serving
from tests.actors.test_views import NOW, make_status

SECRET = "whsec_ZGVtby1zZWNyZXQtZGVtby1zZWNyZXQtZGVtbw=="
ENDPOINTS = (
    WebhookConfig(id="crm", url="https://crm.example/hook?key=s3cret", secret=SECRET),
    WebhookConfig(id="audit", url="http://127.0.0.1:9/audit", secret=SECRET,
                  events=("session.*",)),
)


class Board(FakeBoard):
    """A board that also shows webhook actors."""

    def __init__(self, webhooks: tuple[ChildStatus, ...] = ()) -> None:
        super().__init__((), webhooks)

    def of_kind(self, kind: str) -> tuple[ChildStatus, ...]:
        return self.others if kind == "webhook" else ()


class World:
    """An outbox with two endpoints and a few settled events."""

    def __init__(self, tmp_path: Path) -> None:
        self.clock = FakeClock(start=0.0, wall_epoch=NOW - 600)
        self.outbox = Outbox(tmp_path / FILE_NAME, self.clock)
        self.webhooks = Webhooks(self.outbox, ENDPOINTS)
        self.started = self.outbox.append("acct-1", "session.started", {})
        self.clock.advance(60)
        self.message = self.outbox.append("acct-1", "message.received", {"message_id": "m1"})
        self.other = self.outbox.append("acct-2", "message.received", {"message_id": "m2"})
        crm = self.outbox.endpoint("crm")
        at = self.clock.time()
        crm.settle([
            Answer(self.started.pos, Outcome.DELIVERED, 204, "", at, 0.012),
            Answer(self.message.pos, Outcome.RETRY, 503, "HTTP 503: busy", at, 0.2, at + 5),
        ])
        self.clock.advance(5)
        crm.settle([Answer(self.message.pos, Outcome.DEAD_LETTER, 400, "HTTP 400: no",
                           self.clock.time(), 0.05)])
        self.clock.advance(535)  # now = NOW


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.outbox.close()


def deps(world: World, paused: bool = False, **overrides: object) -> object:
    statuses = (make_status("webhook-crm", supervisor="root", kind="webhook", details={
        "endpoint": "crm", "endpoint_state": "paused" if paused else "ok"}),)
    return fake_deps(board=Board(statuses), webhooks=world.webhooks, **overrides)


def test_the_endpoints_with_their_state_and_backlog_never_the_secret(world: World) -> None:
    with serving(deps(world, paused=True)) as front:
        answer = call("GET", front.url + "/webhooks")
    assert answer.status == 200
    assert answer.body == {"endpoints": [
        {"id": "crm", "url": "https://crm.example/hook?redacted", "state": "paused", "pending": 1,
         "oldest_age_seconds": 540.0, "dead_letters": 1, "delivered_total": 1},
        {"id": "audit", "url": "http://127.0.0.1:9/audit", "state": "active", "pending": 1,
         "oldest_age_seconds": 600.0, "dead_letters": 0, "delivered_total": 0},
    ]}
    assert "s3cret" not in answer.raw.decode() and SECRET not in answer.raw.decode()


def test_an_endpoints_events_oldest_first_by_state_and_session(world: World) -> None:
    with serving(deps(world)) as front:
        every = call("GET", front.url + "/webhooks/crm/events").body["events"]
        dead = call("GET", front.url + "/webhooks/crm/events?state=dead").body["events"]
        one = call("GET", front.url + "/webhooks/crm/events?session=acct-2&limit=1").body
    assert [e["id"] for e in every] == [world.started.id, world.message.id, world.other.id]
    assert dead == [{"id": world.message.id, "type": "message.received", "session_id": "acct-1",
                     "seq": 2, "timestamp": "2027-01-15T07:51:00.000Z", "state": "dead",
                     "attempts": 2, "last_status": 400}]
    assert [(e["id"], e["state"], e["attempts"]) for e in one["events"]] == [
        (world.other.id, "pending", 0)]


@pytest.mark.parametrize(("query", "status"), [
    ("?state=lost", 400), ("?limit=0", 400), ("?limit=1001", 400), ("?limit=x", 400),
    ("?session=a%20b", 400),
])
def test_a_bad_events_query_is_400(world: World, query: str, status: int) -> None:
    with serving(deps(world)) as front:
        answer = call("GET", front.url + "/webhooks/crm/events" + query)
    assert answer.status == status and "error" in answer.body


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/webhooks/billing/events"), ("POST", "/webhooks/billing/replay"),
    ("POST", "/webhooks/billing/dead/requeue"),
    ("POST", "/webhooks/billing/dead/evt_01MCC5RM00BK47TSW5C98QZ0QC/requeue"),
])
def test_an_unknown_endpoint_is_404(world: World, method: str, path: str) -> None:
    with serving(deps(world)) as front:
        answer = call(method, front.url + path, data=b'{"since": "2027-01-01T00:00:00Z"}')
    assert answer.status == 404
    assert answer.body["error"] == "no endpoint billing (configured: crm, audit)"


def test_one_event_with_its_attempts_at_every_endpoint(world: World) -> None:
    with serving(deps(world)) as front:
        answer = call("GET", front.url + f"/webhooks/events/{world.message.id}")
        started = call("GET", front.url + f"/webhooks/events/{world.started.id}").body
        unknown = call("GET", front.url + "/webhooks/events/evt_01MCC5RM00BK47TSW5C98QZ0QD")
        malformed = call("GET", front.url + "/webhooks/events/evt_x")
    assert answer.status == 200
    assert answer.body == {
        "id": world.message.id, "type": "message.received", "session_id": "acct-1", "seq": 2,
        "timestamp": "2027-01-15T07:51:00.000Z",
        "deliveries": [{"endpoint": "crm", "state": "dead", "next_attempt_at": None, "attempts": [
            {"at": "2027-01-15T07:51:00.000Z", "status": 503, "error": "HTTP 503: busy",
             "duration_ms": 200.0},
            {"at": "2027-01-15T07:51:05.000Z", "status": 400, "error": "HTTP 400: no",
             "duration_ms": 50.0}]}],
    }
    assert [(d["endpoint"], d["state"], [a["status"] for a in d["attempts"]])
            for d in started["deliveries"]] == [("audit", "pending", []),
                                                ("crm", "delivered", [204])]
    assert unknown.status == 404 and malformed.status == 400


def test_a_replay_requeues_what_was_delivered_since_then(world: World) -> None:
    with serving(deps(world)) as front:
        url = front.url + "/webhooks/crm/replay"
        nothing = call("POST", url, data=b'{"since": "2027-01-15T07:55:00Z"}')
        some = call("POST", url, data=json.dumps({"since": "2027-01-15T07:40:00+00:00",
                                                  "session": "acct-1"}).encode())
    assert (nothing.status, nothing.body) == (202, {"requeued": 0})
    assert (some.status, some.body) == (202, {"requeued": 1})
    assert world.outbox.endpoint("crm").stats().pending == 2


@pytest.mark.parametrize(("body", "says"), [
    (b'{"since": "2099-01-01T00:00:00Z"}', "since is in the future"),
    (b'{"since": "yesterday"}', "not an ISO 8601 time"),
    (b'{"since": "2027-01-15T07:00:00"}', "needs a time zone"),
    (b'{"since": 1800000000}', "since must be an ISO 8601 time"),
    (b"{}", "since must be an ISO 8601 time"),
    (b'{"since": "2027-01-15T07:00:00Z", "sesion": "acct-1"}', "unknown field 'sesion'"),
    (b'{"since": "2027-01-15T07:00:00Z", "session": "a b"}', "session must be a session id"),
    (b"[1]", "body must be a JSON object"),
])
def test_a_bad_replay_is_400_and_requeues_nothing(world: World, body: bytes, says: str) -> None:
    with serving(deps(world)) as front:
        answer = call("POST", front.url + "/webhooks/crm/replay", data=body)
    assert answer.status == 400 and says in answer.body["error"]
    assert world.outbox.endpoint("crm").stats().pending == 1


def test_dead_letters_are_requeued_one_or_all(world: World) -> None:
    with serving(deps(world)) as front:
        base = front.url + "/webhooks/crm/dead"
        one = call("POST", f"{base}/{world.message.id}/requeue")
        again = call("POST", f"{base}/{world.message.id}/requeue")
        unknown = call("POST", f"{base}/evt_01MCC5RM00BK47TSW5C98QZ0QD/requeue")
        every = call("POST", f"{base}/requeue")
    assert (one.status, one.body) == (202, {"requeued": 1})
    assert again.status == 409 and "not a dead letter" in again.body["error"]
    assert unknown.status == 404
    assert (every.status, every.body) == (202, {"requeued": 0})
    assert world.outbox.endpoint("crm").stats().dead_letters == 0


def test_the_routes_need_the_token(world: World) -> None:
    with serving(deps(world), token="t0ken") as front:
        refused = call("GET", front.url + "/webhooks")
        allowed = call("GET", front.url + "/webhooks", token="t0ken")
    assert refused.status == 401 and allowed.status == 200


def test_the_overview_and_webhook_show_the_endpoints_and_the_outbox_health(
        world: World) -> None:
    with serving(deps(world)) as front:
        overview = call("GET", front.url + "/overview").body
        single = call("GET", front.url + "/webhook").body
    assert [e["id"] for e in overview["webhooks"]["endpoints"]] == ["crm", "audit"]
    outbox = overview["webhooks"]["outbox"]
    assert outbox["healthy"] is True and outbox["append_failures"] == 0
    assert single["pending"] == 1 and single["dead_letters"] == 1  # crm: there is no default


def test_without_webhooks_the_routes_are_404() -> None:
    with serving(fake_deps()) as front:
        assert call("GET", front.url + "/webhooks").status == 404


def test_healthz_detail_shows_an_outbox_that_cannot_take_appends(world: World,
                                                                tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).unlink()  # deleted under the running outbox: appends are refused
    with serving(deps(world)) as front:
        answer = call("GET", front.url + "/healthz/detail")
        plain = call("GET", front.url + "/healthz")
    assert answer.status == 200 and answer.body["status"] == "degraded"
    (problem,) = answer.body["problems"]
    assert problem.startswith(f"outbox: {tmp_path / FILE_NAME} was deleted while Warden runs")
    assert answer.body["outbox"]["healthy"] is False
    assert plain.body == {"status": "ok"}
