"""The simulator's routes over real HTTP and WebSockets on loopback: control API, pushes,
receipts, sends and acks, faults, login codes and scans."""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterator

import aiohttp
import pytest

from simulator import SimulatorServer, create_app
from tests.simulator.clock import FakeWall
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
        keys = ("connections", "pushed", "received", "queued", "fault", "logged_in", "qr")
        assert {k: got[k] for k in keys} == {
            "connections": 0, "pushed": 0, "received": 0, "queued": 0, "fault": "none",
            "logged_in": True, "qr": None}
        async with http.get(f"{server.url}/sim") as r:
            assert sid in [s["session"] for s in (await r.json())["sessions"]]

    run(scenario)


def test_the_chat_page_and_its_scripts_are_served(server: SimulatorServer, sid: str) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        async with http.get(f"{server.url}/chat/{sid}") as r:
            assert (r.status, r.content_type) == (200, "text/html")
            assert '<script type="module" src="/static/chat.js">' in await r.text()
        for name, needle in (("chat.js", "window.ChatStore ="), ("store.js", "class ChatStore"),
                             ("history.js", "indexedDB"), ("chat.css", "#qr")):
            async with http.get(f"{server.url}/static/{name}") as r:
                assert r.status == 200 and needle in await r.text()
        async with http.get(f"{server.url}/static/nope.js") as r:
            assert r.status == 404

    run(scenario)


def test_a_page_is_told_its_device_and_is_that_device_when_it_comes_back(
        server: SimulatorServer, sid: str) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        async with page(http, server.url, sid) as p:
            device = (await p.frame())["device"]
        async with page(http, server.url, sid, device) as p:
            assert await p.frame() == {"type": "hello", "session": sid, "device": device,
                                       "state": "connected"}
        assert (await state(http, server.url, sid))["devices"] == 1

    run(scenario)


def test_pushes_arrive_and_receipts_count(server: SimulatorServer, sid: str) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        async with page(http, server.url, sid) as p:
            await p.frame()
            first = await post(http, f"{server.url}/sim/{sid}/messages",
                               {"from": "alice", "body": "one"})
            second = await post(http, f"{server.url}/sim/{sid}/messages",
                                {"from": "bob", "body": "two"})
            got = [await p.message(), await p.message()]
            assert [(m["id"], m["from"], m["body"], m["self"]) for m in got] == [
                (first["id"], "alice", "one", False), (second["id"], "bob", "two", False)]
            assert all(isinstance(m["timestamp"], float) for m in got)
            await p.receipt(first["id"])
            await p.barrier()
            counts = await state(http, server.url, sid)
            assert (counts["pushed"], counts["received"], counts["queued"]) == (2, 1, 1)
            assert (counts["connections"], counts["sent"]) == (1, 1)

    run(scenario)


def test_a_device_is_sent_again_only_what_it_has_not_confirmed(server: SimulatorServer,
                                                               sid: str) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        url = f"{server.url}/sim/{sid}/messages"
        async with page(http, server.url, sid) as p:
            device = (await p.frame())["device"]
            confirmed = await post(http, url, {"from": "alice", "body": "one"})
            kept = await post(http, url, {"from": "alice", "body": "two"})
            await p.frames(2)
            await p.receipt(confirmed["id"])
            await p.barrier()
        async with page(http, server.url, sid, device) as p:
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
        assert (await state(http, server.url, sid))["queued"] == 1
        async with page(http, server.url, sid) as p:
            await p.frame()
            assert (await p.message())["id"] == sent["id"]

    run(scenario)


def test_a_send_is_acked_by_the_server_and_reaches_the_other_device(server: SimulatorServer,
                                                                    sid: str) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        async with page(http, server.url, sid) as sender, page(http, server.url, sid) as other:
            await sender.frame()
            await other.frame()
            await sender.send(type="send", id="own-1", body="note", timestamp=1.5)
            assert await sender.frames(2) == [{"type": "ack", "id": "own-1", "ack": 1},
                                              {"type": "ack", "id": "own-1", "ack": 2}]
            assert await other.message() == {"id": "own-1", "from": "me", "body": "note",
                                             "timestamp": 1.5, "self": True}

    run(scenario)


def test_silent_keeps_the_socket_open_and_delivers_nothing(server: SimulatorServer,
                                                           sid: str) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        url = f"{server.url}/sim/{sid}"
        async with page(http, server.url, sid) as p:
            await p.frame()
            await post(http, f"{url}/fault", {"mode": "silent"})
            missed = await post(http, f"{url}/messages", {"from": "a", "body": "missed"})
            await p.send(type="send", id="unheard", body="lost", timestamp=1.0)
            counts = await state(http, server.url, sid)
            assert (counts["connections"], counts["fault"], counts["queued"]) == (1, "silent", 1)
            await post(http, f"{url}/fault", {"mode": "none"})
            # Had anything crossed the silent socket, it would come before these.
            assert (await p.frame())["type"] == "hello"
            assert (await p.message())["id"] == missed["id"]
            await p.barrier()
            counts = await state(http, server.url, sid)
            assert (counts["sent"], counts["unheard"]) == (1, 1)

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
            await p.barrier()  # the first frame after hello is the ack, not a fault
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
            device = (await p.frame())["device"]
            answer = await post(http, f"{url}/fault", {"mode": "logout"})
            assert await p.frame() == {"type": "auth", "state": "auth_required"}
            code = await p.frame()
            assert (code["type"], code["qr"], code["expires_at"]) == (
                "qr", answer["qr"], answer["qr_expires_at"])
        waiting = await post(http, f"{url}/messages", {"from": "a", "body": "after login"})
        async with page(http, server.url, sid, device) as p:
            assert (await p.frame())["state"] == "auth_required"
            assert (await p.frame())["qr"] == code["qr"]
            counts = await state(http, server.url, sid)
            assert (counts["logged_in"], counts["fault"], counts["qr"]) == (
                False, "logout", code["qr"])
            answer = await post(http, f"{url}/login")
            assert (answer["logged_in"], answer["qr"]) == (True, None)
            assert await p.frame() == {"type": "auth", "state": "connected"}
            assert (await p.message())["id"] == waiting["id"]

    run(scenario)


def test_a_scan_of_the_code_shown_now_logs_in_and_anything_else_is_409(
        server: SimulatorServer, sid: str) -> None:
    async def scenario(http: aiohttp.ClientSession) -> None:
        url = f"{server.url}/sim/{sid}"
        refused = await post(http, f"{url}/scan", {"qr": "2@x,a,b,c,WEB"}, status=409)
        assert "logged in" in refused["error"]
        async with page(http, server.url, sid) as p:
            await p.frame()
            shown = (await post(http, f"{url}/fault", {"mode": "logout"}))["qr"]
            assert [f["type"] for f in await p.frames(2)] == ["auth", "qr"]
            wrong = await post(http, f"{url}/scan", {"qr": shown + "x"}, status=409)
            assert "not a QR code" in wrong["error"]
            answer = await post(http, f"{url}/scan", {"qr": shown})
            assert (answer["logged_in"], answer["qr"], answer["fault"]) == (True, None, "none")
            assert await p.frame() == {"type": "auth", "state": "connected"}

    run(scenario)


def test_the_code_rotates_by_itself_and_pages_are_sent_each_new_one(sid: str) -> None:
    with SimulatorServer(app_factory=lambda: create_app(qr_interval=0.2)) as fast:
        async def scenario(http: aiohttp.ClientSession) -> None:
            async with page(http, fast.url, sid) as p:
                await p.frame()
                await post(http, f"{fast.url}/sim/{sid}/fault", {"mode": "logout"})
                assert (await p.frame())["type"] == "auth"
                codes = [await p.frame() for _ in range(3)]
                assert [c["type"] for c in codes] == ["qr"] * 3
                assert len({c["qr"] for c in codes}) == 3
                steps = (codes[1]["expires_at"] - codes[0]["expires_at"]) / 0.2
                assert round(steps) >= 1 and steps == pytest.approx(round(steps))  # whole intervals
                stale = await post(http, f"{fast.url}/sim/{sid}/scan", {"qr": codes[0]["qr"]},
                                   status=409)
                assert "expired" in stale["error"]

        run(scenario)


def test_a_code_that_expired_is_replaced_on_the_pages_as_soon_as_anyone_looks(sid: str) -> None:
    wall = FakeWall(1_800_000_000.0)
    with SimulatorServer(app_factory=lambda: create_app(wall)) as frozen:
        async def scenario(http: aiohttp.ClientSession) -> None:
            url = f"{frozen.url}/sim/{sid}"
            async with page(http, frozen.url, sid) as p:
                await p.frame()
                first = (await post(http, f"{url}/fault", {"mode": "logout"}))["qr"]
                await p.frames(2)
                wall.advance(20.0)
                second = (await state(http, frozen.url, sid))["qr"]
                assert second != first
                assert (await p.frame())["qr"] == second
                await post(http, f"{url}/scan", {"qr": first}, status=409)
                await post(http, f"{url}/scan", {"qr": second})

        run(scenario)


@pytest.mark.parametrize(("path", "raw", "error"), [
    ("messages", b"{not json", "JSON"),
    ("messages", b"[1, 2]", "object"),
    ("messages", b'{"body": "no sender"}', "from"),
    ("messages", b'{"from": "a", "body": 3}', "body"),
    ("fault", b'{"mode": "explode"}', "mode"),
    ("fault", b'{"mode": ["hang"]}', "mode"),
    ("fault", b'{"mode": "hang", "sticky": "yes"}', "sticky"),
    ("scan", b'{}', "qr"),
    ("scan", b'{"qr": 7}', "qr"),
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
            device = (await p.frame())["device"]
            await post(http, f"{url}/fault", {"mode": "silent"})
            missed = await post(http, f"{url}/messages", {"from": "a", "body": "missed"})
            await post(http, f"{url}/disconnect")
            closing = await p.ws.receive(timeout=10)
            assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        async with page(http, server.url, sid, device) as p:
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
