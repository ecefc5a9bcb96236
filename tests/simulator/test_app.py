"""The simulator's entry points: the embedded server's lifecycle and `warden sim`."""

from __future__ import annotations

import asyncio
import select
import signal
import socket
import subprocess
import sys

import aiohttp
import pytest

from simulator import SimulatorServer, serve
from tests.simulator.wire import page, run, state


def test_stop_closes_open_pages_and_frees_the_port() -> None:
    simulator = SimulatorServer()
    simulator.start()

    async def scenario(http: aiohttp.ClientSession) -> None:
        async with page(http, simulator.url, "s") as p:
            await p.frame()
            await asyncio.to_thread(simulator.stop)
            closing = await p.ws.receive(timeout=10)
            assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        with pytest.raises(aiohttp.ClientConnectionError):
            async with http.get(f"{simulator.url}/sim/s"):
                pass

    run(scenario)


def test_warden_sim_serves_until_sigterm() -> None:
    process = subprocess.Popen([sys.executable, "-m", "warden", "sim", "--listen", "127.0.0.1:0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 30)
        assert ready, "warden sim printed nothing"
        line = process.stdout.readline()
        assert "listening on http://127.0.0.1:" in line, line
        base = line.split("listening on ")[1].split("/chat/")[0]

        async def scenario(http: aiohttp.ClientSession) -> None:
            assert (await state(http, base, "cli"))["connections"] == 0

        run(scenario)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_a_port_in_use_is_an_error_and_leaves_nothing_running(
        capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError):
            SimulatorServer("127.0.0.1", port).start()
        assert serve("127.0.0.1", port) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "example.com"])
def test_the_simulator_listens_on_loopback_only(host: str) -> None:
    with pytest.raises(ValueError, match="loopback only"):
        SimulatorServer(host, 0)
    with pytest.raises(ValueError, match="loopback only"):
        serve(host, 0)
