"""Backoff before restart n is min(max, initial * factor^(n-1)), times 1 ± jitter."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime import Backoff, backoff_delay

backoffs = st.builds(
    Backoff,
    initial=st.floats(0.0, 3600.0),
    factor=st.floats(1.0, 10.0),
    max=st.floats(0.0, 86400.0),
    jitter=st.floats(0.0, 0.99),
)
attempts = st.integers(1, 10_000)
rands = st.floats(0.0, 1.0, exclude_max=True)


def test_the_spec_example_doubles_from_one_second_up_to_thirty() -> None:
    backoff = Backoff(initial=1.0, factor=2.0, max=30.0, jitter=0.0)
    delays = [backoff_delay(backoff, n, 0.5) for n in range(1, 8)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_jitter_scales_the_delay_between_its_bounds() -> None:
    backoff = Backoff(initial=10.0, factor=2.0, max=100.0, jitter=0.2)
    assert backoff_delay(backoff, 1, 0.0) == pytest.approx(8.0)
    assert backoff_delay(backoff, 1, 0.5) == pytest.approx(10.0)
    assert backoff_delay(backoff, 1, 0.999999) == pytest.approx(12.0, rel=1e-5)


def test_a_zero_maximum_means_restart_at_once() -> None:
    assert backoff_delay(Backoff(initial=1.0, factor=2.0, max=0.0, jitter=0.2), 3, 0.9) == 0.0


def test_a_maximum_below_the_initial_delay_caps_the_first_restart_too() -> None:
    assert backoff_delay(Backoff(initial=5.0, factor=2.0, max=2.0, jitter=0.0), 1, 0.5) == 2.0


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError, match="attempt counts from 1"):
        backoff_delay(Backoff(), 0, 0.5)


@given(backoffs, attempts, rands)
def test_the_delay_is_the_capped_exponential_within_its_jitter(
    backoff: Backoff, attempt: int, rand: float
) -> None:
    delay = backoff_delay(backoff, attempt, rand)
    try:
        exponential = backoff.initial * backoff.factor ** (attempt - 1)
    except OverflowError:
        exponential = 0.0 if backoff.initial == 0 else float("inf")
    base = min(backoff.max, exponential)
    assert base * (1 - backoff.jitter) - 1e-9 * base <= delay
    assert delay <= base * (1 + backoff.jitter) + 1e-9 * base


@given(backoffs, attempts, rands)
def test_a_later_attempt_never_waits_less_for_the_same_draw(
    backoff: Backoff, attempt: int, rand: float
) -> None:
    assert backoff_delay(backoff, attempt + 1, rand) >= backoff_delay(backoff, attempt, rand)


@given(backoffs, attempts)
def test_without_jitter_the_draw_does_not_matter(backoff: Backoff, attempt: int) -> None:
    fixed = Backoff(backoff.initial, backoff.factor, backoff.max, 0.0)
    assert backoff_delay(fixed, attempt, 0.0) == backoff_delay(fixed, attempt, 0.7)
