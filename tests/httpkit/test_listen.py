"""Listen addresses: `HOST:PORT` or `[V6]:PORT`, and which hosts are loopback."""

from __future__ import annotations

import pytest

from httpkit import is_loopback, split_listen


@pytest.mark.parametrize(("text", "parts"), [
    ("127.0.0.1:3001", ("127.0.0.1", 3001)), ("[::1]:80", ("::1", 80)),
    ("localhost:0", ("localhost", 0)),
])
def test_listen_addresses(text: str, parts: tuple[str, int]) -> None:
    assert split_listen(text) == parts


@pytest.mark.parametrize("text", ["127.0.0.1", ":3001", "host:99999", "a:b:1"])
def test_bad_listen_addresses(text: str) -> None:
    with pytest.raises(ValueError):
        split_listen(text)


def test_loopback_hosts() -> None:
    assert all(map(is_loopback, ("localhost", "127.0.0.1", "127.1.2.3", "::1")))
    assert not any(map(is_loopback, ("0.0.0.0", "10.0.0.5", "::", "example.com", "")))
