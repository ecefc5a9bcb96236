"""Clocks: the real one reads the OS; the fake one moves only when told and wakes its waiters."""

from __future__ import annotations

import pytest

from runtime import FakeClock, MonotonicClock


def test_a_fake_clock_moves_only_when_advanced() -> None:
    clock = FakeClock(start=50.0, wall_epoch=1_700_000_000.0)
    assert clock.monotonic() == 50.0
    assert clock.time() == 1_700_000_000.0
    clock.advance(2.5)
    assert clock.monotonic() == 52.5
    assert clock.time() == 1_700_000_002.5


def test_a_fake_clock_cannot_go_back() -> None:
    clock = FakeClock()
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance(-1.0)


def test_a_fake_clock_wakes_every_subscriber_on_each_jump() -> None:
    clock = FakeClock()
    seen: list[float] = []
    clock.subscribe(lambda: seen.append(clock.monotonic()))
    clock.subscribe(lambda: seen.append(-clock.monotonic()))
    clock.advance(1.0)
    clock.advance(0.0)
    assert seen == [1001.0, -1001.0, 1001.0, -1001.0]


def test_a_fake_clock_waits_for_a_jump_rather_than_a_real_timeout() -> None:
    clock = FakeClock()
    assert clock.real_timeout(5.0) is None
    assert clock.real_timeout(0.0) == 0.0
    assert clock.real_timeout(-1.0) == 0.0


def test_the_real_clock_waits_real_seconds_and_never_goes_back() -> None:
    clock = MonotonicClock()
    assert clock.real_timeout(1.5) == 1.5
    assert clock.real_timeout(-3.0) == 0.0
    readings = [clock.monotonic() for _ in range(100)]
    assert readings == sorted(readings)
    assert clock.time() > 1_600_000_000
