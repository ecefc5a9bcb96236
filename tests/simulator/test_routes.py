"""The simulator's routes over real HTTP and WebSockets on loopback: control API, pushes, acks,
faults, login."""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterator

import aiohttp
import pytest

from simulator import DEVICE_COOKIE, SimulatorServer, create_app
from tests.simulator.wire import page, post, run, state


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatorServer]:
    with SimulatorServer("127.0.0.1", 0) as running:
        yield running


@pytest.fixture
def sid() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def test_a_new_session_answers_with_the_contract_keys(server: SimulatorServer, sid: str) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        got = await state(http, server.url, sid)
        assert {k: got[k] for k in ("connections", "pushed", "acked", "unacked", "fault")} == {
            "connections": 0, "pushed": 0, "acked": 0, "unacked": 0, "fault": "none"}
        async with http.get(f"{server.url}/sim") as r:
            assert sid in [s["session"] for s in (await r.json())["sessions"]]

    run(scenario)


def test_the_chat_page_links_a_device_once_per_profile(server: SimulatorServer, sid: str) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        async with http.get(f"{server.url}/chat/{sid}") as r:
            assert (r.status, r.content_type) == (200, "text/html")
            assert "/static/chat.js" in await r.text()
            assert DEVICE_COOKIE in r.cookies
            device = r.cookies[DEVICE_COOKIE].value
        async with http.get(f"{server.url}/chat/{sid}") as r:
            assert DEVICE_COOKIE not in r.cookies
        async with page(http, server.url, sid) as p:
            assert (await p.frame())["device"] == device
        assert (await state(http, server.url, sid))["devices"] == 1

    run(scenario)


def test_the_page_script_is_served(server: SimulatorServer) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        async with http.get(f"{server.url}/static/chat.js") as r:
            assert r.status == 200 and "window.ChatStore" in await r.text()

    run(scenario)


def test_pushes_arrive_and_only_acks_count(server: SimulatorServer, sid: str) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        async with page(http, server.url, sid) as p:
            hello = await p.frame()
            assert (hello["type"], hello["state"], hello["session"]) == ("hello", "ready", sid)
            first = await post(http, f"{server.url}/sim/{sid}/messages",
                               {"from": "alice", "body": "one"})
            second = await post(http, f"{server.url}/sim/{sid}/messages",
                                {"from": "bob", "body": "two"})
            got = [await p.message(), await p.message()]
            assert [(m["id"], m["from"], m["body"], m["self"]) for m in got] == [
                (first["id"], "alice", "one", False), (second["id"], "bob", "two", False)]
            assert all(isinstance(m["timestamp"], float) for m in got)
            await p.send(type="ack", id=first["id"])
            await p.barrier()
            counts = await state(http, server.url, sid)
            assert (counts["pushed"], counts["acked"], counts["unacked"]) == (2, 1, 1)
            assert (counts["connections"], counts["echoes"]) == (1, 1)

    run(scenario)


def test_unacked_messages_are_redelivered_on_reconnect(server: SimulatorServer, sid: str) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        url = f"{server.url}/sim/{sid}/messages"
        async with page(http, server.url, sid) as p:
            await p.frame()
            acked = await post(http, url, {"from": "alice", "body": "one"})
            kept = await post(http, url, {"from": "alice", "body": "two"})
            await p.frames(2)
            await p.send(type="ack", id=acked["id"])
            await p.barrier()
        async with page(http, server.url, sid) as p:
            assert (await p.frame())["type"] == "hello"
            assert (await p.message())["id"] == kept["id"]
            marker = await post(http, url, {"from": "alice", "body": "three"})
            assert (await p.message())["id"] == marker["id"]  # nothing else came before it
        assert (await state(http, server.url, sid))["connections_total"] == 2

    run(scenario)


def test_a_message_pushed_with_no_page_open_waits_for_one(server: SimulatorServer,
                                                           sid: str) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        sent = await post(http, f"{server.url}/sim/{sid}/messages", {"from": "a", "body": "b"})
        async with page(http, server.url, sid) as p:
            await p.frame()
            assert (await p.message())["id"] == sent["id"]

    run(scenario)


def test_silent_keeps_the_socket_open_and_delivers_nothing(server: SimulatorServer,
                                                           sid: str) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        url = f"{server.url}/sim/{sid}"
        async with page(http, server.url, sid) as p:
            await p.frame()
            await post(http, f"{url}/fault", {"mode": "silent"})
            missed = await post(http, f"{url}/messages", {"from": "a", "body": "missed"})
            await p.send(type="send", body="lost echo")
            counts = await state(http, server.url, sid)
            assert (counts["connections"], counts["fault"]) == (1, "silent")
            await post(http, f"{url}/fault", {"mode": "none"})
            await p.send(type="send", body="heard")
            # Had anything crossed the silent socket, it would come before these two.
            first, second = await p.message(), await p.message()
            assert (first["id"], second["body"]) == (missed["id"], "heard")
            assert (await state(http, server.url, sid))["echoes"] == 1

    run(scenario)


def test_hang_and_leak_are_sent_to_the_page_and_a_reconnect_is_healthy(
        server: SimulatorServer, sid: str) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        url = f"{server.url}/sim/{sid}"
        async with page(http, server.url, sid) as p:
            await p.frame()
            await post(http, f"{url}/fault", {"mode": "leak"})
            leak = await p.frame()
            assert (leak["type"], leak["mode"]) == ("fault", "leak")
            assert leak["bytes_per_second"] > 0 and leak["cap_bytes"] > leak["bytes_per_second"]
            await post(http, f"{url}/fault", {"mode": "hang"})
            assert await p.frame() == {"type": "fault", "mode": "hang"}
            await p.send(type="fault_applied", mode="hang")
            await p.barrier()
            assert (await state(http, server.url, sid))["faults_applied"]["hang"] == 1
        async with page(http, server.url, sid) as p:
            await p.frame()
            await p.barrier()  # the first frame after hello is the echo, not a fault
        assert (await state(http, server.url, sid))["fault"] == "none"

    run(scenario)


def test_a_sticky_fault_hits_every_new_connection(server: SimulatorServer, sid: str) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        url = f"{server.url}/sim/{sid}"
        answer = await post(http, f"{url}/fault", {"mode": "hang", "sticky": True})
        assert (answer["fault"], answer["sticky"]) == ("hang", True)
        for _ in range(2):
            async with page(http, server.url, sid) as p:
                assert [f["type"] for f in await p.frames(2)] == ["hello", "fault"]
        await post(http, f"{url}/fault", {"mode": "none"})
        async with page(http, server.url, sid) as p:
            await p.frame()
            await p.barrier()

    run(scenario)


def test_logout_lasts_across_reconnects_until_login(server: SimulatorServer, sid: str) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        url = f"{server.url}/sim/{sid}"
        async with page(http, server.url, sid) as p:
            await p.frame()
            await post(http, f"{url}/fault", {"mode": "logout"})
            assert await p.frame() == {"type": "auth", "state": "auth_required"}
        waiting = await post(http, f"{url}/messages", {"from": "a", "body": "after login"})
        async with page(http, server.url, sid) as p:
            assert (await p.frame())["state"] == "auth_required"
            counts = await state(http, server.url, sid)
            assert (counts["logged_in"], counts["fault"]) == (False, "logout")
            answer = await post(http, f"{url}/login")
            assert answer["logged_in"] is True
            assert await p.frame() == {"type": "auth", "state": "ready"}
            assert (await p.message())["id"] == waiting["id"]

    run(scenario)


@pytest.mark.parametrize(("path", "raw", "error"), [
    ("messages", b"{not json", "JSON"),
    ("messages", b"[1, 2]", "object"),
    ("messages", b'{"body": "no sender"}', "from"),
    ("messages", b'{"from": "a", "body": 3}', "body"),
    ("fault", b'{"mode": "explode"}', "mode"),
    ("fault", b'{"mode": ["hang"]}', "mode"),
    ("fault", b'{"mode": "hang", "sticky": "yes"}', "sticky"),
])
def test_bad_input_is_a_400_that_says_why(server: SimulatorServer, sid: str, path: str,
                                          raw: bytes, error: str) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        answer = await post(http, f"{server.url}/sim/{sid}/{path}", raw=raw, status=400)
        assert error in answer["error"]
        assert (await state(http, server.url, sid))["pushed"] == 0

    run(scenario)


def test_a_body_that_cannot_be_decoded_or_nests_too_deep_is_400(server: SimulatorServer,
                                                                 sid: str) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        url = f"{server.url}/sim/{sid}/messages"
        message = json.dumps({"from": "a", "body": "x"}).encode()
        async with http.post(url, data=message, headers={"Content-Encoding": "gzip"}) as r:
            assert r.status == 400
            assert "cannot be read" in (await r.json())["error"]
        await post(http, url, raw=b"[" * 30_000 + b"]" * 30_000, status=400)
        assert (await state(http, server.url, sid))["pushed"] == 0
        async with http.post(url, data=gzip.compress(message),
                             headers={"Content-Encoding": "gzip"}) as r:
            assert r.status == 200
        assert (await state(http, server.url, sid))["pushed"] == 1

    run(scenario)


def test_a_malformed_session_id_is_not_found(server: SimulatorServer) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        for bad in ("a" * 65, "a.b"):
            async with http.get(f"{server.url}/sim/{bad}") as r:
                assert r.status == 404
                assert "error" in await r.json()
        async with http.delete(f"{server.url}/sim") as r:
            assert r.status == 405
            assert "error" in await r.json()
            assert "GET" in r.headers["Allow"]

    run(scenario)


def test_disconnect_drops_the_sockets_and_a_reconnect_heals_the_fault(server: SimulatorServer,
                                                                      sid: str) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        url = f"{server.url}/sim/{sid}"
        async with page(http, server.url, sid) as p:
            await p.frame()
            await post(http, f"{url}/fault", {"mode": "silent"})
            missed = await post(http, f"{url}/messages", {"from": "a", "body": "missed"})
            await post(http, f"{url}/disconnect")
            closing = await p.ws.receive(timeout=10)
            assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        async with page(http, server.url, sid) as p:
            assert (await p.frame())["type"] == "hello"
            assert (await p.message())["id"] == missed["id"]
            assert (await state(http, server.url, sid))["fault"] == "none"

    run(scenario)


def test_a_foreign_host_is_refused_so_a_rebound_name_reads_nothing(server: SimulatorServer,
                                                                   sid: str) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        for path in (f"/sim/{sid}", "/sim", f"/chat/{sid}"):
            for host in ("evil.example", f"evil.example:{server.port}",
                         f"127.0.0.1:{server.port + 1}"):
                async with http.get(server.url + path, headers={"Host": host}) as r:
                    assert r.status == 403
                    assert "Host" in (await r.json())["error"]
            async with http.get(server.url + path,
                                headers={"Host": f"localhost:{server.port}"}) as r:
                assert r.status == 200

    run(scenario)


def test_a_page_of_another_origin_can_neither_push_nor_open_the_socket(server: SimulatorServer,
                                                                       sid: str) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        url = f"{server.url}/sim/{sid}"
        for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                        {"Origin": f"http://127.0.0.1:{server.port + 1}"}):
            async with http.post(f"{url}/messages", json={"from": "a", "body": "x"},
                                 headers=headers) as r:
                assert r.status == 403 and "error" in await r.json()
            async with http.post(f"{url}/fault", json={"mode": "hang"}, headers=headers) as r:
                assert r.status == 403
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"{server.url}/chat/{sid}/ws", origin="http://evil.example")
        assert refused.value.status == 403
        assert (await state(http, server.url, sid))["pushed"] == 0
        assert (await state(http, server.url, sid))["fault"] == "none"
        async with http.post(f"{url}/messages", json={"from": "a", "body": "x"},
                             headers={"Origin": server.url}) as r:
            assert r.status == 200
        async with http.ws_connect(f"{server.url}/chat/{sid}/ws", origin=server.url) as ws:
            assert (await ws.receive_json(timeout=10))["type"] == "hello"

    run(scenario)


def test_a_failing_handler_answers_500_json_and_the_simulator_keeps_serving(sid: str) -> None:
    def broken_clock() -> float:
        raise RuntimeError("clock exploded")

    with SimulatorServer("127.0.0.1", 0, app_factory=lambda: create_app(broken_clock)) as broken:
        async def scenario(http: aiohttp.ClientSession) -> None:
            answer = await post(http, f"{broken.url}/sim/{sid}/messages",
                                {"from": "a", "body": "x"}, status=500)
            assert "exploded" not in answer["error"]
            assert (await state(http, broken.url, sid))["pushed"] == 0

        run(scenario)
