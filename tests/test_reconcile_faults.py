"""Nothing the app received is lost, under the app's real rules: the page confirms each message to
its server as it takes it, and the server never sends it again. `warden run` as a real process,
the strict simulator and a verifying receiver in this one; kill -9 of the runtime while messages
stream in, a browser living on it its place and taking messages, kill -9 of a browser right after
its receipts: every message reaches the receiver, in order, with `seq` gapless."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from actors.browser import DEFAULT_ARGS, BrowserTree
from actors.driver import Driver
from simulator import SimulatorServer
from tests.soak.receiver import WebhookReceiver
from tests.test_run import free_port, poll

pytestmark = pytest.mark.browser

WARDEN = str(Path(sys.executable).with_name("warden"))
SECRET = "whsec_ZGVtby1zZWNyZXQtZGVtby1zZWNyZXQtZGVtbw=="
SESSION = "acct-1"


def post(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


class World:
    """A simulator and a receiver here; `warden run` processes started and killed at will."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.state = tmp / "state"
        self.sim = SimulatorServer("127.0.0.1", 0)
        self.sim.start()
        self.receiver = WebhookReceiver(SECRET).start()
        self.http = free_port()
        self.config = tmp / "warden.yaml"
        self.config.write_text(
            f"state_dir: {self.state}\n"
            f"http: {{listen: 127.0.0.1:{self.http}}}\n"
            f"webhook: {{url: '{self.receiver.url}', secret: '{SECRET}'}}\n"
            f"sessions:\n  - {{id: {SESSION}, url: '{self.sim.url}/chat/{SESSION}'}}\n",
            encoding="utf-8")
        self.runs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"run{len(self.runs)}.log", "wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen([WARDEN, "run", "-c", str(self.config)], stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.runs.append(proc)
        poll(lambda: get(f"http://127.0.0.1:{self.http}/sessions/{SESSION}")["state"]
             == "healthy", 90, "the session to be healthy")
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """kill -9 of the runtime alone (not its process group: what it started lives on if it
        can)."""
        proc.kill()
        proc.wait(10)

    def push(self, body: str) -> None:
        post(f"{self.sim.url}/sim/{SESSION}/messages", {"from": "alice", "body": body})

    def sim_state(self) -> dict[str, Any]:
        return dict(get(f"{self.sim.url}/sim/{SESSION}"))

    def delivered(self) -> list[Any]:
        return [e for e in self.receiver.events()
                if e.session_id == SESSION and e.type == "message.received"]

    def close(self) -> None:
        for proc in self.runs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        for proc in psutil.process_iter(["cmdline"]):
            try:
                if any(str(self.state) in arg for arg in proc.info["cmdline"] or ()):
                    proc.kill()
            except psutil.Error:
                continue
        self.receiver.close()
        self.sim.stop()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.close()


def assert_all_delivered_in_order(world: World, bodies: list[str]) -> None:
    poll(lambda: {e.data["body"] for e in world.delivered()} >= set(bodies), 120,
         f"all {len(bodies)} messages at the receiver")
    events = world.delivered()
    first_seen: list[str] = []
    for event in sorted(events, key=lambda e: e.seq):
        if event.data["body"] not in first_seen:
            first_seen.append(event.data["body"])
    assert first_seen == bodies  # in the order the app received them
    seqs = sorted({e.seq for e in world.receiver.events() if e.session_id == SESSION})
    assert seqs == list(range(1, len(seqs) + 1))  # every event of the session, no gap


def test_kill_9_of_the_runtime_while_messages_stream_in_loses_none(world: World) -> None:
    """The runtime dies at message 100; a browser lives on in its place on the session's
    profile from message 200 and takes messages with receipts (the app never sends those again);
    it dies at 300; the rest wait on the server. After a restart, every one is delivered."""
    runtime = world.start()
    bodies = [f"stream {n:03d}" for n in range(400)]
    orphan = Driver("orphan")
    try:
        for n, body in enumerate(bodies):
            if n == 100:
                world.kill(runtime)
            elif n == 200:
                orphan.start()
                context = orphan.run(orphan.playwright.chromium.launch_persistent_context(
                    str(world.state / "profiles" / SESSION), executable_path="/usr/bin/chromium",
                    headless=True, args=list(DEFAULT_ARGS)), 60)
                orphan.run(context.pages[0].goto(f"{world.sim.url}/chat/{SESSION}"), 30)
            elif n == 300:
                poll(lambda: world.sim_state()["received"] >= 300, 30, "the orphan's receipts")
                tree = BrowserTree.find(world.state / "profiles" / SESSION)
                assert tree is not None
                tree.kill()
                poll(lambda tree=tree: not tree.alive(), 10, "the orphan to die")
            world.push(body)
    finally:
        orphan.stop()
    before = len(world.delivered())
    assert world.sim_state()["received"] >= 300 > before  # the app took what Warden never saw
    assert world.sim_state()["queued"] == 100  # and keeps the rest for the next connection
    world.start()
    assert_all_delivered_in_order(world, bodies)
    recovered = [e for e in world.delivered() if e.data.get("recovered")]
    assert len(recovered) >= 300 - before - 100  # at least what only the orphan took
    assert any(e.type == "session.reconciled" for e in world.receiver.events())


def test_a_browser_killed_right_after_its_receipts_loses_nothing(world: World) -> None:
    """The page's driver is frozen while the page takes 50 messages and confirms them to the
    app's server, so their events never leave it; then the browser and the driver are killed
    -9: the messages exist only in the app's store in the profile, and are delivered from
    there."""
    runtime = world.start()
    world.push("before")
    poll(lambda: len(world.delivered()) == 1, 30, "the first message")
    bodies = [f"frozen {n:02d}" for n in range(50)]
    drivers = [p for p in psutil.Process(runtime.pid).children()
               if "run-driver" in " ".join(p.cmdline())]
    assert len(drivers) == 1
    drivers[0].suspend()  # SIGSTOP: what the page says waits in a pipe nobody will read
    try:
        for body in bodies:
            world.push(body)
        poll(lambda: world.sim_state()["received"] == 51, 30, "the page's receipts")
        tree = BrowserTree.find(world.state / "profiles" / SESSION)
        assert tree is not None
        tree.kill()
    finally:
        drivers[0].kill()
    poll(lambda: not tree.alive(), 10, "the browser to die")
    assert_all_delivered_in_order(world, ["before", *bodies])
    assert [e for e in world.delivered() if e.data.get("recovered")]  # found in the store
