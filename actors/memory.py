"""Memory sampling reads every browser tree's memory on one timer, for all sessions at once.

Two figures per tree, at two costs (bench/bench_memory.py, idle trees of 9 processes):
anonymous resident memory (from `statm`), what a leaking page grows and what the limit is
checked on, costs 0.06 ms a tree; PSS (from `smaps_rollup`), which shares common pages fairly
and is what people are shown, costs 16-19 ms a tree as the kernel walks every mapping. So every
tree's anonymous memory is read on each sample, and PSS for one tree at a time, spaced out so
that it costs the same however many sessions there are. Which processes belong to which tree is
found by one scan of `/proc` for all trees (3-6 ms), every 15 samples and for each new tree.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pykka

from runtime import ChildContext, ChildSpec, Liveness, RestartBudget, SupervisedActor, Timer

__all__ = [
    "MemoryReading",
    "MemorySampler",
    "MemoryWatch",
    "anonymous_bytes",
    "pss_bytes",
    "trees",
]

logger = logging.getLogger(__name__)

PROC = Path("/proc")
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class MemoryReading:
    """One tree's memory now: anonymous resident bytes, and PSS when it was read this time."""

    anonymous: int
    pss: int | None = None


def anonymous_bytes(pids: Iterable[int], proc: Path = PROC) -> int:
    """Resident anonymous memory of `pids`: resident minus file-backed and shared pages."""
    total = 0
    root = str(proc)
    for pid in pids:
        try:  # os.open/os.read: pathlib's read_bytes took 2.5 times as long here
            fd = os.open(f"{root}/{pid}/statm", os.O_RDONLY)
            try:
                fields = os.read(fd, 256).split()
            finally:
                os.close(fd)
        except OSError:
            continue  # exited meanwhile
        total += (int(fields[1]) - int(fields[2])) * PAGE
    return total


def pss_bytes(pids: Iterable[int], proc: Path = PROC) -> int:
    """Proportional set size of `pids`, from each process's `smaps_rollup`."""
    total = 0
    for pid in pids:
        try:
            with open(proc / str(pid) / "smaps_rollup", "rb") as f:
                for line in f:
                    if line.startswith(b"Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return total


def trees(roots: Iterable[int], proc: Path = PROC) -> dict[int, list[int]]:
    """Every process under each root (the root first), from one scan of `proc`."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        try:
            stat = (proc / entry.name / "stat").read_bytes()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses; split after the last.
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found = {}
    for root in roots:
        members, todo = [], [root]
        while todo:
            pid = todo.pop()
            members.append(pid)
            todo.extend(children.get(pid, ()))
        found[root] = members
    return found


Report = Callable[[MemoryReading], None]


class MemoryWatch:
    """The trees being watched and where each one's readings go; any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watched: dict[int, Report] = {}

    def watch(self, root: int, report: Report) -> Callable[[], None]:
        """Send readings of the tree under `root` to `report`; returns the unwatcher."""
        with self._lock:
            self._watched[root] = report

        def unwatch() -> None:
            with self._lock:
                if self._watched.get(root) is report:
                    del self._watched[root]

        return unwatch

    def watched(self) -> Mapping[int, Report]:
        with self._lock:
            return dict(self._watched)


@dataclass(frozen=True, slots=True)
class _Sample:
    """The sampler's own timer."""


class MemorySampler(SupervisedActor):
    """Every `interval`, one reading per watched tree; at most every `pss_spacing`, the PSS of
    the tree whose PSS is oldest goes with it.

    Tree membership is rescanned every `rescan` samples (a page that navigates gets new
    renderers) and whenever a new tree is watched.
    """

    def __init__(self, ctx: ChildContext, watch: MemoryWatch, *, interval: float,
                 pss_spacing: float, rescan: int = 15, proc: Path = PROC) -> None:
        super().__init__(ctx)
        self.watch = watch
        self.interval = interval
        self.pss_spacing = pss_spacing
        self.rescan = rescan
        self.proc = proc
        self._timer: Timer | None = None
        self._members: dict[int, list[int]] = {}
        self._samples = 0
        self._next_pss = 0.0
        self._pss_read: dict[int, float] = {}  # when each tree's PSS was last read

    @classmethod
    def child_spec(cls, watch: MemoryWatch, *, interval: float, pss_spacing: float,
                   budget: RestartBudget | None = None, id: str = "memory") -> ChildSpec:
        return ChildSpec(
            id=id,
            start=lambda ctx: cls.start(ctx, watch, interval=interval, pss_spacing=pss_spacing),
            budget=budget or RestartBudget(),
            liveness=Liveness(heartbeat_timeout=max(10.0, 5 * interval)),
        )

    def started(self) -> None:
        self.ctx.heartbeat()
        self._timer = self.ctx.scheduler.call_every(self.interval, self._tell_sample)

    def stopped(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def receive(self, message: Any) -> Any:
        if isinstance(message, _Sample):
            self.sample()
            self.ctx.heartbeat()
            return None
        return super().receive(message)

    def sample(self) -> None:
        watched = self.watch.watched()
        if not watched:
            return
        if self._samples % self.rescan == 0 or set(watched) - set(self._members):
            self._members = trees(watched, self.proc)
        self._samples += 1
        now = self.ctx.clock.monotonic()
        pss_root = None
        if now >= self._next_pss:  # one tree, the one read longest ago (or never)
            pss_root = min(watched, key=lambda r: self._pss_read.get(r, -1.0))
            self._next_pss = now + self.pss_spacing
        for root, report in watched.items():
            pids = self._members.get(root, [root])
            pss = None
            if root == pss_root:
                pss = pss_bytes(pids, self.proc)
                self._pss_read[root] = now
            try:
                report(MemoryReading(anonymous_bytes(pids, self.proc), pss))
            except Exception:
                logger.exception("memory reading for tree %d could not be reported", root)
        for root in set(self._pss_read) - set(watched):
            del self._pss_read[root]

    def _tell_sample(self) -> None:
        with contextlib.suppress(pykka.ActorDeadError):  # stopped meanwhile
            self.actor_ref.tell(_Sample())
