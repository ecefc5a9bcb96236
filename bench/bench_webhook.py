"""Webhook pipeline benchmark: deliveries per second through the durable outbox with 1 and 100
sessions beside a bare aiohttp POST loop, append -> 2xx latency of 99 sessions with and without a
100th whose events all fail, durable appends per second from 1 and 8 threads, and the longest
append while delivered rows are pruned.

Figures only; nothing here passes or fails on time. Run: `.venv/bin/python -m bench webhook`
or `.venv/bin/python bench/bench_webhook.py`. WARDEN_BENCH_QUICK=1 cuts the sizes.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
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

from actors.endpoint import DEFAULT_CONNECTIONS
from actors.outbox import FILE_NAME, Outbox
from actors.webhook import PRUNE_BATCH, WebhookActor, WebhookConfig
from runtime import ChildContext, MonotonicClock, Scheduler

QUICK = os.environ.get("WARDEN_BENCH_QUICK") == "1"
SECRET = "whsec_YmVuY2gtc2VjcmV0LWJlbmNoLXNlY3JldC1iZW5jaA=="
BODY = b'{"id":"evt_x","type":"message.received","session_id":"acct-1","seq":1,"data":{}}'


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class Receiver:
    """A fast loopback receiver on its own loop thread: 204 at once, or 500 for the sessions in
    `failing`; notes when each id came."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.failing: set[str] = set()
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
        body = await request.read()
        if self.failing and any(f'"session_id":"{s}"'.encode() in body for s in self.failing):
            return web.Response(status=500)
        event_id = request.headers.get("webhook-id")
        if event_id is not None:
            self.arrived[event_id] = time.perf_counter()
        self.count += 1
        if self.count >= self._target:
            self._done.set()
        return web.Response(status=204)

    def expect(self, total: int) -> threading.Event:
        """An event set once `total` requests in all have been answered 2xx."""
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


def bare_posts(url: str, n: int, workers: int) -> float:
    """POSTs per second of a bare aiohttp loop: `workers` loops on one session of as many
    connections, on a loop thread of their own (as the actor's poster has)."""

    async def run() -> float:
        connector = aiohttp.TCPConnector(limit=workers)
        async with aiohttp.ClientSession(connector=connector) as session:
            async def worker(count: int) -> None:
                for _ in range(count):
                    async with session.post(url, data=BODY, allow_redirects=False,
                                            headers={"Content-Type": "application/json"}) as r:
                        await r.read()

            began = time.perf_counter()
            await asyncio.gather(*(worker(n // workers) for _ in range(workers)))
            return (n // workers * workers) / (time.perf_counter() - began)

    result: list[float] = []
    thread = threading.Thread(target=lambda: result.append(asyncio.run(run())))
    thread.start()
    thread.join()
    return result[0]


class Pipeline:
    """An outbox in a temporary dir and a WebhookActor on a real clock."""

    def __init__(self, url: str, connections: int = DEFAULT_CONNECTIONS) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="warden-bench-")
        self.outbox = Outbox(Path(self._dir.name) / FILE_NAME)
        self.clock = MonotonicClock()
        self.scheduler = Scheduler(self.clock).start()
        self.config = WebhookConfig(url=url, secret=SECRET, timeout=10.0,
                                    connections=connections)
        self.ref: Any = None

    def start(self) -> None:
        ctx = ChildContext("webhook", 1, lambda _: None, self.clock, self.scheduler)
        self.ref = WebhookActor.start(ctx, self.outbox, self.config)

    def close(self) -> None:
        if self.ref is not None:
            self.ref.stop()
        self.scheduler.stop()
        self.outbox.close()
        self._dir.cleanup()


def deliveries(receiver: Receiver, n: int, sessions: int) -> float:
    """Deliveries per second draining a backlog of `n` committed events of `sessions` sessions."""
    pipeline = Pipeline(receiver.url)
    try:
        for i in range(n):
            pipeline.outbox.append(f"acct-{i % sessions}", "message.received", {"i": i})
        done = receiver.expect(receiver.count + n)
        began = time.perf_counter()
        pipeline.start()
        done.wait(300)
        return n / (time.perf_counter() - began)
    finally:
        pipeline.close()


def latency(receiver: Receiver, n: int, rate: float, sessions: int,
            failing: str | None) -> list[float]:
    """Seconds from calling `append()` to the receiver's 2xx, for the sessions that do not
    fail, at `rate` events/s spread over `sessions` sessions; `failing`'s events get 500."""
    pipeline = Pipeline(receiver.url)
    receiver.failing = set() if failing is None else {failing}
    sent: dict[str, float] = {}
    try:
        pipeline.start()
        healthy = [f"acct-{k}" for k in range(sessions) if f"acct-{k}" != failing]
        done = receiver.expect(receiver.count + sum(
            1 for i in range(n) if f"acct-{i % sessions}" in healthy))
        next_at = time.perf_counter()
        for i in range(n):
            next_at += 1.0 / rate
            pause = next_at - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            session = f"acct-{i % sessions}"
            began = time.perf_counter()
            event = pipeline.outbox.append(session, "message.received", {"i": i})
            if session != failing:
                sent[event.id] = began
        done.wait(120)
        return [receiver.arrived[e] - t for e, t in sent.items() if e in receiver.arrived]
    finally:
        receiver.failing = set()
        pipeline.close()


def appends(threads: int, n: int, durable: bool = True) -> float:
    """Durable appends per second from `threads` threads, `n` in all; with `durable` False the
    same appends without the fsync of each commit (what the machine's CPU allows)."""
    with tempfile.TemporaryDirectory(prefix="warden-bench-") as tmp:
        outbox = Outbox(Path(tmp) / FILE_NAME)
        if not durable:
            outbox._store.appender.execute("PRAGMA synchronous = OFF")
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


def prune_stall(rows: int, rate: float) -> dict[str, float]:
    """The longest durable append while `rows` delivered rows are pruned as the webhook actor
    prunes them (batches of PRUNE_BATCH, here back to back where the actor spends at most 50 ms
    a second), appending at `rate`/s; beside the longest append at the same rate without
    pruning. A checkpoint runs every second, as the actors' ticks run one."""
    with tempfile.TemporaryDirectory(prefix="warden-bench-") as tmp:
        path = Path(tmp) / FILE_NAME
        Outbox(path).close()
        settled = time.time() - 30 * 86400.0
        fill(path, rows, settled)
        began = time.perf_counter()
        outbox = Outbox(path)  # includes the integrity check at open
        opened = time.perf_counter() - began
        stop = threading.Event()
        ticker = threading.Thread(target=_ticking, args=(outbox, stop))
        ticker.start()
        try:
            quiet = _appending(outbox, rate, seconds=3.0 if QUICK else 5.0)
            queue = outbox.endpoint("default")
            pruned, longest = [0], [0.0]

            def prune() -> None:
                while True:
                    batch_began = time.perf_counter()
                    count = queue.prune(7 * 86400.0, PRUNE_BATCH)
                    longest[0] = max(longest[0], time.perf_counter() - batch_began)
                    pruned[0] += count
                    if not count:
                        return

            pruner = threading.Thread(target=prune)
            began = time.perf_counter()
            pruner.start()
            during = _appending(outbox, rate, until=lambda: not pruner.is_alive())
            pruner.join()
            took = time.perf_counter() - began
        finally:
            stop.set()
            ticker.join()
            outbox.close()
    return {
        "rows": pruned[0], "prune_seconds": round(took, 1),
        "prune_rows_per_s": round(pruned[0] / took),
        "open_with_check_seconds": round(opened, 2),
        "longest_batch_ms": round(longest[0] * 1000, 1),
        "appends_during": len(during),
        "append_max_ms_pruning": round(max(during) * 1000, 1),
        "append_p99_ms_pruning": round(pct(during, 99) * 1000, 1),
        "append_max_ms_quiet": round(max(quiet) * 1000, 1),
        "append_p99_ms_quiet": round(pct(quiet, 99) * 1000, 1),
    }


def fill(path: Path, rows: int, settled: float) -> None:
    """`rows` events delivered to endpoint `default` long ago, written straight into the file
    (the outbox's own appends would take minutes to make a million)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    body = b'{"id":"evt_x","type":"message.received","data":{"body":"' + b"x" * 150 + b'"}}'
    chunk = 50_000
    for start in range(1, rows + 1, chunk):
        positions = range(start, min(start + chunk, rows + 1))
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO events (pos, id, session_id, seq, type, body, accepted_at)"
                         " VALUES (?, ?, ?, ?, 'message.received', ?, ?)",
                         ((p, f"evt_{p:026d}", f"acct-{p % 100}", p // 100 + 1, body, settled)
                          for p in positions))
        conn.executemany("INSERT INTO deliveries (pos, endpoint, session_id, state, attempts,"
                         " last_status, last_attempt_at, last_duration_ms, settled_at)"
                         " VALUES (?, 'default', ?, 'delivered', 1, 204, ?, 1.0, ?)",
                         ((p, f"acct-{p % 100}", settled, settled) for p in positions))
        conn.execute("COMMIT")
    conn.execute("INSERT INTO sessions (session_id, last_seq) SELECT session_id, MAX(seq)"
                 " FROM events GROUP BY session_id")
    conn.execute("INSERT INTO delivery_counts (endpoint, state, n) VALUES"
                 " ('default', 'delivered', ?), ('default', 'delivered_total', ?)", (rows, rows))
    conn.close()


def _ticking(outbox: Outbox, stop: threading.Event) -> None:
    """What the webhook actors' ticks do for the file: a checkpoint every second."""
    while not stop.wait(1.0):
        outbox.checkpoint()


def _appending(outbox: Outbox, rate: float, seconds: float | None = None,
               until: Callable[[], bool] | None = None) -> list[float]:
    """Append at `rate`/s for `seconds` or until `until()`; each append's seconds."""
    took: list[float] = []
    end = None if seconds is None else time.perf_counter() + seconds
    next_at = time.perf_counter()
    i = 0
    while (end is None or time.perf_counter() < end) and not (until is not None and until()):
        next_at += 1.0 / rate
        pause = next_at - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        began = time.perf_counter()
        outbox.append(f"acct-{i % 100}", "message.received", {"i": i})
        took.append(time.perf_counter() - began)
        i += 1
    return took


def best(samples: int, measure: Callable[[], float]) -> tuple[float, list[float]]:
    """Median of a few runs, and the runs."""
    runs = [measure() for _ in range(samples)]
    return statistics.median(runs), runs


def main() -> dict[str, Any]:
    n = 1000 if QUICK else 5000
    samples = 1 if QUICK else 5
    receiver = Receiver()
    try:
        bare_posts(receiver.url, 200, 1)  # warm up both sides
        rows = []
        for sessions, workers in ((1, 1), (100, DEFAULT_CONNECTIONS)):
            bare_runs, ours_runs = [], []
            for _ in range(samples):  # interleaved, so a change in machine load hits both alike
                bare_runs.append(bare_posts(receiver.url, n, workers))
                ours_runs.append(deliveries(receiver, n, sessions))
            bare, ours = statistics.median(bare_runs), statistics.median(ours_runs)
            rows.append({"sessions": sessions, "bare_connections": workers,
                         "bare_posts_per_s": round(bare), "deliveries_per_s": round(ours),
                         "ratio": round(ours / bare, 2)})
        count, rate = (600, 200.0) if QUICK else (3000, 300.0)
        clean = latency(receiver, count, rate, 100, None)
        blocked = latency(receiver, count, rate, 100, "acct-0")
    finally:
        receiver.close()
    one, _ = best(samples, lambda: appends(1, 2000 if QUICK else 5000))
    eight_runs, ceiling_runs = [], []
    for _ in range(1 if QUICK else 5):  # interleaved, as above
        eight_runs.append(appends(8, 4000 if QUICK else 16000))
        ceiling_runs.append(appends(8, 4000 if QUICK else 16000, durable=False))
    eight, ceiling = statistics.median(eight_runs), statistics.median(ceiling_runs)
    stall = prune_stall(100_000 if QUICK else 1_000_000, rate=200.0)
    p99_clean, p99_blocked = pct(clean, 99), pct(blocked, 99)
    results: dict[str, Any] = {
        "e2e_99_sessions_p99_ms_no_failing_session": round(p99_clean * 1000, 2),
        "e2e_99_sessions_p99_ms_one_session_failing": round(p99_blocked * 1000, 2),
        "e2e_p99_ratio_failing_vs_not": round(p99_blocked / p99_clean, 2),
        "e2e_99_sessions_p50_ms_no_failing_session": round(pct(clean, 50) * 1000, 2),
        "e2e_99_sessions_p50_ms_one_session_failing": round(pct(blocked, 50) * 1000, 2),
        "outbox_appends_per_s_1_thread": round(one),
        "outbox_appends_per_s_8_threads": round(eight),
        "outbox_appends_per_s_8_threads_without_fsync": round(ceiling),
        **{f"prune_{k}": v for k, v in stall.items()},
        "deliveries": rows,
    }
    print("deliveries to a loopback receiver, side by side in this run:")
    for row in rows:
        print(f"  {row['sessions']:3d} sessions: {row['deliveries_per_s']:6d}/s  vs bare aiohttp"
              f" ({row['bare_connections']} conn.) {row['bare_posts_per_s']:6d}/s"
              f"  = {row['ratio']:.2f} x bare")
    print(f"append -> 2xx of 99 sessions at {rate:.0f} events/s over 100 sessions: p99 "
          f"{p99_clean * 1000:.1f} ms with no failing session, {p99_blocked * 1000:.1f} ms with "
          f"one answered 500 ({p99_blocked / p99_clean:.2f} x)")
    print(f"durable appends, 1 thread:     {one:8.0f}/s")
    print(f"durable appends, 8 threads:    {eight:8.0f}/s  (runs {[round(r) for r in eight_runs]});"
          f" the same without fsync {ceiling:.0f}/s")
    print(f"pruning {stall['rows']:,} delivered rows took {stall['prune_seconds']} s "
          f"({stall['prune_rows_per_s']:,}/s); appends at 200/s meanwhile: longest "
          f"{stall['append_max_ms_pruning']} ms, p99 {stall['append_p99_ms_pruning']} ms "
          f"(without pruning: longest {stall['append_max_ms_quiet']} ms, p99 "
          f"{stall['append_p99_ms_quiet']} ms); the longest prune batch held the write lock "
          f"{stall['longest_batch_ms']} ms; opening that file took "
          f"{stall['open_with_check_seconds']} s")
    return results


if __name__ == "__main__":
    main()
