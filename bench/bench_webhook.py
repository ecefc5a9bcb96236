"""Webhook pipeline benchmark: deliveries per second through the durable outbox beside a bare
aiohttp POST loop, durable appends per second from 1 and 8 threads, and end-to-end latency
from `append()` to the receiver's 2xx.

Figures only; nothing here passes or fails on time. Run: `.venv/bin/python -m bench webhook`
or `.venv/bin/python bench/bench_webhook.py`. WARDEN_BENCH_QUICK=1 cuts the sizes.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from aiohttp import web

from actors.outbox import FILE_NAME, Outbox
from actors.webhook import RUN_SIZE, WebhookActor, WebhookConfig
from runtime import ChildContext, MonotonicClock, Scheduler

QUICK = os.environ.get("WARDEN_BENCH_QUICK") == "1"
SECRET = "whsec_YmVuY2gtc2VjcmV0LWJlbmNoLXNlY3JldC1iZW5jaA=="
BODY = b'{"id":"evt_x","type":"message.received","session_id":"acct-1","seq":1,"data":{}}'


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class Receiver:
    """A fast loopback receiver (204 at once) on its own loop thread; notes when each id came."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.count = 0
        self._target = 0
        self._done = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._runner: web.AppRunner | None = None
        self.url = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    async def _start(self) -> str:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}/hook"

    async def _hook(self, request: web.Request) -> web.Response:
        await request.read()
        event_id = request.headers.get("webhook-id")
        if event_id is not None:
            self.arrived[event_id] = time.perf_counter()
        self.count += 1
        if self.count >= self._target:
            self._done.set()
        return web.Response(status=204)

    def expect(self, total: int) -> threading.Event:
        """An event set once `total` requests in all have arrived."""
        self._target = total
        self._done.clear()
        if self.count >= total:
            self._done.set()
        return self._done

    def close(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def bare_posts(url: str, n: int) -> float:
    """POSTs per second of a bare aiohttp loop (own loop thread, as the actor's poster has)."""

    async def run() -> float:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
            began = time.perf_counter()
            for _ in range(n):
                async with session.post(url, data=BODY, allow_redirects=False,
                                        headers={"Content-Type": "application/json"}) as r:
                    await r.read()
            return n / (time.perf_counter() - began)

    result: list[float] = []
    thread = threading.Thread(target=lambda: result.append(asyncio.run(run())))
    thread.start()
    thread.join()
    return result[0]


class Pipeline:
    """An outbox in a temporary dir and a WebhookActor on a real clock."""

    def __init__(self, url: str, run_size: int = RUN_SIZE) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="warden-bench-")
        self.outbox = Outbox(Path(self._dir.name) / FILE_NAME)
        self.clock = MonotonicClock()
        self.scheduler = Scheduler(self.clock).start()
        self.config = WebhookConfig(url=url, secret=SECRET, timeout=10.0)
        self.run_size = run_size
        self.ref: Any = None

    def start(self) -> None:
        ctx = ChildContext("webhook", 1, lambda _: None, self.clock, self.scheduler)
        self.ref = WebhookActor.start(ctx, self.outbox, self.config, run_size=self.run_size)

    def close(self) -> None:
        if self.ref is not None:
            self.ref.stop()
        self.scheduler.stop()
        self.outbox.close()
        self._dir.cleanup()


def deliveries(receiver: Receiver, n: int, run_size: int = RUN_SIZE) -> float:
    """Deliveries per second draining a backlog of `n` committed events."""
    pipeline = Pipeline(receiver.url, run_size)
    try:
        for i in range(n):
            pipeline.outbox.append(f"acct-{i % 4}", "message.received", {"i": i})
        done = receiver.expect(receiver.count + n)
        began = time.perf_counter()
        pipeline.start()
        done.wait(300)
        return n / (time.perf_counter() - began)
    finally:
        pipeline.close()


def appends(threads: int, n: int) -> float:
    """Durable appends per second from `threads` threads, `n` in all."""
    with tempfile.TemporaryDirectory(prefix="warden-bench-") as tmp:
        outbox = Outbox(Path(tmp) / FILE_NAME)
        start = threading.Barrier(threads + 1)

        def work(k: int) -> None:
            start.wait()
            for i in range(n // threads):
                outbox.append(f"acct-{k % 4}", "message.received", {"k": k, "i": i})

        workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
        for worker in workers:
            worker.start()
        start.wait()
        began = time.perf_counter()
        for worker in workers:
            worker.join()
        rate = (n // threads * threads) / (time.perf_counter() - began)
        outbox.close()
        return rate


def latency(receiver: Receiver, n: int, rate: float) -> list[float]:
    """Seconds from calling `append()` to the receiver taking the event, at `rate` events/s."""
    pipeline = Pipeline(receiver.url)
    sent: dict[str, float] = {}
    try:
        pipeline.start()
        done = receiver.expect(receiver.count + n)
        next_at = time.perf_counter()
        for i in range(n):
            next_at += 1.0 / rate
            pause = next_at - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            began = time.perf_counter()
            sent[pipeline.outbox.append("acct-1", "message.received", {"i": i}).id] = began
        done.wait(120)
        return [receiver.arrived[e] - t for e, t in sent.items() if e in receiver.arrived]
    finally:
        pipeline.close()


def best(samples: int, measure: Callable[[], float]) -> tuple[float, list[float]]:
    """Median of a few runs, and the runs."""
    runs = [measure() for _ in range(samples)]
    return statistics.median(runs), runs


def main() -> dict[str, Any]:
    n = 1000 if QUICK else 5000
    samples = 1 if QUICK else 5
    receiver = Receiver()
    try:
        bare_posts(receiver.url, 200)  # warm up both sides
        bare_runs, ours_runs = [], []
        for _ in range(samples):  # interleaved, so a change in machine load hits both alike
            bare_runs.append(bare_posts(receiver.url, n))
            ours_runs.append(deliveries(receiver, n))
        bare, ours = statistics.median(bare_runs), statistics.median(ours_runs)
        single, _ = best(max(1, samples // 2), lambda: deliveries(receiver, n, run_size=1))
        lat = latency(receiver, 500 if QUICK else 2000, rate=200.0)
    finally:
        receiver.close()
    one, _ = best(samples, lambda: appends(1, 2000 if QUICK else 5000))
    eight, _ = best(samples, lambda: appends(8, 4000 if QUICK else 16000))
    results = {
        "webhook_bare_posts_per_s": round(bare),
        "webhook_deliveries_per_s": round(ours),
        "webhook_deliveries_ratio_vs_bare": round(ours / bare, 2),
        "webhook_deliveries_per_s_one_event_per_handoff": round(single),
        "outbox_appends_per_s_1_thread": round(one),
        "outbox_appends_per_s_8_threads": round(eight),
        "webhook_e2e_latency_p50_ms": round(pct(lat, 50) * 1000, 2),
        "webhook_e2e_latency_p99_ms": round(pct(lat, 99) * 1000, 2),
        "webhook_e2e_latency_samples": len(lat),
    }
    print(f"bare aiohttp POST loop:        {bare:8.0f}/s  (runs {[round(r) for r in bare_runs]})")
    print(f"delivered through the outbox:  {ours:8.0f}/s  (runs {[round(r) for r in ours_runs]})"
          f"  = {ours / bare:.2f} x bare")
    print(f"  same, one event per hand-off: {single:7.0f}/s")
    print(f"durable appends, 1 thread:     {one:8.0f}/s")
    print(f"durable appends, 8 threads:    {eight:8.0f}/s")
    print(f"append -> 2xx at 200 events/s: p50 {results['webhook_e2e_latency_p50_ms']} ms,"
          f" p99 {results['webhook_e2e_latency_p99_ms']} ms ({len(lat)} events)")
    return results


if __name__ == "__main__":
    main()
