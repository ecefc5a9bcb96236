"""SimulatorAdapter against real Chromium and the strict simulator: the hook forwards new inbound
messages and server acks (never history, never the local copy of a send), history is read back
from the store, and the screens map to the states the session acts on.

The adapter's coroutines run on a `Driver` (Playwright's async API on a loop thread); the test
thread waits on each with `run`. The session's event binding is installed here as the session
installs it (a raw CDP binding), and its calls go to the adapter's `page_event`."""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.request
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.async_api import BrowserContext, Error, Page

from actors.adapters import AuthState, InboundMessage, load_adapter
from actors.adapters.simulator import SimulatorAdapter
from actors.canary import CANARY_PREFIX
from actors.driver import Driver
from bench.bench_simulator import hooked
from simulator import SimulatorServer
from tests.helpers import wait_until

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
T = TypeVar("T")
DRIVER: Driver | None = None


class Sink:
    """Records what the adapter hands over, as the session would receive it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[InboundMessage] = []
        self.acks: list[tuple[str, int]] = []
        self.skips: list[str] = []

    def message(self, message: InboundMessage) -> None:
        with self.lock:
            self.messages.append(message)

    def acked(self, message_id: str, ack: int) -> None:
        with self.lock:
            self.acks.append((message_id, ack))

    def skipped(self, detail: str) -> None:
        with self.lock:
            self.skips.append(detail)

    def login_code(self, payload: str | None, expires_at: float | None) -> None:
        pass

    def app_state(self, state: str) -> None:
        pass


class Sim:
    """The simulator's control API, from the test thread."""

    def __init__(self, url: str) -> None:
        self.url = url

    def post(self, path: str, body: Any = None) -> dict[str, Any]:
        request = urllib.request.Request(f"{self.url}{path}", data=json.dumps(body or {}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            answer: dict[str, Any] = json.load(response)
            return answer

    def get(self, path: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as response:
            answer: dict[str, Any] = json.load(response)
            return answer


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run one of Playwright's or the adapter's coroutines on the module's driver loop."""
    assert DRIVER is not None
    return DRIVER.run(coro, timeout)


def poll(predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
    return wait_until(predicate, timeout)


def launch(profile: Path) -> BrowserContext:
    assert DRIVER is not None
    return run(DRIVER.playwright.chromium.launch_persistent_context(
        profile, executable_path=CHROMIUM, headless=True, args=ARGS))


@pytest.fixture(scope="module", autouse=True)
def driver() -> Iterator[Driver]:
    global DRIVER
    DRIVER = Driver("test-simulator-adapter").start()
    yield DRIVER
    DRIVER.stop()
    DRIVER = None


@pytest.fixture(scope="module")
def sim() -> Iterator[Sim]:
    with SimulatorServer("127.0.0.1", 0) as server:
        yield Sim(server.url)


@pytest.fixture
def sid() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[BrowserContext]:
    """A fresh profile each test: the simulator's store lives in it."""
    context = launch(tmp_path / "profile")
    yield context
    with contextlib.suppress(Error):
        run(context.close())


def opened(browser: BrowserContext, sim: Sim, sid: str) -> tuple[SimulatorAdapter, Page, Sink]:
    adapter = SimulatorAdapter(sid, f"{sim.url}/chat/{sid}")
    sink = Sink()
    page = run(hooked(browser, adapter, sink))
    run(adapter.open(page, timeout=15))
    return adapter, page, sink


def canary(adapter: SimulatorAdapter, page: Page, sink: Sink) -> str:
    """Send a canary and wait for its server ack; its message id."""
    message_id = run(adapter.send_canary(page, CANARY_PREFIX + uuid.uuid4().hex))
    assert poll(lambda: (message_id, 1) in sink.acks), f"no server ack: {sink.acks}"
    return message_id


def test_the_simulator_is_the_builtin_adapter() -> None:
    assert load_adapter("simulator") is SimulatorAdapter
    assert SimulatorAdapter.name == "simulator"


def test_open_returns_on_the_main_screen(browser: BrowserContext, sim: Sim, sid: str) -> None:
    adapter, page, _ = opened(browser, sim, sid)
    assert run(adapter.auth_state(page)) is AuthState.READY
    assert sim.get(f"/sim/{sid}")["connections"] == 1


def test_new_inbound_messages_reach_the_sink_and_the_server_has_its_receipts(
        browser: BrowserContext, sim: Sim, sid: str) -> None:
    early = sim.post(f"/sim/{sid}/messages", {"from": "alice", "body": "before the page"})
    _, _, sink = opened(browser, sim, sid)
    late = sim.post(f"/sim/{sid}/messages", {"from": "bob", "body": "after"})
    assert poll(lambda: len(sink.messages) == 2)
    by_id = {m.id: m for m in sink.messages}
    assert (by_id[early["id"]].sender, by_id[early["id"]].body) == ("alice", "before the page")
    assert (by_id[late["id"]].sender, by_id[late["id"]].body) == ("bob", "after")
    assert all(m.timestamp > 1_500_000_000 and not m.data for m in sink.messages)
    assert poll(lambda: sim.get(f"/sim/{sid}")["received"] == 2)  # receipts, whatever we did


def test_a_canary_is_proven_by_the_server_ack_and_never_by_the_local_copy(
        browser: BrowserContext, sim: Sim, sid: str) -> None:
    adapter, page, sink = opened(browser, sim, sid)
    message_id = canary(adapter, page, sink)
    assert sink.messages == []  # a message to ourselves is not inbound
    assert next(a for a in sink.acks if a[0] == message_id) == (message_id, 1)
    sim.post(f"/sim/{sid}/fault", {"mode": "silent"})
    deaf = run(adapter.send_canary(page, CANARY_PREFIX + "deaf"))
    shown = run(page.evaluate("(id) => window.ChatStore.messages().find(m => m.id === id)",
                              deaf))
    assert shown["ack"] == 0 and shown["self"]  # the page shows it at once, acked 0...
    assert not poll(lambda: any(i == deaf for i, _ in sink.acks), timeout=1.5)  # ...no ack


def test_history_gives_inbound_messages_newer_than_a_time_oldest_first(
        browser: BrowserContext, sim: Sim, sid: str) -> None:
    adapter, page, sink = opened(browser, sim, sid)
    pushed = [sim.post(f"/sim/{sid}/messages", {"from": "a", "body": str(n)}) for n in range(5)]
    assert poll(lambda: len(sink.messages) == 5)
    canary(adapter, page, sink)  # a message of our own: never in the history of inbound ones
    everything = run(adapter.history(page, 0.0, 100))
    assert [m.id for m in everything] == [p["id"] for p in pushed]
    third = everything[2].timestamp
    assert [m.body for m in run(adapter.history(page, third, 100))] == [
        m.body for m in everything if m.timestamp > third]
    assert len(run(adapter.history(page, 0.0, 2))) == 2


def test_history_survives_a_browser_killed_after_its_receipts(tmp_path: Path, sim: Sim,
                                                              sid: str) -> None:
    """The page confirmed the messages to the server: they are never sent again; the store in
    the profile is where they are found after a kill -9 of the browser."""
    profile = tmp_path / "profile"
    context = launch(profile)
    adapter, _, sink = opened(context, sim, sid)
    for n in range(3):
        sim.post(f"/sim/{sid}/messages", {"from": "a", "body": f"before the kill {n}"})
    assert poll(lambda: sim.get(f"/sim/{sid}")["received"] == 3)
    from actors.browser import BrowserTree

    tree = BrowserTree.find(profile)
    assert tree is not None
    tree.kill()
    assert poll(lambda: not tree.alive())
    with contextlib.suppress(Error):
        run(context.close())
    again = launch(profile)
    try:
        adapter, page, sink = opened(again, sim, sid)
        assert sink.messages == []  # nothing new: the server never sends them again
        assert [m.body for m in run(adapter.history(page, 0.0, 100))] == [
            f"before the kill {n}" for n in range(3)]
    finally:
        with contextlib.suppress(Error):
            run(again.close())


def test_logout_shows_the_login_screen_and_login_comes_back(browser: BrowserContext, sim: Sim,
                                                            sid: str) -> None:
    adapter, page, _ = opened(browser, sim, sid)
    sim.post(f"/sim/{sid}/fault", {"mode": "logout"})
    assert poll(lambda: run(adapter.auth_state(page)) is AuthState.AUTH_REQUIRED)
    sim.post(f"/sim/{sid}/login")
    assert poll(lambda: run(adapter.auth_state(page)) is AuthState.READY)


def test_open_returns_on_the_login_screen_of_a_logged_out_session(
        browser: BrowserContext, sim: Sim, sid: str) -> None:
    sim.post(f"/sim/{sid}/fault", {"mode": "logout"})
    adapter, page, _ = opened(browser, sim, sid)
    assert run(adapter.auth_state(page)) is AuthState.AUTH_REQUIRED


def test_a_page_that_lost_its_server_says_offline_and_ready_again_once_back(
        browser: BrowserContext, sid: str, tmp_path: Path) -> None:
    server = SimulatorServer("127.0.0.1", 0)
    server.start()
    port = server.port
    adapter, page, _ = opened(browser, Sim(server.url), sid)
    server.stop()
    assert poll(lambda: run(adapter.auth_state(page)) is AuthState.OFFLINE)
    back = SimulatorServer("127.0.0.1", port)
    back.start()
    try:
        assert poll(lambda: run(adapter.auth_state(page)) is AuthState.READY, timeout=20)
    finally:
        back.stop()


def test_unreadable_page_events_are_skipped_and_counted_never_raised() -> None:
    adapter, sink = SimulatorAdapter("s", "http://127.0.0.1:1/chat/s"), Sink()
    for payload in ("not json", "[]", '{"kind": "bogus"}', '{"kind": "message"}',
                    '{"kind": "message", "message": {"id": "x", "from": "a", "body": 1,'
                    ' "timestamp": 1}}', '{"kind": "ack", "id": 5, "ack": 1}'):
        adapter.page_event(payload, sink)
    assert len(sink.skips) == 6 and sink.messages == [] and sink.acks == []
    adapter.page_event('{"kind": "message", "message": {"id": "x", "from": "a", "body": "b",'
                       ' "timestamp": 1.5}}', sink)
    assert [(m.id, m.body, m.timestamp) for m in sink.messages] == [("x", "b", 1.5)]


def test_hang_blocks_the_page_until_the_browser_is_killed(tmp_path: Path, sim: Sim,
                                                         sid: str) -> None:
    profile = tmp_path / "profile"
    context = launch(profile)
    try:
        adapter, page, _ = opened(context, sim, sid)
        sim.post(f"/sim/{sid}/fault", {"mode": "hang"})
        assert poll(lambda: sim.get(f"/sim/{sid}")["faults_applied"]["hang"] == 1)
        from actors.browser import BrowserTree

        tree = BrowserTree.find(profile)
        assert tree is not None
        watchdog = threading.Timer(1.0, tree.kill)
        watchdog.start()
        try:
            with pytest.raises(Error):
                run(adapter.auth_state(page))
        finally:
            watchdog.cancel()
            watchdog.join()
    finally:
        with contextlib.suppress(Error):
            run(context.close())
