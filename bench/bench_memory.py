"""Memory-reading benchmark: what each way of reading a browser tree's memory costs, on real
idle Chromium trees, so the sampler's intervals follow from the figures.

Reads per tree: anonymous resident memory (`statm`, what the limit is checked on), PSS
(`smaps_rollup`, what people are shown), and one `/proc` scan that finds every tree's
processes. `python -m bench memory 6` sets how many browsers (default 4).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from typing import Any

from actors.browser import DEFAULT_ARGS, BrowserTree, resolve_executable
from actors.driver import Driver
from actors.memory import anonymous_bytes, pss_bytes, trees

ROUNDS = 50


def timed(read: Any, rounds: int = ROUNDS) -> float:
    """Median CPU milliseconds of one call of `read()` (process time: immune to waiting)."""
    samples = []
    for _ in range(rounds):
        t0 = time.process_time()
        read()
        samples.append((time.process_time() - t0) * 1000)
    return statistics.median(samples)


def main(browsers: str = "4") -> dict[str, Any]:
    n = int(browsers)
    executable = resolve_executable("auto")
    driver = Driver("bench-memory").start()
    contexts = []
    try:
        with tempfile.TemporaryDirectory() as state:
            profiles = [f"{state}/p{i}" for i in range(n)]

            async def launch(profile: str) -> Any:
                context = await driver.playwright.chromium.launch_persistent_context(
                    profile, executable_path=executable, headless=True, args=list(DEFAULT_ARGS))
                await context.pages[0].goto("data:text/html,<p>idle</p>")
                return context

            contexts = [driver.run(launch(p), 60) for p in profiles]
            time.sleep(3)  # let start-up settle
            from pathlib import Path
            roots = [t.pid for t in (BrowserTree.find(Path(p)) for p in profiles) if t]
            members = trees(roots)
            per_tree = statistics.mean(len(m) for m in members.values())
            figures = {
                "browsers": n,
                "processes_per_tree": round(per_tree, 1),
                "scan_all_trees_ms": round(timed(lambda: trees(roots), 20), 2),
                "anonymous_one_tree_ms": round(timed(lambda: anonymous_bytes(members[roots[0]])),
                                               3),
                "pss_one_tree_ms": round(timed(lambda: pss_bytes(members[roots[0]]), 20), 2),
            }
            figures["anonymous_all_trees_ms"] = round(
                figures["anonymous_one_tree_ms"] * len(roots), 2)
    finally:
        for context in contexts:
            driver.run(asyncio.wait_for(context.close(), 10), 15)
        driver.stop()
    for key, value in figures.items():
        print(f"{key:28} {value}")
    return figures


if __name__ == "__main__":
    main()
