"""HTTP front benchmark: GET /sessions with 100 sessions under ~32 concurrent loopback clients
while sessions are being restarted in a loop, beside GET /healthz (the bare aiohttp ceiling)
and /sessions with the render cache off, measured in the same run.

The load comes from a separate process (an aiohttp client, and wrk when installed) so client
and server do not share a GIL. Figures only; nothing passes or fails on time.
Run: `.venv/bin/python -m bench front` or `.venv/bin/python bench/bench_front.py`.
WARDEN_BENCH_QUICK=1 cuts the durations.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors.front import Front, FrontDeps
from actors.front_config import HttpConfig
from actors.views import dumps, sessions_json
from bench.common import median, percentile, print_figures
from runtime import (
    ChildSpec,
    ChildState,
    EventBus,
    Liveness,
    Runtime,
    SupervisedActor,
    Supervisor,
    SupervisorSpec,
)
from runtime.status import StatusBoard

QUICK = os.environ.get("WARDEN_BENCH_QUICK") == "1"
SESSIONS = 100
CONCURRENCY = 32
DURATION = 2.0 if QUICK else 6.0
WARMUP = 0.5 if QUICK else 1.0


class BenchSession(SupervisedActor):
    """A session stand-in: publishes what a browser session would and heartbeats once."""

    def started(self) -> None:
        self.ctx.publish(adapter="simulator", browser_pid=10_000 + self.ctx.incarnation,
                         memory_bytes=230 * 2**20, last_canary=self.ctx.clock.time(),
                         events_total=self.ctx.incarnation)
        self.ctx.heartbeat()
        self.ctx.activity()


def start_runtime() -> Runtime:
    events, board = EventBus(), StatusBoard()
    sessions = SupervisorSpec("sessions", tuple(
        ChildSpec(id=f"acct-{i:03d}", start=lambda ctx: BenchSession.start(ctx),
                  liveness=Liveness(heartbeat_timeout=None)) for i in range(SESSIONS)))
    root = SupervisorSpec("root", (Supervisor.child_spec(sessions, events, board),))
    runtime = Runtime(root, events=events, board=board).start()
    board.wait_for(lambda b: sum(s.state is ChildState.HEALTHY
                                 for s in b.children("sessions")) == SESSIONS, 30)
    return runtime


class Restarter:
    """Restarts a random session every `interval` seconds until stopped."""

    def __init__(self, runtime: Runtime, interval: float = 0.02) -> None:
        self.runtime = runtime
        self.interval = interval
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-restarter", daemon=True)

    def __enter__(self) -> Restarter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        if self.interval == float("inf"):
            return
        rng = random.Random(7)
        while not self._stop.wait(self.interval):
            self.runtime.restart(f"acct-{rng.randrange(SESSIONS):03d}")
            self.count += 1


# --- the load, from another process --------------------------------------------------------------


async def _load(url: str, concurrency: int, duration: float, warmup: float) -> dict[str, Any]:
    import aiohttp

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    size = 0
    start = time.perf_counter()
    measure_from, end = start + warmup, start + warmup + duration

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal size
        while (now := time.perf_counter()) < end:
            async with session.get(url) as response:
                body = await response.read()
            done = time.perf_counter()
            if now >= measure_from:
                latencies.append(done - now)
                statuses[response.status] = statuses.get(response.status, 0) + 1
                size = len(body)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return {"latencies": latencies, "statuses": statuses, "seconds": duration, "size": size}


def load(url: str) -> dict[str, Any]:
    """Run the aiohttp load in a child process; its figures."""
    out = subprocess.run(
        [sys.executable, __file__, "--client", url, str(CONCURRENCY), str(DURATION),
         str(WARMUP)], capture_output=True, text=True, check=True, timeout=120).stdout
    raw = json.loads(out)
    lat = raw["latencies"]
    return {
        "requests_per_s": len(lat) / raw["seconds"],
        "p50_ms": median(lat) * 1000,
        "p95_ms": percentile(lat, 95) * 1000,
        "p99_ms": percentile(lat, 99) * 1000,
        "non_200": sum(n for s, n in raw["statuses"].items() if s != "200"),
        "body_bytes": raw["size"],
    }


def wrk(url: str) -> dict[str, Any] | None:
    """The same load from wrk (C, 1 thread, 32 connections), if it is installed."""
    if shutil.which("wrk") is None:
        return None
    out = subprocess.run(
        ["wrk", "-t1", f"-c{CONCURRENCY}", f"-d{max(1, round(DURATION))}s", "--latency", url],
        capture_output=True, text=True, check=True, timeout=120).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)

    def ms(match: re.Match[str] | None) -> float:
        if match is None:
            return float("nan")
        return float(match.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]

    p95 = re.search(r"^\s+90%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)  # wrk has no 95%
    return {"requests_per_s": float(rate.group(1)) if rate else float("nan"),
            "p50_ms": ms(p50), "p90_ms": ms(p95), "p99_ms": ms(p99)}


def render_cost(runtime: Runtime, repeats: int = 200) -> float:
    """Median microseconds to build and encode /sessions for all sessions, without the cache."""
    statuses = runtime.board.children("sessions")
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        dumps(sessions_json(statuses, time.time()))
        times.append(time.perf_counter() - started)
    return median(times) * 1e6


def measure(runtime: Runtime, url: str, client: str, restarts: bool) -> dict[str, Any] | None:
    """One load run, with sessions restarted in a loop meanwhile (or not)."""
    restarter = Restarter(runtime, interval=0.02 if restarts else float("inf"))
    with restarter:
        result = load(url) if client == "aiohttp" else wrk(url)
    if result is None:
        return None
    return {**result, "restarts_during": restarter.count}


def main() -> dict[str, Any]:
    quiet = logging.getLogger("warden.events")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # restart_scheduled is logged at WARNING, 50 times a second
    runtime = start_runtime()
    rows: list[dict[str, Any]] = []
    figures: dict[str, Any] = {"sessions": SESSIONS, "concurrency": CONCURRENCY,
                               "seconds_per_run": DURATION}
    plan = [  # (path, cache, restarts)
        ("/healthz", True, True), ("/sessions", True, True), ("/sessions", False, True),
        ("/sessions", True, False),
    ]
    try:
        figures["render_sessions_us_uncached"] = render_cost(runtime)
        for cache in (True, False):
            deps = FrontDeps(board=runtime.board, control=runtime,
                             root_running=lambda: runtime.running, cache_renderings=cache)
            front = Front(HttpConfig(port=0), deps).start()
            try:
                for path, wants_cache, restarts in plan:
                    if wants_cache is not cache:
                        continue
                    for client in ("aiohttp", "wrk"):
                        result = measure(runtime, front.url + path, client, restarts)
                        if result is not None:
                            rows.append({"client": client, "path": path, "cache": cache,
                                         "restarting": restarts, **result})
            finally:
                front.stop()
    finally:
        runtime.stop()
        quiet.setLevel(level)
    by = {(r["client"], r["path"], r["cache"], r["restarting"]): r for r in rows}
    for client in ("aiohttp", "wrk"):
        cached = by.get((client, "/sessions", True, True))
        if cached is None:
            continue
        healthz = by[(client, "/healthz", True, True)]
        uncached = by[(client, "/sessions", False, True)]
        figures[f"{client}_sessions_rps"] = cached["requests_per_s"]
        figures[f"{client}_sessions_p99_ms"] = cached["p99_ms"]
        figures[f"{client}_sessions_vs_healthz_rps"] = (
            cached["requests_per_s"] / healthz["requests_per_s"])
        figures[f"{client}_cache_speedup_rps"] = (
            cached["requests_per_s"] / uncached["requests_per_s"])
    figures["runs"] = rows
    print_figures("front", figures)
    return figures


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        url, concurrency, duration, warmup = sys.argv[2:6]
        result = asyncio.run(_load(url, int(concurrency), float(duration), float(warmup)))
        print(json.dumps(result))
    else:
        main()
