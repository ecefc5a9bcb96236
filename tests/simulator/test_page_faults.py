"""Faults the chat page carries out in real Chromium: a hang stops its JS (and its receipts) while
the socket stays open, and a leak grows the browser's memory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from simulator import LeakRate, SimulatorServer, create_app
from tests.simulator.browser import ChatPage, Control, browser_process, launch, tree_rss

pytestmark = pytest.mark.browser

MiB = 2**20
LEAK = LeakRate(bytes_per_second=200 * MiB, cap_bytes=400 * MiB)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(app_factory=lambda: create_app(leak=LEAK)) as server:
        yield server


def test_hang_stops_the_page_and_what_arrives_is_not_confirmed(
        profile: BrowserContext, sim: SimulatorServer, sid: str) -> None:
    control = Control(sim.url, sid)
    page = ChatPage(profile.new_page(), f"{sim.url}/chat/{sid}").open()
    control.post("fault", {"mode": "hang"})
    control.wait(lambda s: s["faults_applied"]["hang"] == 1)
    with pytest.raises(PlaywrightTimeout):
        page.page.wait_for_function("() => true", timeout=1000)
    control.push("to a hung page")
    state = control.wait(lambda s: s["delivered"] == 1)
    assert (state["connections"], state["received"], state["queued"]) == (1, 0, 1)


def test_leak_grows_the_browser_memory_until_none(pw: Playwright, tmp_path: Path,
                                                  sim: SimulatorServer, sid: str) -> None:
    control = Control(sim.url, sid)
    context = launch(pw, tmp_path)
    try:
        ChatPage(context.new_page(), f"{sim.url}/chat/{sid}").open()
        main = browser_process(tmp_path)
        before = tree_rss(main)
        control.post("fault", {"mode": "leak"})
        assert control.wait(lambda s: s["faults_applied"]["leak"] == 1)["fault"] == "leak"
        control.wait(lambda _: tree_rss(main) > before + 200 * MiB, timeout=30)
        assert control.post("fault", {"mode": "none"})["fault"] == "none"
    finally:
        context.close()
