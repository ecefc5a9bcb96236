"""Durations and sizes as written in config, parsed with messages that say what is expected."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.units import format_duration, parse_duration, parse_size


@pytest.mark.parametrize(("text", "seconds"), [
    ("250ms", 0.25), ("5s", 5.0), ("10m", 600.0), ("2h", 7200.0), ("1d", 86400.0),
    ("1.5s", 1.5), (" 3 s ", 3.0), ("0s", 0.0),
])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(("value", "hint"), [
    ("5", "got '5'"), ("5 sec", "got '5 sec'"), ("-1s", "got '-1s'"), ("", "got ''"),
    (5, "did you mean '5s'?"), (2.5, "did you mean '2.5s'?"), (True, "got True"),
    (None, "got None"),
])
def test_bad_durations_say_what_a_duration_looks_like(value: object, hint: str) -> None:
    with pytest.raises(ValueError, match="expected a duration such as 250ms") as info:
        parse_duration(value)
    assert hint in str(info.value)


@pytest.mark.parametrize(("text", "size"), [
    ("500MiB", 500 * 2**20), ("1GiB", 2**30), ("1.5KiB", 1536), ("10B", 10), ("1MB", 10**6),
])
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("value", ["500", "500 MiBs", "1 gib", -1, 500, True, None, "-5MiB"])
def test_bad_sizes_say_what_a_size_looks_like(value: object) -> None:
    with pytest.raises(ValueError, match="expected a size such as 500MiB or 1GiB"):
        parse_size(value)


@given(st.integers(0, 10**7))
def test_formatted_whole_milliseconds_parse_back(milliseconds: int) -> None:
    seconds = milliseconds / 1000
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


def test_formatting_picks_the_largest_whole_unit() -> None:
    assert [format_duration(s) for s in (7200.0, 600.0, 5.0, 0.25, 90.0)] == [
        "2h", "10m", "5s", "250ms", "90s"]
