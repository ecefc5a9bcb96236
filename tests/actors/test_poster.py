"""The poster counts an answer only when it was read whole, and a broken receiver costs an
attempt, never an event or the poster itself."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from actors.delivery import Outcome, classify
from actors.poster import BODY_LIMIT, Answered, Poster
from actors.signing import Signer
from actors.webhook_event import StoredEvent
from tests.actors.hostile_receiver import HostileReceiver
from tests.actors.test_webhook import SECRET
from tests.actors.webhook_receiver import Receiver, Reply

EVENT = StoredEvent("evt_01MCC5RM00BK47TSW5C98QZ0QC", "acct-1", 1, "session.started", b"{}", 1)


class Posting:
    """A started poster and a way to wait for its answers."""

    def __init__(self, url: str, timeout: float = 5.0, connections: int = 1) -> None:
        self._told = threading.Event()
        self.poster = Poster(url, Signer(SECRET), timeout, connections=connections,
                             notify=self._told.set)
        self.poster.start()
        self.answers: list[Answered] = []

    def send(self, lane: str, *events: StoredEvent) -> None:
        self.poster.submit(lane, events)

    def wait(self, count: int, timeout: float = 15.0) -> list[Answered]:
        deadline = time.monotonic() + timeout
        while len(self.answers) < count:
            assert self._told.wait(max(0.0, deadline - time.monotonic())), self.answers
            self._told.clear()
            self.answers += self.poster.take()
        return self.answers

    def close(self) -> None:
        self.poster.close()


@pytest.fixture
def hostile() -> Iterator[HostileReceiver]:
    receiver = HostileReceiver("ok")
    yield receiver
    receiver.close()


@pytest.fixture
def posting(hostile: HostileReceiver) -> Iterator[Posting]:
    p = Posting(hostile.url)
    yield p
    p.close()


def test_a_2xx_cut_short_of_its_length_is_no_delivery(hostile: HostileReceiver,
                                                      posting: Posting) -> None:
    hostile.mode = "truncated"  # "HTTP/1.1 200 OK", Content-Length: 100, then "abc" and close
    posting.send("acct-1", EVENT)
    (answered,) = posting.wait(1)
    assert answered.result.status is None and not answered.result.ok
    assert classify(answered.result.status) is Outcome.RETRY
    assert answered.result.error.startswith("HTTP 200, then ClientPayloadError")
    assert "received 3 of 100 bytes" in answered.result.error


@pytest.mark.parametrize(("mode", "says"), [
    ("garbage", "Bad status line"),
    ("close", "closed the connection before its answer was complete"),
    ("redirect", "HTTP 302 redirect to http://127.0.0.1:9/elsewhere (not followed)"),
    ("huge", f"HTTP 200 with an answer over {BODY_LIMIT} bytes: not read whole"),
])
def test_a_broken_answer_is_a_retry_that_says_what_was_wrong(
        hostile: HostileReceiver, posting: Posting, mode: str, says: str) -> None:
    hostile.mode = mode
    began = time.monotonic()
    posting.send("acct-1", EVENT)
    (answered,) = posting.wait(1)
    assert classify(answered.result.status) is Outcome.RETRY, answered.result
    assert says in answered.result.error
    assert "\n" not in answered.result.error
    assert time.monotonic() - began < 5.0  # a 1 GB body is not read to its end
    hostile.mode = "ok"  # and the poster goes on
    posting.send("acct-1", EVENT)
    assert posting.wait(2)[1].result.status == 204


def test_a_run_stops_at_the_first_answer_that_is_not_2xx() -> None:
    receiver = Receiver()
    receiver.script(Reply(204), Reply(503))
    posting = Posting(receiver.url)
    try:
        events = [StoredEvent(f"evt_{i}", "acct-1", i, "session.started", b"{}", i)
                  for i in range(1, 5)]
        posting.send("acct-1", *events)
        answers = posting.wait(2)
        assert [(a.event.seq, a.result.status, a.last) for a in answers] == [
            (1, 204, False), (2, 503, True)]
        assert len(receiver.hook_calls()) == 2
    finally:
        posting.close()
        receiver.close()


def test_lanes_run_side_by_side_up_to_the_connections() -> None:
    receiver = Receiver(default=Reply(204, delay=0.2))
    posting = Posting(receiver.url, connections=3)
    try:
        for i in range(6):
            posting.send(f"acct-{i}", StoredEvent(f"evt_{i}", f"acct-{i}", 1,
                                                  "session.started", b"{}", i))
        assert {a.lane for a in posting.wait(6)} == {f"acct-{i}" for i in range(6)}
        assert receiver.most_in_flight == 3
    finally:
        posting.close()
        receiver.close()


def test_drain_waits_for_posts_in_flight_and_hands_over_their_answers() -> None:
    receiver = Receiver(default=Reply(204, delay=0.3))
    posting = Posting(receiver.url)
    try:
        posting.send("acct-1", EVENT, StoredEvent("evt_2", "acct-1", 2, "session.stopped",
                                                  b"{}", 2))
        assert receiver.wait_for(lambda r: r.in_flight == 1)
        answers = posting.poster.drain(grace=5.0)
        assert [(a.event.seq, a.result.status) for a in answers] == [(1, 204)]
        assert len(receiver.hook_calls()) == 1  # the second was never sent
    finally:
        posting.close()
        receiver.close()
