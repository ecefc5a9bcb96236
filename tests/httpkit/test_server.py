"""An app server bounds what clients hold: header, idle and body deadlines, a connection cap,
and a log that does not repeat itself, over real sockets (and real descriptor limits in a child
process)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from httpkit import AppServer, Limits, ListenError, bind_listen, json_errors, read_body
from httpkit import guard as guard_module
from tests.helpers import wait_until


def app() -> web.Application:
    async def ping(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def echo(request: web.Request) -> web.Response:
        return web.json_response({"length": len(await read_body(request))})

    application = web.Application(middlewares=[json_errors(max_body=1024, log_hint="the log")])
    application.router.add_get("/ping", ping)
    application.router.add_post("/echo", echo)
    return application


@contextlib.contextmanager
def serving(**limits: float) -> Iterator[AppServer]:
    server = AppServer(app, "127.0.0.1", 0, name="test-server",
                       limits=Limits(**limits)).start()  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


def connect(server: AppServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=5)


def read_until_closed(sock: socket.socket, timeout: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and when it closed (monotonic)."""
    sock.settimeout(timeout)
    got = b""
    while True:
        try:
            chunk = sock.recv(4096)
        except ConnectionResetError:
            return got, time.monotonic()
        if not chunk:
            return got, time.monotonic()
        got += chunk


PING = b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def test_a_header_sent_a_byte_at_a_time_is_cut_at_the_header_deadline() -> None:
    with serving(header_timeout=0.5, idle_timeout=30.0) as server, connect(server) as sock:
        began = time.monotonic()
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        sock.settimeout(0.1)
        closed = b""
        while time.monotonic() - began < 5.0:  # a byte every 0.1 s: never idle, never done
            try:
                sock.sendall(b"X")
                closed = sock.recv(4096)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            break
        took = time.monotonic() - began
        assert closed.startswith(b"HTTP/1.1 408 "), closed
        assert 0.4 <= took < 2.0, took
        assert server.guard is not None and server.guard.timed_out == 1


def test_a_connection_that_sends_nothing_is_closed_at_the_idle_deadline() -> None:
    with serving(header_timeout=5.0, idle_timeout=0.5) as server, connect(server) as sock:
        began = time.monotonic()
        got, closed_at = read_until_closed(sock, 5.0)
        assert got == b"" and 0.4 <= closed_at - began < 2.0
        wait_until(lambda: server.guard is not None and server.guard.connections == 0, 5.0)
        assert server.guard is not None and server.guard.connections == 0


def test_a_kept_alive_connection_is_served_again_and_then_closed_when_idle() -> None:
    with serving(header_timeout=5.0, idle_timeout=0.5) as server, connect(server) as sock:
        for _ in range(3):
            sock.sendall(PING)
            assert sock.recv(4096).startswith(b"HTTP/1.1 200 OK")
        began = time.monotonic()
        got, closed_at = read_until_closed(sock, 5.0)
        assert got == b"" and closed_at - began < 2.0


def test_a_body_that_does_not_arrive_is_answered_408() -> None:
    with serving(body_timeout=0.5) as server, connect(server) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n"
                     b"0123456789")
        began = time.monotonic()
        got, closed_at = read_until_closed(sock, 5.0)
        assert got.startswith(b"HTTP/1.1 408 "), got
        assert b"did not arrive within 0.5s" in got
        assert closed_at - began < 3.0


def test_connections_over_the_cap_are_refused_and_a_freed_place_is_served_again() -> None:
    with serving(max_connections=4, idle_timeout=30.0) as server:
        held = [connect(server) for _ in range(4)]
        try:
            assert wait_until(lambda: server.guard is not None
                              and server.guard.connections == 4, 5.0)
            with connect(server) as over:
                got, _ = read_until_closed(over, 5.0)
            assert got.startswith(b"HTTP/1.1 503 "), got
            assert b"too many connections" in got
            held.pop().close()
            assert wait_until(lambda: server.guard is not None
                              and server.guard.connections == 3, 5.0)
            with connect(server) as again:
                again.sendall(PING)
                assert again.recv(4096).startswith(b"HTTP/1.1 200 OK")
        finally:
            for sock in held:
                sock.close()
        assert server.guard is not None and server.guard.refused == 1


@pytest.mark.parametrize(("soft", "cap"), [(64, 16), (1024, 128), (2048, 256), (1 << 20, 1024)])
def test_the_default_cap_is_an_eighth_of_the_descriptor_limit(
        monkeypatch: pytest.MonkeyPatch, soft: int, cap: int) -> None:
    monkeypatch.setattr(guard_module.resource, "getrlimit", lambda _: (soft, soft))
    assert guard_module.default_max_connections() == cap


def test_a_taken_address_fails_at_once_naming_the_address_and_the_cause() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ListenError) as info:
            bind_listen("127.0.0.1", port)
        assert str(info.value) == f"cannot listen on 127.0.0.1:{port}: address already in use"
        server = AppServer(app, "127.0.0.1", port, name="late")
        with pytest.raises(ListenError):
            server.start()


def test_a_server_on_a_given_socket_leaves_it_open_for_the_next_one() -> None:
    sock = bind_listen("127.0.0.1", 0)
    try:
        port = sock.getsockname()[1]
        for _ in range(2):  # as a restarted front does
            server = AppServer(app, "127.0.0.1", 0, name="on-socket", sock=sock).start()
            try:
                assert server.port == port
                with connect(server) as conn:
                    conn.sendall(PING)
                    assert conn.recv(4096).startswith(b"HTTP/1.1 200 OK")
            finally:
                server.stop()
    finally:
        sock.close()


# --- in a child process with a small descriptor limit ------------------------------------------

CHILD = r"""
import logging, os, resource, sys
from aiohttp import web
from httpkit import AppServer, Limits
from tests.httpkit.test_server import app

limit, cap = int(sys.argv[1]), sys.argv[2]
resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
server = AppServer(app, "127.0.0.1", 0, name="flooded", limits=Limits(
    max_connections=None if cap == "default" else int(cap), idle_timeout=60.0)).start()
print(server.port, server.guard.max_connections, flush=True)
for line in sys.stdin:
    command = line.strip()
    if command == "files":
        opened = []
        try:
            while len(opened) < limit // 2:
                opened.append(open(os.devnull))
            print("ok", len(opened), flush=True)
        except OSError as exc:
            print("failed", exc.errno, flush=True)
        finally:
            for handle in opened:
                handle.close()
    elif command == "held":
        print(server.loop_errors.log.held_back("socket.accept() out of system resource"),
              flush=True)
server.stop()
"""


@contextlib.contextmanager
def child(tmp_path: Path, limit: int, cap: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    log = (tmp_path / "child.log").open("w")
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(limit), cap], text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                            cwd=Path(__file__).resolve().parents[2])
    try:
        assert proc.stdout is not None
        port, _ = proc.stdout.readline().split()
        yield proc, int(port)
    finally:
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def ask(proc: subprocess.Popen[str], command: str) -> str:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(command + "\n")
    proc.stdin.flush()
    return proc.stdout.readline().strip()


def test_a_connection_flood_leaves_the_process_its_descriptors(tmp_path: Path) -> None:
    with child(tmp_path, 256, "default") as (proc, port):
        held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(32)]
        try:
            for _ in range(300):  # every connection over the cap is answered and closed
                with socket.create_connection(("127.0.0.1", port), timeout=5) as over:
                    got, _ = read_until_closed(over, 5.0)
                    assert got.startswith(b"HTTP/1.1 503 "), got
            assert ask(proc, "files") == "ok 128"  # what a browser relaunch needs is there
        finally:
            for sock in held:
                sock.close()
    log = (tmp_path / "child.log").read_text()
    assert "Traceback" not in log and log.count("refusing more") == 1, log


def test_accept_failing_for_want_of_descriptors_is_logged_once_a_minute(tmp_path: Path) -> None:
    with child(tmp_path, 64, "1000") as (proc, port):  # a cap above the limit: accept fails
        flood = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(100)]
        try:
            # asyncio keeps retrying accept: repeats are held back, none written
            assert wait_until(lambda: int(ask(proc, "held")) >= 2, 15.0, step=0.2)
        finally:
            for sock in flood:
                sock.close()
    log = (tmp_path / "child.log").read_text()
    assert log.count("out of system resource") == 1, log
    assert "Traceback" not in log and len(log) < 2000
