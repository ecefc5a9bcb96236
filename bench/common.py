"""Helpers shared by benchmarks: order statistics, the machine they ran on, and tables."""

from __future__ import annotations

import datetime
import math
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "Figures", "cpu_seconds", "machine", "median", "percentile", "print_figures",
    "render_markdown", "thread_cpu_seconds", "wait_until",
]

# What a benchmark's main() returns: scalars, and tables as lists of rows with the same keys.
Figures = dict[str, Any]


def percentile(values: Iterable[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Iterable[float]) -> float:
    values = list(values)
    return statistics.median(values) if values else math.nan


def thread_cpu_seconds(thread: threading.Thread) -> float:
    """CPU time (user + system) used so far by `thread`, read from outside it (Linux)."""
    assert thread.ident is not None, "the thread has not started"
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


def cpu_seconds() -> float:
    """CPU time used so far by this whole process, all threads."""
    return time.process_time()


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.005) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def machine() -> dict[str, str]:
    """The CPU model, core count, Python version and date of this run."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                     else os.cpu_count()),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def render_markdown(figures: Mapping[str, Any]) -> str:
    """Scalars as one figure/value table, then each list of rows as a table of its own."""
    scalars = [(k, v) for k, v in figures.items() if not isinstance(v, list)]
    lines: list[str] = []
    if scalars:
        lines += _table(("figure", "value"), scalars)
    for key, rows in figures.items():
        if isinstance(rows, list) and rows:
            header = list(rows[0])
            lines += ["", f"{key}:", ""]
            lines += _table(header, ([row.get(h, "") for h in header] for row in rows))
    return "\n".join(lines)


def print_figures(title: str, figures: Mapping[str, Any]) -> None:
    print(f"\n== {title}")
    print(render_markdown(figures))
