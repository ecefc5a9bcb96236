"""The front's token check takes any bytes, counts and logs its refusals, and slows one address
that keeps guessing without slowing anyone else; over real loopback HTTP."""

from __future__ import annotations

import io
import logging
import socket
import threading
import time

import pytest
from prometheus_client import CollectorRegistry

from actors.auth import MAX_WAITING, token_matches
from httpkit.throttle import FailureThrottle
from runtime import FakeClock
from runtime.status import StatusBoard
from tests.actors.test_front import call, fake_deps, serving
from tests.actors.test_views import make_status
from tests.helpers import wait_until
from warden import control
from warden.metrics import Metrics


def raw_get(port: int, path: str, authorization: bytes) -> tuple[int, bytes]:
    """A GET with the Authorization header's exact bytes; the status and the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                     b"Authorization: " % port + authorization + b"\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1]), answer


@pytest.mark.parametrize("value", [b"Bearer \xff", b"Bearer \xc3\x28", b"Bearer \x80abc",
                                   b"\xff\xfe", b"Bearer s3cret\xff"])
def test_authorization_bytes_that_are_not_utf8_answer_401_not_500(
        value: bytes, caplog: pytest.LogCaptureFixture) -> None:
    with serving(fake_deps(), token="s3cret") as front:
        status, answer = raw_get(front.port, "/sessions", value)
    assert status == 401, answer
    assert b'"error"' in answer
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("token", ["tök", "t€k", "令牌-token"])
def test_a_token_beyond_ascii_works_from_the_command_line(token: str) -> None:
    with serving(fake_deps([make_status("acct-1")]), token=token) as front:
        out, err = io.StringIO(), io.StringIO()
        assert control.status(front.url, token, as_json=True, out=out, err=err) == 0, (
            err.getvalue())
        err = io.StringIO()
        assert control.status(front.url, token + "x", as_json=True, err=err) == 2
        assert err.getvalue().strip() == control.UNAUTHORIZED  # not "invalid URL"


def test_a_browser_sends_a_latin1_token_as_latin1_and_it_works() -> None:
    with serving(fake_deps(), token="tök") as front:
        assert raw_get(front.port, "/sessions", b"Bearer t\xf6k")[0] == 200
        assert raw_get(front.port, "/sessions", "Bearer tök".encode())[0] == 200


def test_a_token_a_header_cannot_carry_is_bad_usage_without_echo() -> None:
    err = io.StringIO()
    assert control.status("http://127.0.0.1:9", "bad\ntoken", as_json=False, err=err) == 2
    assert "bad" not in err.getvalue() and "control characters" in err.getvalue()


def test_token_matches_compares_bytes_in_utf8_or_latin1() -> None:
    assert token_matches("tök", "tök")
    assert token_matches("t\udcf6k", "tök")  # Latin-1 byte 0xf6 as aiohttp keeps it
    assert not token_matches("t\udcffk", "tök") and not token_matches("\udcff", "x")


# --- what a failure leaves ------------------------------------------------------------------------


def test_failed_logins_are_counted_in_a_metric() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry, StatusBoard())
    deps = fake_deps(auth_failed=metrics.auth_failed, throttle=FailureThrottle(free=100))
    with serving(deps, token="s3cret") as front:
        for _ in range(3):
            assert call("GET", front.url + "/sessions", token="guess").status == 401
        for _ in range(2):
            assert call("GET", front.url + "/sessions").status == 401
        assert call("GET", front.url + "/sessions", token="s3cret").status == 200
    value = registry.get_sample_value
    assert value("warden_http_auth_failures_total", {"reason": "wrong"}) == 3
    assert value("warden_http_auth_failures_total", {"reason": "missing"}) == 2


def test_failed_logins_are_logged_once_a_minute_with_a_count(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="actors.auth")
    deps = fake_deps(throttle=FailureThrottle(free=1000))
    with serving(deps, token="s3cret") as front:
        for _ in range(50):
            assert call("GET", front.url + "/sessions", token="guess").status == 401
    lines = [r.getMessage() for r in caplog.records if r.name == "actors.auth"]
    assert lines == ["refused GET /sessions from 127.0.0.1: wrong bearer token"]
    assert "guess" not in caplog.text


def test_repeated_failures_from_one_address_wait_and_nobody_else_does() -> None:
    deps = fake_deps([make_status("acct-1")],
                     throttle=FailureThrottle(free=2, initial=1.0, max_delay=1.0))
    with serving(deps, token="s3cret") as front:
        for _ in range(2):  # free
            assert call("GET", front.url + "/sessions", token="guess").status == 401
        slow: list[float] = []

        def guess() -> None:
            began = time.monotonic()
            assert call("GET", front.url + "/sessions", token="guess").status == 401
            slow.append(time.monotonic() - began)

        guesser = threading.Thread(target=guess)
        guesser.start()
        # while the guess waits, the loop answers everyone else at once
        assert wait_until(lambda: deps.throttle.failures("127.0.0.1") == 3)
        began = time.monotonic()
        assert call("GET", front.url + "/healthz").status == 200
        assert call("GET", front.url + "/sessions", token="s3cret").status == 200
        quick = time.monotonic() - began
        guesser.join(10)
    assert slow and slow[0] >= 0.9, slow
    assert quick < 0.5, quick
    assert deps.throttle.failures("127.0.0.1") == 0  # the right token forgave the address


def test_an_address_with_answers_already_waiting_is_told_429_at_once() -> None:
    deps = fake_deps(throttle=FailureThrottle(free=0, initial=2.0, max_delay=2.0))
    with serving(deps, token="s3cret") as front:
        waiting = [threading.Thread(target=call, args=("GET", front.url + "/sessions"),
                                    kwargs={"token": "guess"}) for _ in range(MAX_WAITING)]
        for thread in waiting:
            thread.start()
        assert wait_until(lambda: deps.throttle.failures("127.0.0.1") == MAX_WAITING)
        began = time.monotonic()
        refused = call("GET", front.url + "/sessions", token="guess")
        assert time.monotonic() - began < 1.0
        for thread in waiting:
            thread.join(10)
    assert refused.status == 429 and refused.headers["Retry-After"] == "2"


# --- the policy -----------------------------------------------------------------------------------


def test_the_throttle_doubles_after_the_free_failures_and_forgets_a_quiet_address() -> None:
    clock = FakeClock()
    throttle = FailureThrottle(free=2, initial=0.5, max_delay=4.0, window=60.0, clock=clock)
    assert [throttle.failed("a") for _ in range(7)] == [0, 0, 0.5, 1.0, 2.0, 4.0, 4.0]
    assert throttle.failed("b") == 0  # another address starts afresh
    clock.advance(60.0)
    assert throttle.failures("a") == 0 and throttle.failed("a") == 0


def test_the_throttle_remembers_a_bounded_number_of_addresses() -> None:
    throttle = FailureThrottle(free=0, max_addresses=3, clock=FakeClock())
    for address in ("a", "b", "c", "d"):
        throttle.failed(address)
    assert [throttle.failures(a) for a in "abcd"] == [0, 1, 1, 1]

