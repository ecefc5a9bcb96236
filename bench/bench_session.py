"""Browser-session benchmark: recovery vs a bare Chromium launch, detection latency per fault,
memory per idle session, and inbound latency from the app to durable acceptance.

Figures only; nothing here passes or fails on time. Run: `.venv/bin/python -m bench session`.
Sizes can be cut for a quick look with WARDEN_BENCH_QUICK=1.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import tempfile
import threading
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil

from actors.adapters.simulator import SimulatorAdapter
from actors.browser import DEFAULT_ARGS, BrowserTree, resolve_executable
from actors.driver import Driver
from actors.fleet import fleet_children
from actors.launch import LaunchGate
from actors.memory import MemorySampler, MemoryWatch, pss_bytes, trees
from actors.outbox import Outbox
from actors.policy import Policy
from actors.session import SessionSettings
from bench.common import percentile
from runtime import EventBus, LifecycleEvent, Runtime, SupervisorSpec
from simulator.app import SimulatorServer

QUICK = os.environ.get("WARDEN_BENCH_QUICK") == "1"
CHROMIUM = resolve_executable("auto")


pct = percentile
READY = "() => window.ChatStore && window.ChatStore.state === 'connected'"


class TimedOutbox:
    """The real durable outbox, timing when each message body became accepted."""

    def __init__(self, path: Path) -> None:
        self.outbox = Outbox(path)
        self.accepted: dict[str, float] = {}

    def append(self, session_id: str, type: str, data: Mapping[str, Any],
               at: float | None = None) -> Any:
        event = self.outbox.append(session_id, type, data, at)
        if type == "message.received":
            self.accepted[str(data["body"])] = time.perf_counter()
        return event

    def message_high_water(self, session_id: str) -> float | None:
        return self.outbox.message_high_water(session_id)

    def known_messages(self, session_id: str, message_ids: Sequence[str]) -> set[str]:
        return self.outbox.known_messages(session_id, message_ids)


class Bench:
    """A simulator and a runtime of `n` sessions under `policy`, in a temporary state dir."""

    def __init__(self, n: int, policy: Policy) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="warden-bench-")
        state = Path(self.tmp.name)
        self.sim = SimulatorServer("127.0.0.1", 0)
        self.sim.start()
        self.inbound = TimedOutbox(state / "outbox.sqlite3")
        self.events: list[tuple[float, LifecycleEvent]] = []
        self.changed = threading.Condition()
        bus = EventBus()
        bus.subscribe(self._hear)
        self.ids = [f"acct-{i + 1}" for i in range(n)]
        settings = [SessionSettings(
            id=sid, url=f"{self.sim.url}/chat/{sid}", adapter=SimulatorAdapter,
            adapter_name="simulator", policy=policy, profile_dir=state / "profiles" / sid,
            executable=CHROMIUM, args=DEFAULT_ARGS, launch_timeout=120.0) for sid in self.ids]
        watch = MemoryWatch()
        children = [MemorySampler.child_spec(watch, interval=2.0, pss_spacing=10.0),
                    *fleet_children(settings, self.inbound, per_driver=16, gate=LaunchGate(),
                                    memory=watch)]
        self.runtime = Runtime(SupervisorSpec("sessions", tuple(children), tick=0.1), events=bus)
        self.runtime.start()

    def _hear(self, event: LifecycleEvent) -> None:
        with self.changed:
            self.events.append((time.perf_counter(), event))
            self.changed.notify_all()

    def wait_event(self, child: str, name: str, after: float, timeout: float = 120.0
                   ) -> tuple[float, LifecycleEvent]:
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for t, e in self.events:
                    if t >= after and e.child == child and e.name == name:
                        return t, e
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{child}: no {name} within {timeout}s")
                self.changed.wait(left)

    def healthy(self, timeout: float = 900.0) -> None:
        ok = self.runtime.board.wait_for(lambda b: all(
            (s := b.get(i)) is not None and s.state == "healthy" for i in self.ids), timeout)
        if not ok:
            raise TimeoutError("sessions did not all become healthy")

    def sim_post(self, path: str, body: dict[str, Any]) -> None:
        request = urllib.request.Request(self.sim.url + path, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10).read()

    def close(self) -> None:
        self.runtime.stop()
        self.sim.stop()
        self.inbound.outbox.close()
        self.tmp.cleanup()


def bare_launches(sim: SimulatorServer, count: int) -> list[float]:
    """Baseline: on a running Playwright driver, launch Chromium, open the chat page and wait for
    it to be ready — on a profile that already exists, as a restart finds it (one warm-up run
    first)."""

    async def launch(driver: Driver, profile: str, i: int) -> float:
        t0 = time.perf_counter()
        context = await driver.playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=list(DEFAULT_ARGS))
        page = context.pages[0]
        await page.goto(f"{sim.url}/chat/bare-{i}")
        await page.wait_for_function(READY, polling=50)
        took = time.perf_counter() - t0
        await context.close()
        return took

    driver = Driver("bench-bare").start()
    try:
        with tempfile.TemporaryDirectory() as profile:
            times = [driver.run(launch(driver, profile, i), 120) for i in range(count + 1)]
    finally:
        driver.stop()
    return times[1:]


def recovery(rounds: int) -> dict[str, Any]:
    bench = Bench(1, Policy())
    try:
        bench.healthy()
        bare = bare_launches(bench.sim, rounds)
        manual, crash = [], []
        for _ in range(rounds):
            t0 = time.perf_counter()
            bench.runtime.restart("acct-1")
            _, event = bench.wait_event("acct-1", "child_recovered", t0)
            manual.append(event.recovery_seconds or 0.0)
        for _ in range(max(2, rounds // 2)):
            bench.healthy()
            pid = bench.runtime.board.get("acct-1").details["browser_pid"]  # type: ignore[union-attr]
            t0 = time.perf_counter()
            os.kill(pid, signal.SIGKILL)
            _, scheduled = bench.wait_event("acct-1", "restart_scheduled", t0)
            _, event = bench.wait_event("acct-1", "child_recovered", t0)
            crash.append((event.recovery_seconds or 0.0) - (scheduled.delay or 0.0))
            bench.runtime.restart("acct-1")  # a fresh budget for the next round
            bench.wait_event("acct-1", "child_recovered", time.perf_counter())
    finally:
        bench.close()
    base = statistics.median(bare)
    return {
        "bare_launch_median_s": round(base, 3),
        "recovery_manual_median_s": round(statistics.median(manual), 3),
        "recovery_manual_p95_s": round(pct(manual, 95), 3),
        "recovery_crash_minus_backoff_median_s": round(statistics.median(crash), 3),
        "ratio_manual_to_bare": round(statistics.median(manual) / base, 2),
        "ratio_crash_minus_backoff_to_bare": round(statistics.median(crash) / base, 2),
    }


def detection(samples: int) -> dict[str, Any]:
    """Fault injected -> restart decided, with the default policy (2s/10s, canary 10s/5s/2)."""
    policy = replace(Policy(), memory_limit=None)
    bench = Bench(1, policy)
    out: dict[str, Any] = {}
    try:
        bench.healthy()  # a restart asked before the session is published goes nowhere
        for mode in ("crash", "hang", "silent"):
            times = []
            for _ in range(samples):
                bench.runtime.restart("acct-1")  # fresh budget, fresh browser
                bench.wait_event("acct-1", "child_recovered", time.perf_counter())
                t0 = time.perf_counter()
                if mode == "crash":
                    pid = bench.runtime.board.get("acct-1").details["browser_pid"]  # type: ignore[union-attr]
                    os.kill(pid, signal.SIGKILL)
                else:
                    bench.sim_post("/sim/acct-1/fault", {"mode": mode})
                t, _event = bench.wait_event("acct-1", "restart_scheduled", t0)
                times.append(t - t0)
                bench.sim_post("/sim/acct-1/fault", {"mode": "none"})
            out[f"detect_{mode}_median_s"] = round(statistics.median(times), 2)
            out[f"detect_{mode}_max_s"] = round(max(times), 2)
    finally:
        bench.close()
    return out


def memory(counts: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for n in counts:
        bench = Bench(n, replace(Policy(), memory_limit=None))
        try:
            bench.healthy()
            time.sleep(5)  # measuring an idle fleet: let start-up allocations settle
            found = [BrowserTree.find(Path(bench.tmp.name) / "profiles" / i) for i in bench.ids]
            roots = [t.pid for t in found if t is not None]
            browsers = sum(pss_bytes(members) for members in trees(roots).values())
            drivers = sum(p.memory_full_info().pss for p in psutil.Process().children()
                          if "run-driver" in " ".join(p.cmdline()))
            runtime = psutil.Process().memory_full_info().pss
            out[f"pss_per_session_{n}_MiB"] = round((browsers + drivers) / n / 2**20, 1)
            out[f"pss_browser_per_session_{n}_MiB"] = round(browsers / n / 2**20, 1)
            out[f"pss_driver_per_session_{n}_MiB"] = round(drivers / n / 2**20, 1)
            out[f"pss_runtime_process_{n}_MiB"] = round(runtime / 2**20, 1)
        finally:
            bench.close()
    return out


def inbound_latency(messages: int) -> dict[str, Any]:
    """Control-API push -> outbox commit returned (includes the simulator's socket hop)."""
    bench = Bench(1, Policy())
    try:
        bench.healthy()
        sent: dict[str, float] = {}
        for i in range(messages):
            body = f"latency-{i}"
            sent[body] = time.perf_counter()
            bench.sim_post("/sim/acct-1/messages", {"from": "bench", "body": body})
            time.sleep(0.02)  # a steady 50 messages/s, not a burst
        deadline = time.monotonic() + 30
        while len(bench.inbound.accepted) < messages and time.monotonic() < deadline:
            time.sleep(0.05)
        latencies = [(bench.inbound.accepted[b] - t) * 1000 for b, t in sent.items()
                     if b in bench.inbound.accepted]
    finally:
        bench.close()
    return {
        "inbound_messages": len(latencies),
        "inbound_p50_ms": round(pct(latencies, 50), 1),
        "inbound_p99_ms": round(pct(latencies, 99), 1),
    }


def main() -> dict[str, Any]:
    parts = [
        ("inbound", lambda: inbound_latency(100 if QUICK else 500)),
        ("recovery", lambda: recovery(3 if QUICK else 8)),
        ("detection", lambda: detection(1 if QUICK else 3)),
        ("memory", lambda: memory([1, 3] if QUICK else [1, 10, 30])),
    ]
    results: dict[str, Any] = {}
    for name, part in parts:  # one part failing (e.g. a loaded machine) keeps the others
        try:
            results.update(part())
        except Exception as exc:
            results[f"{name}_failed"] = repr(exc)
    for key, value in results.items():
        print(f"{key:45} {value}")
    return results


if __name__ == "__main__":
    main()
