"""The WhatsApp Web adapter in real browser sessions against the double of WhatsApp Web's modules
(tests/whatsapp): inbound messages, the canary proven by the server's ack, a deaf socket caught,
logout and its QR code, a conflict that costs no restart, reconciliation after a kill -9, and a
WhatsApp Web whose internals changed."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from actors.adapters.whatsapp import WhatsAppAdapter
from tests.actors.test_session import FAST, Harness, make_harness
from tests.whatsapp.double import DoubleOptions, WhatsAppDouble

__all__ = ["make_harness"]  # the fixture, shared with the session tests

pytestmark = pytest.mark.browser

PEER = "15550100002@c.us"


@pytest.fixture
def double() -> Iterator[WhatsAppDouble]:
    with WhatsAppDouble(DoubleOptions(qr_interval=1.0)) as running:
        yield running


def whatsapp(double: WhatsAppDouble) -> dict[str, Any]:
    return {"adapter": WhatsAppAdapter, "adapter_name": "whatsapp", "url": double.url + "/"}


def start(make_harness: Any, double: WhatsAppDouble, **policy: Any) -> Harness:
    h: Harness = make_harness({"phone-1": replace(FAST, **policy)},
                              settings={"phone-1": whatsapp(double)})
    h.healthy("phone-1")
    return h


def bodies(h: Harness) -> list[str]:
    return h.inbound.bodies("phone-1")


def test_inbound_messages_arrive_readable_even_when_they_came_as_ciphertext(
        make_harness: Any, double: WhatsAppDouble) -> None:
    h = start(make_harness, double)
    double.control.push(PEER, "hello")
    double.control.push(PEER, "secret", ciphertext=True, decrypt_after=0.5)
    h.wait(lambda: bodies(h) == ["hello", "secret"])
    data = h.inbound.of_type("phone-1", "message.received")
    assert {d["from"] for d in data} == {PEER} and {d["type"] for d in data} == {"chat"}
    assert double.control.state()["received"] >= 2  # receipts, as the app sends them


def test_the_canary_is_proven_by_the_server_ack_and_a_deaf_socket_is_caught(
        make_harness: Any, double: WhatsAppDouble) -> None:
    h = start(make_harness, double)
    h.wait(lambda: h.status("phone-1").details.get("last_canary") is not None)
    assert double.control.state()["sent"], "the canary was sent to the account itself"
    double.control.fault("deaf")
    double.control.push(PEER, "while deaf")
    h.wait(lambda: h.status("phone-1").restarts_total == 1, timeout=30)
    assert [e.reason for e in h.restarts("phone-1")] == ["canary"]
    h.healthy("phone-1")
    h.wait(lambda: "while deaf" in bodies(h))


def test_a_logout_shows_its_qr_code_and_a_scan_brings_the_session_back(
        make_harness: Any, double: WhatsAppDouble) -> None:
    h = start(make_harness, double)
    double.control.fault("logout")
    h.wait(lambda: h.status("phone-1").state == "auth_required")
    h.wait(lambda: h.status("phone-1").details.get("login_qr") == double.control.state()["qr"])
    payload = h.status("phone-1").details["login_qr"]
    assert payload.count(",") == 4  # ref,staticKey,identityKey,advSecret,platform
    h.wait(lambda: h.status("phone-1").details.get("login_qr") != payload)  # it rotates
    double.control.scan(h.status("phone-1").details["login_qr"])
    h.healthy("phone-1", restarts_total=0)


def test_a_conflict_waits_for_an_operator_and_costs_no_restart(
        make_harness: Any, double: WhatsAppDouble) -> None:
    h = start(make_harness, double)
    double.control.fault("conflict")
    h.wait(lambda: h.status("phone-1").state == "auth_required")
    (event,) = [e for e in h.lifecycle if e.name == "auth_required"]
    assert event.detail.startswith("conflict: ")
    assert h.status("phone-1").restarts_total == 0


def test_messages_the_page_took_before_a_kill_9_are_recovered_from_its_history(
        make_harness: Any, double: WhatsAppDouble) -> None:
    h = start(make_harness, double, canary=None)
    double.control.push(PEER, "seen live")
    h.wait(lambda: bodies(h) == ["seen live"])
    h.inbound.refuse = True  # the runtime loses what arrives now, as if it were killed
    for n in range(3):
        double.control.push(PEER, f"only in the store {n}")
    h.wait(lambda: double.control.state()["received"] >= 4)
    os.kill(h.status("phone-1").details["browser_pid"], signal.SIGKILL)
    h.inbound.refuse = False
    h.wait(lambda: h.status("phone-1").restarts_total == 1)
    h.healthy("phone-1")
    h.wait(lambda: len(bodies(h)) == 4)
    assert bodies(h) == ["seen live", *(f"only in the store {n}" for n in range(3))]
    recovered = [d for d in h.inbound.of_type("phone-1", "message.received") if d.get("recovered")]
    assert len(recovered) == 3


def test_a_whatsapp_web_whose_internals_changed_is_a_clear_error_restarted_by_policy(
        make_harness: Any, double: WhatsAppDouble) -> None:
    double.control.fault("no_loader", sticky=True)
    once = replace(FAST, budget=replace(FAST.budget, max_restarts=1, cooldown=None))
    h: Harness = make_harness({"phone-1": once},
                              settings={"phone-1": {**whatsapp(double), "load_timeout": 3.0}})
    h.wait(lambda: h.status("phone-1") is not None and h.status("phone-1").state == "failed",
           timeout=120)
    restarts = h.restarts("phone-1")
    assert [e.reason for e in restarts] == ["crash"]
    assert "WhatsApp Web has changed its internals" in restarts[0].detail
    assert restarts[0].delay and restarts[0].delay >= 0.1  # the policy's backoff, not a loop


def test_a_message_missing_its_fields_is_skipped_and_counted(
        make_harness: Any, double: WhatsAppDouble) -> None:
    h = start(make_harness, double, canary=None)
    h.evaluate("phone-1", """() => {
      const {Msg} = window.require('WAWebCollections');
      Msg.trigger('add', {isNewMsg: true, id: {fromMe: false}, type: 'chat', t: 1});
    }""")
    double.control.push(PEER, "after the broken one")
    h.wait(lambda: bodies(h) == ["after the broken one"])
    h.wait(lambda: h.status("phone-1").totals.get("skipped") == 1)  # as next published
