"""Reconciliation benchmark: a page whose store holds 10,000 messages, reconciled against an outbox
that already holds them all (the usual case after a restart: only the check) and against one that
holds none (a worst case: every message appended). Wall time, this process's CPU (reading the
store, the outbox queries and commits) and the browser's CPU, per run.

`python -m bench reconcile 5000` sets the number of messages (default 10,000, the simulator
page's own bound).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from actors.adapters.simulator import SimulatorAdapter
from actors.browser import DEFAULT_ARGS, BrowserTree
from actors.driver import Driver
from actors.outbox import Outbox
from actors.reconcile import reconcile
from bench.bench_simulator import Sink, get, hooked
from simulator import SimulatorServer

SESSION = "b"


async def fill(url: str, n: int) -> None:
    """Push `n` messages, 32 at a time."""
    async with aiohttp.ClientSession() as http:
        gate = asyncio.Semaphore(32)

        async def one(i: int) -> None:
            async with gate, http.post(f"{url}/sim/{SESSION}/messages",
                                       json={"from": "a", "body": f"history {i}"}):
                pass

        await asyncio.gather(*(one(i) for i in range(n)))


def cpu(procs: list[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def main(messages: str = "10000") -> dict[str, Any]:
    n = int(messages)
    results: dict[str, Any] = {"messages_in_store": n}
    driver = Driver("bench-reconcile").start()
    with SimulatorServer() as sim, tempfile.TemporaryDirectory() as state:
        profile = Path(state) / "profile"
        context = driver.run(driver.playwright.chromium.launch_persistent_context(
            str(profile), executable_path="/usr/bin/chromium", headless=True,
            args=list(DEFAULT_ARGS)), 60)
        try:
            adapter = SimulatorAdapter(SESSION, f"{sim.url}/chat/{SESSION}")
            sink = Sink()
            page = driver.run(hooked(context, adapter, sink), 30)
            driver.run(adapter.open(page, 15), 20)
            t0 = time.perf_counter()
            asyncio.run(fill(sim.url, n))
            sink.wait(lambda: len(sink.seen) >= n, 600)
            results["fill_s"] = round(time.perf_counter() - t0, 1)
            tree = BrowserTree.find(profile)
            assert tree is not None
            browser = tree.processes()

            def read(start: float, limit: int) -> Any:
                return driver.run(adapter.history(page, start, limit), 120)

            for case in ("all_known", "none_known"):
                outbox = Outbox(Path(state) / f"{case}.sqlite3")
                try:
                    if case == "all_known":
                        for m in driver.run(adapter.history(page, 0.0, n), 120):
                            outbox.append(SESSION, "message.received", {
                                "message_id": m.id, "from": m.sender, "body": m.body,
                                "timestamp": _iso(m.timestamp)})

                    def append(m: Any, outbox: Outbox = outbox) -> None:
                        outbox.append(SESSION, "message.received", {
                            "message_id": m.id, "from": m.sender, "body": m.body,
                            "timestamp": _iso(m.timestamp), "recovered": True})

                    wall, mine, theirs = time.perf_counter(), time.process_time(), cpu(browser)
                    done = reconcile(SESSION, outbox, read, append, now=time.time())
                    results[f"{case}_wall_ms"] = round((time.perf_counter() - wall) * 1000)
                    results[f"{case}_cpu_ms"] = round((time.process_time() - mine) * 1000)
                    results[f"{case}_browser_cpu_ms"] = round((cpu(browser) - theirs) * 1000)
                    results[f"{case}_scanned"] = done.scanned
                    results[f"{case}_recovered"] = done.recovered
                finally:
                    outbox.close()
            results["received_by_server"] = get(f"{sim.url}/sim/{SESSION}")["received"]
        finally:
            with contextlib.suppress(Exception):
                driver.run(context.close(), 10)
            driver.stop()
    for key, value in results.items():
        print(f"{key:32} {value}")
    return results


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


if __name__ == "__main__":
    main()
