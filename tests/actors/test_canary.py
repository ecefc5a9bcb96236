"""A canary is proven by its server ack only: never by the local copy, never by another message."""

from __future__ import annotations

from actors.canary import CANARY_PREFIX, Canary


def test_only_the_server_ack_of_the_canary_s_own_message_proves_it() -> None:
    canary = Canary()
    token, body = canary.send()
    assert body == CANARY_PREFIX + token and canary.in_flight
    assert not canary.sent(token, "m1")
    assert not canary.acked("m1", 0)  # the page's own copy, ack 0: proves nothing
    assert not canary.acked("other", 1)  # another message's ack
    assert canary.acked("m1", 1)
    assert not canary.in_flight
    assert not canary.acked("m1", 2)  # later acks of a proven canary change nothing


def test_an_ack_that_comes_before_the_send_answers_with_the_id_still_counts() -> None:
    canary = Canary()
    token, _ = canary.send()
    assert not canary.acked("m1", 1)
    assert canary.sent(token, "m1")
    assert not canary.in_flight


def test_an_expired_canary_is_a_failure_once_and_a_late_ack_no_longer_counts() -> None:
    canary = Canary()
    token, _ = canary.send()
    canary.sent(token, "m1")
    assert canary.expired(token)
    assert not canary.expired(token)
    assert not canary.acked("m1", 1)
    second, _ = canary.send()
    assert second != token and not canary.expired(token)  # an older canary's timer


def test_a_dropped_canary_neither_fails_nor_passes() -> None:
    canary = Canary()
    token, _ = canary.send()
    canary.drop()
    assert not canary.expired(token) and not canary.sent(token, "m1") and not canary.in_flight
