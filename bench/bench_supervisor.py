"""Supervisor benchmark: heartbeats absorbed per second, the supervisor's CPU share with 100 to
5,000 children heartbeating at 1 Hz, and how soon a missed heartbeat is acted on, beside raw pykka
tell throughput measured in the same run.

Children are idle pykka actors; their heartbeats are driven by a few driver threads calling
`ctx.heartbeat()`, as a session's own loop would. Figures only; nothing passes or fails on time.
Sizes can be cut for a quick look with WARDEN_BENCH_QUICK=1.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import pykka

from bench.common import (
    cpu_seconds,
    median,
    percentile,
    print_figures,
    thread_cpu_seconds,
    wait_until,
)
from runtime import (
    Backoff,
    ChildContext,
    ChildSpec,
    EventBus,
    EventName,
    LifecycleEvent,
    Liveness,
    RestartBudget,
    Runtime,
    SupervisedActor,
    SupervisorSpec,
)

QUICK = os.environ.get("WARDEN_BENCH_QUICK") == "1"
TICK = 0.5
HEARTBEAT_TIMEOUT = 3.0
STACK_SIZE = 256 * 1024  # 5,000 idle actor threads do not need 8 MiB stacks each


class Idle(SupervisedActor):
    """A child that does nothing; its heartbeats come from a driver thread."""


class Counter(pykka.ThreadingActor):
    """The baseline: an actor that only counts what it is told."""

    def __init__(self, total: int, done: threading.Event) -> None:
        super().__init__()
        self.count = 0
        self.total = total
        self.done = done

    def on_receive(self, message: Any) -> Any:
        self.count += 1
        if self.count == self.total:
            self.done.set()
        return None


def pykka_tell_rate(messages: int, producers: int) -> float:
    """Messages per second through one plain pykka actor, told by `producers` threads."""
    done = threading.Event()
    ref = Counter.start(messages, done)
    share = messages // producers

    def produce(n: int) -> None:
        for _ in range(n):
            ref.tell(None)

    threads = [threading.Thread(target=produce, args=(share + (messages % producers if i == 0
                                                               else 0),))
               for i in range(producers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    done.wait()
    elapsed = time.perf_counter() - started
    for thread in threads:
        thread.join()
    ref.stop()
    return messages / elapsed


class Fleet:
    """A runtime whose root supervises `n` idle children, and the drivers of their heartbeats."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.contexts: list[ChildContext | None] = [None] * n
        self.silent: set[int] = set()
        self.last_beat: dict[int, float] = {}
        self.decided: dict[str, float] = {}
        self.restarts = 0
        self._stop = threading.Event()
        self._drivers: list[threading.Thread] = []
        budget = RestartBudget(max_restarts=1000, backoff=Backoff(initial=0.1, max=0.1))
        specs = tuple(
            ChildSpec(id=f"c{i}", start=self._starter(i), shutdown_timeout=2.0, budget=budget,
                      liveness=Liveness(heartbeat_timeout=HEARTBEAT_TIMEOUT))
            for i in range(n))
        self.events = EventBus()
        self.events.subscribe(self._hear)
        spec = SupervisorSpec(id="bench", children=specs, tick=TICK, parallel_stop=True)
        started = time.perf_counter()
        self.runtime = Runtime(spec, events=self.events).start()
        assert wait_until(lambda: all(c is not None for c in self.contexts), 120)
        self.startup_seconds = time.perf_counter() - started
        ctx = self.runtime.root_context
        assert ctx is not None and wait_until(lambda: ctx.thread is not None, 10)
        assert ctx.thread is not None
        self.supervisor_thread = ctx.thread
        self.supervisor_ctx = ctx
        self.board = self.runtime.board
        for child in self.contexts:  # one heartbeat each: every child healthy before measuring
            assert child is not None
            child.heartbeat()
        assert wait_until(lambda: sum(s.state == "healthy" for s in self.board.children()) == n,
                          120)

    def _starter(self, i: int) -> Any:
        def start(ctx: ChildContext) -> pykka.ActorRef[Any]:
            self.contexts[i] = ctx
            return Idle.start(ctx)

        return start

    def _hear(self, event: LifecycleEvent) -> None:
        if event.name is EventName.RESTART_SCHEDULED:
            self.restarts += 1
            if event.child not in self.decided:
                self.decided[event.child] = time.monotonic()

    # --- heartbeat drivers ---------------------------------------------------------------------

    def drive(self, rate: float, drivers: int, slots: int = 20) -> None:
        """Heartbeat every child `rate` times a second, spread evenly over the second."""
        for d in range(drivers):
            mine = list(range(d, self.n, drivers))
            thread = threading.Thread(target=self._paced, args=(mine, rate, slots),
                                      name=f"bench-driver-{d}", daemon=True)
            self._drivers.append(thread)
            thread.start()

    def _paced(self, mine: list[int], rate: float, slots: int) -> None:
        period = 1.0 / rate / slots
        chunks = [mine[s::slots] for s in range(slots)]
        next_at = time.monotonic()
        slot = 0
        while not self._stop.is_set():
            now = time.monotonic()
            for i in chunks[slot]:
                ctx = self.contexts[i]
                if ctx is not None and i not in self.silent:
                    ctx.heartbeat()
                    self.last_beat[i] = now
            slot = (slot + 1) % slots
            next_at += period
            delay = next_at - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)

    def flood(self, total: int, drivers: int) -> None:
        """Send `total` heartbeats as fast as `drivers` threads can."""
        def run(mine: list[int], count: int) -> None:
            contexts = [self.contexts[i] for i in mine]
            sent = 0
            while sent < count:
                for ctx in contexts:
                    if sent == count:
                        break
                    assert ctx is not None
                    ctx.heartbeat()
                    sent += 1

        threads = [threading.Thread(target=run, args=(list(range(d, self.n, drivers)),
                                                      total // drivers))
                   for d in range(drivers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def stop_drivers(self) -> None:
        self._stop.set()
        for thread in self._drivers:
            thread.join()
        self._drivers.clear()
        self._stop.clear()

    def close(self) -> float:
        self.stop_drivers()
        started = time.perf_counter()
        self.runtime.stop(timeout=120)
        return time.perf_counter() - started


def saturation(fleet: Fleet, total: int, drivers: int) -> dict[str, float]:
    """How many heartbeats a second the supervisor absorbs when flooded."""
    ctx = fleet.supervisor_ctx
    before, cpu_before = ctx.messages, thread_cpu_seconds(fleet.supervisor_thread)
    started = time.perf_counter()
    fleet.flood(total, drivers)
    assert wait_until(lambda: ctx.messages - before >= total, 300)
    elapsed = time.perf_counter() - started
    cpu = thread_cpu_seconds(fleet.supervisor_thread) - cpu_before
    return {"per_s": total / elapsed, "cpu_us_per_heartbeat": cpu / total * 1e6}


def steady(fleet: Fleet, seconds: float) -> dict[str, float]:
    """Heartbeats handled per second and CPU shares over `seconds` of 1 Hz heartbeats."""
    ctx = fleet.supervisor_ctx
    messages, sup_cpu, all_cpu = ctx.messages, thread_cpu_seconds(fleet.supervisor_thread), \
        cpu_seconds()
    started = time.perf_counter()
    time.sleep(seconds)
    elapsed = time.perf_counter() - started
    return {
        "handled_per_s": (ctx.messages - messages) / elapsed,
        "supervisor_cpu_pct": (thread_cpu_seconds(fleet.supervisor_thread) - sup_cpu)
        / elapsed * 100,
        "process_cpu_pct": (cpu_seconds() - all_cpu) / elapsed * 100,
    }


def detection(fleet: Fleet, samples: int) -> list[float]:
    """Seconds from a child's last heartbeat to its restart decision, for `samples` children."""
    victims = [fleet.n // (samples + 1) * (k + 1) for k in range(samples)]
    for i in victims:
        fleet.silent.add(i)
        time.sleep(0.37)  # spread the victims over different phases of the supervisor's tick
    ids = [f"c{i}" for i in victims]
    assert wait_until(lambda: all(c in fleet.decided for c in ids), HEARTBEAT_TIMEOUT * 4 + 30)
    return [fleet.decided[f"c{i}"] - fleet.last_beat[i] for i in victims]


def main() -> dict[str, Any]:
    old_stack = threading.stack_size(STACK_SIZE)
    try:
        return _main()
    finally:
        threading.stack_size(old_stack)


def _main() -> dict[str, Any]:
    flood_total = 50_000 if QUICK else 200_000
    baseline_1 = pykka_tell_rate(flood_total, producers=1)
    baseline_4 = pykka_tell_rate(flood_total, producers=4)
    figures: dict[str, Any] = {
        "baseline: pykka tell, 1 producer (msg/s)": baseline_1,
        "baseline: pykka tell, 4 producers (msg/s)": baseline_4,
    }

    fleet = Fleet(1000)
    try:
        flooded = saturation(fleet, flood_total, drivers=4)
    finally:
        fleet.close()
    figures["saturation: heartbeats absorbed (per s), 1,000 children, 4 drivers"] = (
        flooded["per_s"])
    figures["saturation / pykka tell baseline (4 producers)"] = flooded["per_s"] / baseline_4
    figures["saturation: supervisor CPU per heartbeat (us)"] = flooded["cpu_us_per_heartbeat"]
    # The flood is limited by its producers sharing the GIL; this is what the supervisor's own
    # thread could absorb if the heartbeats cost their senders nothing.
    figures["supervisor capacity: 1 s / CPU per heartbeat (per s)"] = (
        1e6 / flooded["cpu_us_per_heartbeat"])

    rows = []
    latencies: list[float] = []
    window = 5.0 if QUICK else 10.0
    for n in ([100, 1000] if QUICK else [100, 1000, 5000]):
        fleet = Fleet(n)
        try:
            fleet.drive(rate=1.0, drivers=max(1, n // 500))
            time.sleep(2.0)  # every child has become healthy and the drivers are in step
            load = steady(fleet, window)
            unexpected = fleet.restarts  # nobody was silenced yet: any restart is a false alarm
            if n == 1000:
                latencies = detection(fleet, 3 if QUICK else 6)
        finally:
            stop_seconds = fleet.close()
        rows.append({
            "children": n,
            "expected heartbeats/s": n,
            "handled msg/s": round(load["handled_per_s"]),
            "supervisor CPU (% of a core)": load["supervisor_cpu_pct"],
            "whole process CPU (%)": load["process_cpu_pct"],
            "false heartbeat restarts": unexpected,
            "start all (s)": fleet.startup_seconds,
            "stop all (s)": stop_seconds,
        })
    figures["missed heartbeat -> restart decision: median (s)"] = median(latencies)
    figures["missed heartbeat -> restart decision: p95 (s)"] = percentile(latencies, 95)
    figures["missed heartbeat -> restart decision: max (s)"] = max(latencies)
    figures["bound: heartbeat timeout + one tick (s)"] = HEARTBEAT_TIMEOUT + TICK
    figures["detection samples"] = len(latencies)
    figures["1 Hz heartbeats"] = rows
    print_figures("supervisor", figures)
    return figures


if __name__ == "__main__":
    main()
