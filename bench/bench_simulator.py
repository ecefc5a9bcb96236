"""Simulator and adapter latency under the app's real rules: push -> receipt at the server,
push -> adapter sink (through the page's store and the session's CDP binding), the canary's
server round trip, a burst's rate, history read back for reconciliation, and leak growth.
Baseline: the same push seen by a bare WebSocket client of the simulator, in the same run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from playwright.async_api import BrowserContext, Page

from actors.adapters.base import EVENT_BINDING, InboundMessage, SessionSink, add_bindings
from actors.adapters.simulator import SimulatorAdapter
from actors.browser import DEFAULT_ARGS, BrowserTree
from actors.canary import CANARY_PREFIX
from actors.driver import Driver
from actors.memory import anonymous_bytes, trees
from bench.common import percentile
from simulator import SimulatorServer

N = 200


def summary(xs: list[float]) -> dict[str, float]:
    ms = [x * 1000 for x in xs]
    return {"median_ms": round(statistics.median(ms), 2), "p95_ms": round(percentile(ms, 95), 2),
            "p99_ms": round(percentile(ms, 99), 2)}


def post(url: str, body: Any = None) -> dict[str, Any]:
    req = urllib.request.Request(url, data=json.dumps(body or {}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return dict(json.load(r))


def get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url) as r:
        return dict(json.load(r))


class Sink:
    """Times what the adapter hands over (on the driver loop)."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.seen: dict[str, float] = {}
        self.acks: dict[str, float] = {}

    def message(self, m: InboundMessage) -> None:
        with self.changed:
            self.seen[m.id] = time.perf_counter()
            self.changed.notify_all()

    def acked(self, message_id: str, ack: int) -> None:
        if ack >= 1:
            with self.changed:
                self.acks.setdefault(message_id, time.perf_counter())
                self.changed.notify_all()

    def skipped(self, detail: str) -> None:
        raise AssertionError(detail)

    def login_code(self, payload: str | None, expires_at: float | None) -> None:
        pass

    def app_state(self, state: str) -> None:
        pass

    def wait(self, found: Any, timeout: float = 30.0) -> None:
        with self.changed:
            if not self.changed.wait_for(found, timeout):
                raise TimeoutError("the adapter handed nothing over")


def baseline(url: str) -> list[float]:
    """Push -> frame at a bare WebSocket client (no browser), which sends its receipt."""
    async def run() -> list[float]:
        out = []
        async with aiohttp.ClientSession() as http, http.ws_connect(
                f"{url}/chat/base/ws?device=bench") as ws:
            await ws.receive_json()
            for i in range(N):
                t0 = time.perf_counter()
                async with http.post(f"{url}/sim/base/messages",
                                     json={"from": "a", "body": str(i)}):
                    pass
                while (frame := await ws.receive_json())["type"] != "message":
                    continue
                out.append(time.perf_counter() - t0)
                await ws.send_json({"type": "receipt", "id": frame["message"]["id"]})
        return out
    return asyncio.run(run())


async def hooked(context: BrowserContext, adapter: SimulatorAdapter, sink: SessionSink) -> Page:
    """A page with the session's event binding routed to the adapter, and the adapter's hook."""
    page = context.pages[0] if context.pages else await context.new_page()
    await add_bindings(context, page, [EVENT_BINDING], lambda e: adapter.page_event(
        str(e["payload"]), sink) if e.get("name") == EVENT_BINDING else None)
    await adapter.attach(page)
    return page


def main() -> dict[str, Any]:
    results: dict[str, Any] = {}
    driver = Driver("bench-simulator").start()
    with SimulatorServer() as sim, tempfile.TemporaryDirectory() as profile:
        results["baseline_push_to_ws_client"] = summary(baseline(sim.url))
        context = driver.run(driver.playwright.chromium.launch_persistent_context(
            profile, executable_path="/usr/bin/chromium", headless=True,
            args=list(DEFAULT_ARGS)), 60)
        try:
            sink = Sink()
            adapter = SimulatorAdapter("b", f"{sim.url}/chat/b")
            page = driver.run(hooked(context, adapter, sink), 30)
            t0 = time.perf_counter()
            driver.run(adapter.open(page, 15), 20)
            results["open_s"] = round(time.perf_counter() - t0, 3)
            to_sink = []
            for i in range(N):
                t0 = time.perf_counter()
                mid = post(f"{sim.url}/sim/b/messages", {"from": "a", "body": str(i)})["id"]
                sink.wait(lambda mid=mid: mid in sink.seen)
                to_sink.append(sink.seen[mid] - t0)
            results["push_to_sink"] = summary(to_sink)
            results["sink_vs_baseline_median"] = round(
                results["push_to_sink"]["median_ms"]
                / results["baseline_push_to_ws_client"]["median_ms"], 1)
            rtt = []
            for _ in range(N):
                t0 = time.perf_counter()
                mid = driver.run(adapter.send_canary(page, CANARY_PREFIX + uuid.uuid4().hex), 10)
                sink.wait(lambda mid=mid: mid in sink.acks)
                rtt.append(sink.acks[mid] - t0)
            results["canary_server_ack_round_trip"] = summary(rtt)
            burst = 1000
            before = len(sink.seen)
            t0 = time.perf_counter()
            for i in range(burst):
                post(f"{sim.url}/sim/b/messages", {"from": "a", "body": f"burst {i}"})
            sink.wait(lambda: len(sink.seen) >= before + burst, 120)
            results["burst_messages_per_s"] = round(burst / (time.perf_counter() - t0))
            t0 = time.perf_counter()
            read = driver.run(adapter.history(page, 0.0, 5000), 60)
            results["history_read_ms"] = round((time.perf_counter() - t0) * 1000, 1)
            results["history_messages"] = len(read)
            tree = BrowserTree.find(Path(profile))
            assert tree is not None

            def anon() -> int:
                return anonymous_bytes(trees([tree.pid])[tree.pid])

            m0 = anon()
            t0 = time.perf_counter()
            post(f"{sim.url}/sim/b/fault", {"mode": "leak"})
            deadline = time.monotonic() + 120
            while anon() < m0 + 500 * 2**20 and time.monotonic() < deadline:
                time.sleep(0.1)  # sampling the tree's memory as it grows
            secs = time.perf_counter() - t0
            results["leak_idle_tree_anon_mib"] = round(m0 / 2**20)
            results["leak_seconds_to_plus_500MiB"] = round(secs, 1)
        finally:
            with contextlib.suppress(Exception):
                driver.run(context.close(), 10)
            driver.stop()
    for key, value in results.items():
        print(f"{key}: {value}")
    return results


if __name__ == "__main__":
    main()
