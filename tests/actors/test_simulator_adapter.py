"""SimulatorAdapter against real Chromium and a real simulator: the hook forwards messages and
canary echoes, acks only what the sink committed, and every fault shows as it should.

The adapter's coroutines run on a `Driver` (Playwright's async API on a loop thread); the test
thread waits on each with `run`, and page events arrive while it waits on anything else."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest
from playwright.async_api import BrowserContext, Error, Page

from actors.adapters import AuthState, InboundMessage, load_adapter
from actors.adapters.simulator import CANARY_PREFIX, SimulatorAdapter
from actors.driver import Driver
from simulator import SimulatorServer

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
MiB = 2**20
T = TypeVar("T")


class Sink:
    """Records what the adapter hands over; `commit` says whether messages are accepted."""

    def __init__(self) -> None:
        self.commit = True
        self.messages: list[InboundMessage] = []
        self.echoes: list[str] = []

    async def message(self, message: InboundMessage) -> bool:
        self.messages.append(message)
        return self.commit

    def canary_echo(self, token: str) -> None:
        self.echoes.append(token)


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


def poll(predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


DRIVER: Driver | None = None


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run one of Playwright's or the adapter's coroutines on the module's driver loop."""
    assert DRIVER is not None
    return DRIVER.run(coro, timeout)


def launch(profile: Path) -> BrowserContext:
    assert DRIVER is not None
    return run(DRIVER.playwright.chromium.launch_persistent_context(
        profile, executable_path=CHROMIUM, headless=True, args=ARGS))


def browser_process(profile: Path) -> psutil.Process:
    """The Chromium main process running on `profile` (a child of our Playwright driver)."""
    flag = f"--user-data-dir={profile}"
    for process in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            cmdline = process.cmdline()
            if flag in cmdline and not any(a.startswith("--type=") for a in cmdline):
                return process
    raise LookupError(f"no browser on {profile}")


def tree_pss(main: psutil.Process) -> int:
    total = 0
    for process in [main, *main.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += process.memory_full_info().pss
    return total


@pytest.fixture(scope="module")
def sim() -> Iterator[Sim]:
    with SimulatorServer("127.0.0.1", 0) as server:
        yield Sim(server.url)


@pytest.fixture(scope="module", autouse=True)
def driver() -> Iterator[Driver]:
    global DRIVER
    DRIVER = Driver("test-simulator-adapter").start()
    yield DRIVER
    DRIVER.stop()
    DRIVER = None


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("profile")


@pytest.fixture(scope="module")
def browser(driver: Driver, profile: Path) -> Iterator[BrowserContext]:
    context = launch(profile)
    yield context
    run(context.close())


@pytest.fixture
def sid() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    fresh = run(browser.new_page())
    yield fresh
    run(fresh.close())


def opened(page: Page, sim: Sim, sid: str) -> tuple[SimulatorAdapter, Sink]:
    adapter = SimulatorAdapter(sid, f"{sim.url}/chat/{sid}")
    sink = Sink()
    run(adapter.attach(page, sink))
    run(adapter.open(page, timeout=15))
    return adapter, sink


def canary_round_trip(adapter: SimulatorAdapter, page: Page, sink: Sink) -> str:
    """Send a canary and wait for its echo: every ack the page sent before has reached the sim."""
    token = uuid.uuid4().hex
    run(adapter.send_canary(page, token))
    assert poll(lambda: token in sink.echoes), "canary echo never came"
    return token


def test_the_simulator_is_the_builtin_adapter() -> None:
    assert load_adapter("simulator") is SimulatorAdapter
    assert SimulatorAdapter.name == "simulator"


def test_open_returns_on_the_main_screen(page: Page, sim: Sim, sid: str) -> None:
    adapter, _ = opened(page, sim, sid)
    assert run(adapter.auth_state(page)) == AuthState.READY
    assert sim.get(f"/sim/{sid}")["connections"] == 1
    run(adapter.probe(page))


def test_messages_reach_the_sink_and_are_acked_after_commit(page: Page, sim: Sim,
                                                            sid: str) -> None:
    early = sim.post(f"/sim/{sid}/messages", {"from": "alice", "body": "before the page"})
    adapter, sink = opened(page, sim, sid)
    late = sim.post(f"/sim/{sid}/messages", {"from": "bob", "body": "after"})
    assert poll(lambda: len(sink.messages) == 2)
    by_id = {m.id: m for m in sink.messages}
    assert (by_id[early["id"]].sender, by_id[early["id"]].body) == ("alice", "before the page")
    assert (by_id[late["id"]].sender, by_id[late["id"]].body) == ("bob", "after")
    assert all(m.timestamp > 1_500_000_000 for m in sink.messages)
    canary_round_trip(adapter, page, sink)
    state = sim.get(f"/sim/{sid}")
    assert (state["pushed"], state["acked"], state["unacked"]) == (2, 2, 0)


def test_a_refused_message_stays_unacked_and_comes_back_after_reload(page: Page, sim: Sim,
                                                                     sid: str) -> None:
    adapter, sink = opened(page, sim, sid)
    sink.commit = False
    refused = sim.post(f"/sim/{sid}/messages", {"from": "alice", "body": "not yet"})
    assert poll(lambda: len(sink.messages) == 1)
    canary_round_trip(adapter, page, sink)
    assert (sim.get(f"/sim/{sid}")["acked"], sim.get(f"/sim/{sid}")["unacked"]) == (0, 1)
    sink.commit = True
    run(page.reload())
    assert poll(lambda: len(sink.messages) == 2)
    assert [m.id for m in sink.messages] == [refused["id"], refused["id"]]
    canary_round_trip(adapter, page, sink)
    assert (sim.get(f"/sim/{sid}")["acked"], sim.get(f"/sim/{sid}")["unacked"]) == (1, 0)


def test_a_canary_echo_reaches_the_sink_and_other_self_messages_do_not(
        page: Page, sim: Sim, sid: str) -> None:
    adapter, sink = opened(page, sim, sid)
    run(page.evaluate("() => window.ChatStore.sendToSelf('a note to myself')"))
    token = canary_round_trip(adapter, page, sink)
    assert sink.echoes == [token]
    assert sink.messages == []
    body = run(page.evaluate("() => window.ChatStore.messages().map(m => m.body)"))
    assert body == ["a note to myself", CANARY_PREFIX + token]


def test_silent_delivers_nothing_while_the_socket_stays_open(page: Page, sim: Sim,
                                                             sid: str) -> None:
    adapter, sink = opened(page, sim, sid)
    sim.post(f"/sim/{sid}/fault", {"mode": "silent"})
    missed = sim.post(f"/sim/{sid}/messages", {"from": "alice", "body": "into the void"})
    run(adapter.send_canary(page, "lost"))
    assert not poll(lambda: bool(sink.messages or sink.echoes), timeout=1.0)
    state = sim.get(f"/sim/{sid}")
    assert (state["connections"], state["fault"], state["unacked"]) == (1, "silent", 1)
    assert run(page.evaluate("() => window.ChatStore.state")) == "ready"  # looks fine inside
    sim.post(f"/sim/{sid}/fault", {"mode": "none"})
    token = canary_round_trip(adapter, page, sink)
    assert sink.echoes == [token]
    assert [m.id for m in sink.messages] == [missed["id"]]


def test_logout_shows_the_login_screen_and_login_comes_back_without_reload(
        page: Page, sim: Sim, sid: str) -> None:
    adapter, _ = opened(page, sim, sid)
    run(page.evaluate("() => { window.sameDocument = true; }"))
    sim.post(f"/sim/{sid}/fault", {"mode": "logout"})
    assert poll(lambda: run(adapter.auth_state(page)) == AuthState.AUTH_REQUIRED)
    assert run(page.locator("#login").is_visible())
    sim.post(f"/sim/{sid}/login")
    assert poll(lambda: run(adapter.auth_state(page)) == AuthState.READY)
    assert run(page.locator("#chat").is_visible())
    assert run(page.evaluate("() => window.sameDocument")) is True


def test_open_returns_on_the_login_screen_of_a_logged_out_session(page: Page, sim: Sim,
                                                                  sid: str) -> None:
    sim.post(f"/sim/{sid}/fault", {"mode": "logout"})
    adapter, _ = opened(page, sim, sid)
    assert run(adapter.auth_state(page)) == AuthState.AUTH_REQUIRED


def test_leak_grows_the_browser_memory(browser: BrowserContext, profile: Path, sim: Sim,
                                       sid: str) -> None:
    page = run(browser.new_page())
    try:
        opened(page, sim, sid)
        main = browser_process(profile)
        before = tree_pss(main)
        sim.post(f"/sim/{sid}/fault", {"mode": "leak"})
        assert poll(lambda: tree_pss(main) > before + 200 * MiB, timeout=30), (
            f"browser tree stayed near {before // MiB} MiB")
        assert sim.get(f"/sim/{sid}")["faults_applied"]["leak"] == 1
    finally:
        run(page.close())


def test_hang_blocks_the_probe_until_the_browser_is_killed(tmp_path: Path,
                                                           sim: Sim, sid: str) -> None:
    context = launch(tmp_path)
    try:
        page = run(context.new_page())
        adapter, _ = opened(page, sim, sid)
        run(adapter.probe(page))  # answers while healthy
        main = browser_process(tmp_path)
        sim.post(f"/sim/{sid}/fault", {"mode": "hang"})
        assert poll(lambda: sim.get(f"/sim/{sid}")["faults_applied"]["hang"] == 1)
        killed = threading.Event()

        def kill() -> None:
            main.kill()
            killed.set()

        watchdog = threading.Timer(1.0, kill)
        watchdog.start()
        try:
            with pytest.raises(Error):
                run(adapter.probe(page))
        finally:
            watchdog.cancel()
            watchdog.join()
        assert killed.is_set(), "probe returned before the watchdog fired"
    finally:
        with contextlib.suppress(Error):
            run(context.close())


def test_a_restarted_browser_on_the_same_profile_is_still_logged_in(
        tmp_path: Path, sim: Sim, sid: str) -> None:
    devices = []
    for profile in (tmp_path / "a", tmp_path / "a", tmp_path / "b"):
        context = launch(profile)
        try:
            page = run(context.new_page())
            adapter, _ = opened(page, sim, sid)
            assert run(adapter.auth_state(page)) == AuthState.READY
            devices.append(run(page.evaluate("() => window.ChatStore.device")))
        finally:
            run(context.close())
    assert devices[0] == devices[1] != devices[2]
    assert sim.get(f"/sim/{sid}")["devices"] == 2


def test_the_page_forgets_acked_messages_beyond_its_limit(page: Page, sim: Sim, sid: str) -> None:
    adapter, sink = opened(page, sim, sid)
    run(page.evaluate("() => { window.ChatStore.maxKept = 20; }"))
    for n in range(25):
        sim.post(f"/sim/{sid}/messages", {"from": "a", "body": str(n)})
    assert poll(lambda: len(sink.messages) == 25)
    token = canary_round_trip(adapter, page, sink)  # acked too, so the oldest inbound goes
    kept = run(page.evaluate("() => window.ChatStore.messages().map(m => m.body)"))
    assert kept == [str(n) for n in range(6, 25)] + [CANARY_PREFIX + token]


def test_the_page_reconnects_by_itself_and_hears_what_it_missed(page: Page, sim: Sim,
                                                                sid: str) -> None:
    adapter, sink = opened(page, sim, sid)
    sim.post(f"/sim/{sid}/fault", {"mode": "silent"})
    missed = sim.post(f"/sim/{sid}/messages", {"from": "alice", "body": "while deaf"})
    sim.post(f"/sim/{sid}/disconnect")
    assert poll(lambda: [m.id for m in sink.messages] == [missed["id"]])
    canary_round_trip(adapter, page, sink)
    state = sim.get(f"/sim/{sid}")
    assert (state["connections"], state["connections_total"], state["fault"]) == (1, 2, "none")
    assert state["acked"] == 1
