"""Simulator and adapter latency: push -> sink, push -> server ack, canary round trip, burst rate,
leak growth; baseline = the same push seen by a bare aiohttp WebSocket client in the same run."""

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
from typing import Any

import aiohttp
import psutil
from playwright.sync_api import sync_playwright

from actors.adapters.simulator import SimulatorAdapter
from actors.browser import DEFAULT_ARGS
from bench.common import percentile
from simulator import SimulatorServer

ARGS = list(DEFAULT_ARGS)
N = 200


pct = percentile


def summary(xs: list[float]) -> dict[str, float]:
    ms = [x * 1000 for x in xs]
    return {"median_ms": round(statistics.median(ms), 2), "p95_ms": round(pct(ms, 95), 2),
            "p99_ms": round(pct(ms, 99), 2)}


def post(url: str, body: Any = None) -> dict[str, Any]:
    req = urllib.request.Request(url, data=json.dumps(body or {}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)


def get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url) as r:
        return json.load(r)


class Sink:
    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self.echo: dict[str, float] = {}

    def message(self, m: Any) -> bool:
        self.seen[m.id] = time.perf_counter()
        return True

    def canary_echo(self, token: str) -> None:
        self.echo[token] = time.perf_counter()


def baseline(url: str) -> list[float]:
    """Push -> frame at a bare WebSocket client (no browser)."""
    async def run() -> list[float]:
        out = []
        async with aiohttp.ClientSession() as http, http.ws_connect(f"{url}/chat/base/ws") as ws:
            await ws.receive_json()
            for i in range(N):
                t0 = time.perf_counter()
                message = {"from": "a", "body": str(i)}
                async with http.post(f"{url}/sim/base/messages", json=message):
                    pass
                frame = await ws.receive_json()
                out.append(time.perf_counter() - t0)
                await ws.send_json({"type": "ack", "id": frame["message"]["id"]})
        return out
    return asyncio.run(run())


def main() -> dict[str, Any]:
    results: dict[str, Any] = {}
    with SimulatorServer() as sim, tempfile.TemporaryDirectory() as profile:
        results["baseline_push_to_ws_client"] = summary(baseline(sim.url))
        pw_manager = sync_playwright()
        pw = pw_manager.start()
        ctx = pw.chromium.launch_persistent_context(profile, executable_path="/usr/bin/chromium",
                                                    headless=True, args=ARGS)
        try:
            page = ctx.new_page()
            sink = Sink()
            adapter = SimulatorAdapter("b", f"{sim.url}/chat/b")
            adapter.attach(page, sink)
            t0 = time.perf_counter()
            adapter.open(page, 15)
            results["open_s"] = round(time.perf_counter() - t0, 3)
            to_sink, to_ack = [], []
            for i in range(N):
                t0 = time.perf_counter()
                mid = post(f"{sim.url}/sim/b/messages", {"from": "a", "body": str(i)})["id"]
                while mid not in sink.seen:
                    page.wait_for_timeout(1)
                to_sink.append(sink.seen[mid] - t0)
                while get(f"{sim.url}/sim/b")["acked"] < i + 1:
                    page.wait_for_timeout(1)
                to_ack.append(time.perf_counter() - t0)
            results["push_to_sink"] = summary(to_sink)
            results["push_to_server_ack"] = summary(to_ack)
            results["sink_vs_baseline_median"] = round(
                results["push_to_sink"]["median_ms"]
                / results["baseline_push_to_ws_client"]["median_ms"], 1)
            rtt = []
            for _ in range(N):
                token = uuid.uuid4().hex
                t0 = time.perf_counter()
                adapter.send_canary(page, token)
                while token not in sink.echo:
                    page.wait_for_timeout(1)
                rtt.append(sink.echo[token] - t0)
            results["canary_round_trip"] = summary(rtt)
            burst = 1000
            before = len(sink.seen)
            t0 = time.perf_counter()
            for i in range(burst):
                post(f"{sim.url}/sim/b/messages", {"from": "a", "body": f"burst {i}"})
            while len(sink.seen) < before + burst:
                page.wait_for_timeout(5)
            results["burst_messages_per_s"] = round(burst / (time.perf_counter() - t0))
            main_proc = next(p for p in psutil.Process().children(recursive=True)
                             if f"--user-data-dir={profile}" in p.cmdline()
                             and not any(a.startswith("--type=") for a in p.cmdline()))

            def pss() -> int:
                total = 0
                for p in [main_proc, *main_proc.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        total += p.memory_full_info().pss
                return total
            m0 = pss()
            t0 = time.perf_counter()
            post(f"{sim.url}/sim/b/fault", {"mode": "leak"})
            while pss() < m0 + 500 * 2**20:
                page.wait_for_timeout(100)
            secs = time.perf_counter() - t0
            results["leak_idle_tree_pss_mib"] = round(m0 / 2**20)
            results["leak_seconds_to_plus_500MiB"] = round(secs, 1)
            results["leak_MiB_per_s"] = round(500 / secs, 1)
            # hang: time from killing the browser to the blocked probe raising
            post(f"{sim.url}/sim/b/fault", {"mode": "hang"})
            while get(f"{sim.url}/sim/b")["faults_applied"]["hang"] < 1:
                time.sleep(0.01)
            killed_at: list[float] = []
            timer = threading.Timer(1.0, lambda: (killed_at.append(time.perf_counter()),
                                                  main_proc.kill()))
            timer.start()
            try:
                adapter.probe(page)
            except Exception:
                results["hang_kill_to_raise_ms"] = round(
                    (time.perf_counter() - killed_at[0]) * 1000, 1)
            timer.join()
        finally:
            with contextlib.suppress(Exception):
                ctx.close()
            pw_manager.__exit__(None, None, None)
    for key, value in results.items():
        print(f"{key}: {value}")
    return results


if __name__ == "__main__":
    main()
