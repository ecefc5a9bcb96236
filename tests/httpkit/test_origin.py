"""The origin rule: a browser on another site can neither read a local server nor steer it."""

from __future__ import annotations

from httpkit import foreign_request

LOCAL = ("127.0.0.1", 3001)


def test_a_loopback_host_with_the_port_is_this_server_and_any_other_is_refused() -> None:
    for host in ("127.0.0.1:3001", "localhost:3001", "[::1]:3001"):
        assert foreign_request("GET", {"Host": host}, LOCAL) is None
    for host in ("evil.example:3001", "127.0.0.1:3002", "localhost", "127.0.0.1.evil.example:3001"):
        assert foreign_request("GET", {"Host": host}, LOCAL) is not None


def test_a_post_from_another_origin_or_site_is_refused_and_one_without_either_is_not() -> None:
    here = {"Host": "127.0.0.1:3001"}
    assert foreign_request("POST", here, LOCAL) is None  # curl, scripts: no Origin at all
    assert foreign_request("POST", {**here, "Origin": "http://127.0.0.1:3001"}, LOCAL) is None
    assert foreign_request("POST", {**here, "Origin": "http://evil.example"}, LOCAL) is not None
    for site in ("cross-site", "same-site"):
        assert foreign_request("POST", {**here, "Sec-Fetch-Site": site}, LOCAL) is not None
    assert foreign_request("GET", {**here, "Sec-Fetch-Site": "cross-site"}, LOCAL) is None


def test_a_websocket_upgrade_counts_as_unsafe() -> None:
    upgrade = {"Host": "127.0.0.1:3001", "Upgrade": "websocket", "Origin": "http://evil.example"}
    assert foreign_request("GET", upgrade, LOCAL) is not None


def test_a_public_listen_with_a_token_takes_its_proxys_host_but_no_cross_site_post() -> None:
    public = {"Host": "warden.example.com", "Origin": "https://warden.example.com"}
    local = ("10.0.0.5", 3001)
    assert foreign_request("GET", {"Host": "warden.example.com"}, local, check_host=False) is None
    assert foreign_request("POST", public, local, check_host=False) is None
    assert foreign_request("POST", {**public, "Origin": "https://evil.example"}, local,
                           check_host=False) is not None
    assert foreign_request("GET", {"Host": "warden.example.com"}, local) is not None
    assert foreign_request("GET", {"Host": "10.0.0.5:3001"}, local) is None


def test_a_port_80_listen_takes_a_host_without_a_port_and_ipv6_is_bracketed() -> None:
    assert foreign_request("GET", {"Host": "localhost"}, ("127.0.0.1", 80)) is None
    assert foreign_request("GET", {"Host": "localhost"}, ("127.0.0.1", 8080)) is not None
    assert foreign_request("GET", {}, ("127.0.0.1", 80)) is not None  # no Host at all
    assert foreign_request("GET", {"Host": "[::1]:9"}, ("::1", 9)) is None
    assert foreign_request("GET", {"Host": "::1:9"}, ("::1", 9)) is not None
