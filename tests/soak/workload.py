"""The soak's steady workload: a pusher that sends inbound messages to every session through the
simulator at a fixed rate, and a sampler that records the memory of the runtime and its browsers.

Both run on their own thread and pace themselves with waits on a stop event (the pace is the
workload, not a wait for a condition); `stop()` ends and joins them.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import psutil

from tests.soak.processes import Http, WardenProcess, browsers, pss_bytes

__all__ = ["MemorySampler", "Pushed", "Pusher", "Sample"]


class _Worker:
    """A background thread running `_run` until `stop()` sets `_stop`."""

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name)

    def _run(self) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)


@dataclass(frozen=True, slots=True)
class Pushed:
    """A message the simulator accepted: it must reach the receiver."""

    session: str
    id: str
    body: str
    at: float  # wall seconds


class Pusher(_Worker):
    """Pushes `rate` messages a second to each session, round robin, until stopped."""

    def __init__(self, sim: Http, sessions: tuple[str, ...], rate: float) -> None:
        self.sim = sim
        self.sessions = sessions
        self.interval = 1.0 / (rate * len(sessions))
        self.refused = 0  # pushes the simulator did not accept (not expected anywhere)
        self._pushed: list[Pushed] = []
        self._lock = threading.Lock()
        super().__init__("soak-pusher")

    def pushed(self) -> list[Pushed]:
        with self._lock:
            return list(self._pushed)

    def _run(self) -> None:
        n = 0
        next_at = time.monotonic()
        while not self._stop.is_set():
            session = self.sessions[n % len(self.sessions)]
            n += 1
            body = f"soak message {n} to {session}"
            at = time.time()
            answer = self.sim.request("POST", f"/sim/{session}/messages",
                                      {"from": f"+4915{n % 7:07d}", "body": body})
            if answer is not None and answer[0] == 200 and isinstance(answer[1], dict):
                with self._lock:
                    self._pushed.append(Pushed(session, str(answer[1]["id"]), body, at))
            else:
                self.refused += 1
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))


@dataclass(frozen=True, slots=True)
class Sample:
    at: float  # wall seconds
    incarnation: int  # which start of the runtime (1, 2, ...)
    runtime_rss: int | None  # None while the runtime is down
    drivers_pss: int  # the runtime's Playwright drivers (node)
    browsers_pss: int  # every process of every browser of the soak
    browser_processes: int


class MemorySampler(_Worker):
    """Every `interval` seconds: the runtime's RSS, its drivers' PSS, its browsers' total PSS."""

    def __init__(self, warden: WardenProcess, profiles: Path, interval: float = 10.0) -> None:
        self.warden = warden
        self.profiles = profiles
        self.interval = interval
        self.samples: list[Sample] = []
        super().__init__("soak-memory")

    def sample(self) -> Sample:
        rss, drivers = None, 0
        pid = self.warden.pid
        if pid is not None:
            with contextlib.suppress(psutil.Error):
                runtime = psutil.Process(pid)
                rss = runtime.memory_info().rss
                drivers = pss_bytes(p for p in runtime.children()
                                    if p.name().startswith("node"))  # "node-MainThread"
        procs = browsers(self.profiles)
        return Sample(time.time(), len(self.warden.incarnations), rss, drivers, pss_bytes(procs),
                      len(procs))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append(self.sample())
