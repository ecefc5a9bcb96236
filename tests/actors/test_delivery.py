"""Delivery policy: what an answer means and how long to wait, as pure functions."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.delivery import (
    PROBE_INITIAL,
    PROBE_MAX,
    RETRY_AFTER_MAX,
    AttemptResult,
    Outcome,
    Verdict,
    classify,
    parse_retry_after,
    probe_delay,
    retry_delay,
    verdict,
)
from actors.webhook import DEFAULT_SCHEDULE


@pytest.mark.parametrize(("status", "outcome"), [
    (200, Outcome.DELIVERED), (201, Outcome.DELIVERED), (204, Outcome.DELIVERED),
    (400, Outcome.DEAD_LETTER), (413, Outcome.DEAD_LETTER), (422, Outcome.DEAD_LETTER),
    (401, Outcome.PAUSED), (403, Outcome.PAUSED), (404, Outcome.PAUSED), (410, Outcome.PAUSED),
    (301, Outcome.RETRY), (302, Outcome.RETRY), (307, Outcome.RETRY), (408, Outcome.RETRY),
    (425, Outcome.RETRY), (429, Outcome.RETRY), (500, Outcome.RETRY), (503, Outcome.RETRY),
    (None, Outcome.RETRY),
])
def test_classification_follows_the_contract(status: int | None, outcome: Outcome) -> None:
    assert classify(status) is outcome


def test_without_jitter_the_schedule_is_followed_then_runs_out() -> None:
    rng = random.Random(0)
    waits = [retry_delay(n, DEFAULT_SCHEDULE, 0.0, rng) for n in range(1, 11)]
    assert waits == [*DEFAULT_SCHEDULE[1:], None]


@given(failures=st.integers(1, 9), jitter=st.floats(0, 0.99), seed=st.integers(0, 2**32))
def test_jitter_stays_within_its_bounds(failures: int, jitter: float, seed: int) -> None:
    wait = retry_delay(failures, DEFAULT_SCHEDULE, jitter, random.Random(seed))
    base = DEFAULT_SCHEDULE[failures]
    assert wait is not None
    assert base * (1 - jitter) - 1e-9 <= wait <= base * (1 + jitter) + 1e-9


def test_retry_after_lengthens_a_wait_but_never_shortens_it_and_is_capped() -> None:
    rng = random.Random(0)
    schedule = (0.0, 5.0, 300.0)
    assert retry_delay(1, schedule, 0.0, rng, retry_after=120.0) == 120.0
    assert retry_delay(2, schedule, 0.0, rng, retry_after=120.0) == 300.0
    assert retry_delay(1, schedule, 0.0, rng, retry_after=10 * RETRY_AFTER_MAX) == RETRY_AFTER_MAX
    assert retry_delay(1, schedule, 0.0, rng, retry_after=-5.0) == 5.0
    assert retry_delay(3, schedule, 0.0, rng, retry_after=1.0) is None


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = 1_800_000_000.0
    in_90s = format_datetime(datetime.fromtimestamp(now + 90, UTC), usegmt=True)
    sent = format_datetime(datetime.fromtimestamp(now - 1000, UTC), usegmt=True)

    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after(in_90s, now) == 90.0
    assert parse_retry_after(in_90s, now, date=sent) == 1090.0  # the server's own clock
    assert parse_retry_after(sent, now) == 0.0  # a date in the past: now
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("-3", now) is None


def test_retry_after_seconds_are_ascii_digits_only() -> None:
    now = 1_800_000_000.0
    assert parse_retry_after("  12 ", now) == 12.0  # surrounding spaces are allowed
    assert parse_retry_after("\u00b2", now) is None  # a superscript two: not a delta-seconds
    assert parse_retry_after("\u0661\u0662", now) is None  # Arabic-Indic digits: neither
    assert parse_retry_after("1 2", now) is None


def test_a_paused_endpoint_is_probed_less_and_less_often() -> None:
    delays = [probe_delay(n) for n in range(1, 12)]
    assert delays[0] == PROBE_INITIAL
    assert delays == sorted(delays)
    assert delays[-1] == PROBE_MAX


def test_the_verdict_on_an_answer_says_how_long_the_lane_or_the_endpoint_waits() -> None:
    rng = random.Random(1)
    schedule = (0.0, 5.0, 300.0)
    assert verdict(AttemptResult(204), 0, schedule, 0.0, rng, 0) == Verdict(Outcome.DELIVERED)
    assert verdict(AttemptResult(503), 0, schedule, 0.0, rng, 0) == Verdict(Outcome.RETRY, 5.0)
    assert verdict(AttemptResult(503, retry_after=60.0), 1, schedule, 0.0, rng, 0) == Verdict(
        Outcome.RETRY, 300.0)
    assert verdict(AttemptResult(None), 2, schedule, 0.0, rng, 0) == Verdict(
        Outcome.DEAD_LETTER, gave_up=True)
    assert verdict(AttemptResult(422), 0, schedule, 0.0, rng, 0) == Verdict(Outcome.DEAD_LETTER)
    assert verdict(AttemptResult(410), 5, schedule, 0.0, rng, 2) == Verdict(Outcome.PAUSED, 60.0)
