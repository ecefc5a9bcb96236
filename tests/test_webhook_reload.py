"""A reload that changes the webhook renews its actor with the new config: what was queued for
the old URL goes to the new one, signed with the new secret; the sessions are not touched."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from actors.demo_sink import DemoSink
from actors.signing import signing_key
from actors.webhook import WebhookConfig
from tests.actors.test_demo_sink import SECRET, event, signed
from tests.actors.webhook_receiver import Receiver
from tests.reload_harness import FleetRun
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


def pending(state: Path) -> list[str]:
    with sqlite3.connect(state / "outbox.sqlite3") as db:
        return [i for (i,) in db.execute(
            "SELECT id FROM events WHERE state = 'pending' ORDER BY pos")]


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

    assert result.webhook and result.unchanged == ("acct-1", "acct-2")
    assert receiver.wait_for(lambda r: len(r.delivered()) == 2)
    verifier = Webhook(signing_key(NEW_SECRET))
    delivered = [verifier.verify(r.body, dict(r.headers))["id"] for r in receiver.delivered()]
    assert delivered == queued
    assert run.wait(lambda: not pending(run.state))
    assert run.status("webhook").started_at != webhook.started_at
    assert run.pids() == pids


def test_an_unchanged_webhook_is_not_renewed(run: FleetRun) -> None:
    run.write(["acct-1"])
    warden = run.start()
    before = run.status("webhook").started_at
    run.write(["acct-1", "acct-2"])
    assert not warden.reload().webhook
    assert run.status("webhook").started_at == before


class NoRuntime:
    def __init__(self) -> None:
        self.replaced: list[str] = []

    def replace_child(self, spec: object) -> object:
        self.replaced.append(getattr(spec, "id", ""))
        return "future"


def test_the_built_in_sink_checks_the_new_secret_before_anything_is_signed_with_it() -> None:
    sink = DemoSink(SECRET)
    runtime = NoRuntime()
    renew = WebhookRenewal(runtime, outbox=None, observer=None, sink=sink)  # type: ignore[arg-type]
    old = WebhookConfig(secret=SECRET)
    assert renew(old, old) == ()
    assert renew(old, WebhookConfig(secret=SECRET, timeout=5.0)) == ("future",)
    sink.receive(event(1), signed(event(1), secret=SECRET))
    assert renew(old, WebhookConfig(secret=NEW_SECRET)) == ("future",)
    assert runtime.replaced == ["webhook", "webhook"]
    sink.receive(event(2), signed(event(2), secret=NEW_SECRET, msg_id="evt_2"))
    assert sink.accepted == 2
