"""A ULID is 26 Crockford base32 characters whose first 10 are the milliseconds."""

from __future__ import annotations

from actors.ulid import new_ulid

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def test_it_is_26_crockford_characters_that_sort_by_time() -> None:
    ids = [new_ulid(1_800_000_000.0 + i / 1000) for i in range(50)]
    assert all(len(u) == 26 and set(u) <= set(ALPHABET) for u in ids)
    assert [u[:10] for u in ids] == sorted(u[:10] for u in ids)
    assert len(set(ids)) == 50


def test_the_time_part_is_the_milliseconds() -> None:
    ulid = new_ulid(1_800_000_000.123)
    millis = 0
    for char in ulid[:10]:
        millis = millis * 32 + ALPHABET.index(char)
    assert millis == 1_800_000_000_123
    assert new_ulid(0.0)[:10] == "0" * 10
