"""A reload applies changed webhook endpoints without touching the sessions or losing an event:
a changed endpoint's actor is renewed (what was queued for the old URL goes to the new one,
signed with the new secret), an added one gets an actor and the events from then on, a removed
one loses its actor while its undelivered events stay in the outbox."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from actors.demo_sink import DemoSink
from actors.signing import signing_key
from tests.actors.test_demo_sink import SECRET, event, signed
from tests.actors.webhook_receiver import Receiver
from tests.reload_harness import FleetRun
from warden.config import parse_config
from warden.webhook_reload import WebhookRenewal

NEW_SECRET = "whsec_bmV3LXNlY3JldC1uZXctc2VjcmV0LW5ldy1zZWNyZXQ="


@pytest.fixture
def run(tmp_path: Path) -> Iterator[FleetRun]:
    fleet_run = FleetRun(tmp_path)
    yield fleet_run
    fleet_run.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


def pending(state: Path, endpoint: str = "default") -> list[str]:
    with sqlite3.connect(state / "outbox.sqlite3") as db:
        return [i for (i,) in db.execute(
            "SELECT e.id FROM deliveries d JOIN events e USING (pos)"
            " WHERE d.endpoint = ? AND d.state = 'pending' ORDER BY pos", (endpoint,))]


def endpoint(endpoint_id: str, url: str, secret: str = NEW_SECRET) -> str:
    return f"  - id: {endpoint_id}\n    url: {url}\n    secret: {secret}\n"


def test_events_queued_for_the_old_endpoint_go_to_the_new_one_signed_anew(
    run: FleetRun, receiver: Receiver,
) -> None:
    run.write(["acct-1", "acct-2"])  # to a port nobody listens on
    warden = run.start()
    assert run.wait(lambda: len(pending(run.state)) == 2)  # session.started, twice
    queued = pending(run.state)
    pids = run.pids()
    webhook = run.status("webhook")
    run.write(["acct-1", "acct-2"], webhook=f"  url: {receiver.url}\n  secret: {NEW_SECRET}")

    result = warden.reload()

    assert result.webhooks and result.unchanged == ("acct-1", "acct-2")
    assert receiver.wait_for(lambda r: len(r.delivered()) == 2)
    verifier = Webhook(signing_key(NEW_SECRET))
    delivered = [verifier.verify(r.body, dict(r.headers))["id"] for r in receiver.delivered()]
    assert sorted(delivered) == sorted(queued)  # two sessions: each in order, not with each other
    assert run.wait(lambda: not pending(run.state))
    assert run.status("webhook").started_at != webhook.started_at
    assert run.pids() == pids


def test_unchanged_endpoints_are_not_renewed(run: FleetRun) -> None:
    run.write(["acct-1"])
    warden = run.start()
    before = run.status("webhook").started_at
    run.write(["acct-1", "acct-2"])
    assert not warden.reload().webhooks
    assert run.status("webhook").started_at == pytest.approx(before, abs=1e-3)  # same actor


def test_an_added_endpoint_gets_an_actor_and_a_removed_one_keeps_its_events(
    run: FleetRun, receiver: Receiver,
) -> None:
    nobody = "http://127.0.0.1:9/hook"
    run.write(["acct-1"], webhooks=endpoint("ops", nobody))
    warden = run.start()
    assert run.wait(lambda: len(pending(run.state, "ops")) == 1)  # acct-1's session.started
    ops = run.status("webhook-ops")
    pids = run.pids()

    run.write(["acct-1", "acct-2"], webhooks=endpoint("crm", receiver.url))
    result = warden.reload()

    assert result.webhooks and result.added == ("acct-2",)
    assert run.wait(lambda: run.board.get("webhook-ops") is None)  # its actor is gone
    assert run.status("webhook-crm") is not None and ops is not None
    # Events from the reload on go to crm: acct-2's start, signed with crm's secret.
    assert receiver.wait_for(lambda r: len(r.delivered()) >= 1)
    verifier = Webhook(signing_key(NEW_SECRET))
    first = verifier.verify(receiver.delivered()[0].body, dict(receiver.delivered()[0].headers))
    assert (first["type"], first["session_id"]) == ("session.started", "acct-2")
    assert len(pending(run.state, "ops")) == 1  # kept for when ops comes back
    assert run.pids()["acct-1"] == pids["acct-1"]


class NoRuntime:
    """Records what the renewal asks of the tree."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def replace_child(self, spec: object) -> str:
        self.asked.append(("replace", getattr(spec, "id", "")))
        return "future"

    def add_child(self, supervisor: str, spec: object) -> str:
        self.asked.append((f"add to {supervisor}", getattr(spec, "id", "")))
        return "future"

    def remove_child(self, child_id: str) -> str:
        self.asked.append(("remove", child_id))
        return "future"


class NoWebhooks:
    outbox = None

    def __init__(self) -> None:
        self.endpoints: list[str] = []

    def set_endpoints(self, endpoints: object) -> None:
        self.endpoints = [e.id for e in endpoints]  # type: ignore[attr-defined]


def config(*endpoints: str) -> object:
    return parse_config("webhooks:\n" + "".join(endpoints) if endpoints else "webhooks: []\n",
                        "f.yaml", environ={})


def test_each_endpoint_is_added_removed_or_renewed_by_what_changed() -> None:
    runtime, webhooks = NoRuntime(), NoWebhooks()
    renew = WebhookRenewal(runtime, webhooks, observer=None)  # type: ignore[arg-type]
    old = config(endpoint("a", "http://127.0.0.1:9/a"), endpoint("b", "http://127.0.0.1:9/b"))
    assert renew(old, old) == ()  # type: ignore[arg-type]
    new = config(endpoint("b", "http://127.0.0.1:9/b2"), endpoint("c", "http://127.0.0.1:9/c"))
    assert len(renew(old, new)) == 3  # type: ignore[arg-type]
    assert sorted(runtime.asked) == [("add to root", "webhook-c"), ("remove", "webhook-a"),
                                     ("replace", "webhook-b")]
    assert webhooks.endpoints == ["b", "c"]  # new events are routed by the new list


def test_the_built_in_sink_checks_the_new_secret_before_anything_is_signed_with_it() -> None:
    sink = DemoSink(SECRET)
    runtime, webhooks = NoRuntime(), NoWebhooks()
    renew = WebhookRenewal(runtime, webhooks, observer=None, sink=sink)  # type: ignore[arg-type]
    old = parse_config(f"webhook:\n  secret: {SECRET}\n", "f.yaml", environ={})
    slower = parse_config(f"webhook:\n  secret: {SECRET}\n  timeout: 5s\n", "f.yaml",
                          environ={})
    assert renew(old, slower) == ["future"]
    sink.receive(event(1), signed(event(1), secret=SECRET))
    rekeyed = parse_config(f"webhook:\n  secret: {NEW_SECRET}\n", "f.yaml", environ={})
    assert renew(old, rekeyed) == ["future"]
    assert runtime.asked == [("replace", "webhook"), ("replace", "webhook")]
    sink.receive(event(2), signed(event(2), secret=NEW_SECRET, msg_id="evt_2"))
    assert sink.accepted == 2
