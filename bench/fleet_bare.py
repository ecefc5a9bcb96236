"""The bare baseline of `bench fleet`: N chat pages from one Playwright driver, nothing else.

Run as its own process by bench_fleet (`python -m bench.fleet_bare N SIM_URL PROFILES`): it
launches N persistent Chromium contexts on one async driver, as many at once as Warden's launch
gate allows, opens the simulator's chat page in each, prints `up SECONDS`, then idles until
killed. This is what running the same browsers costs without any supervision.
"""

from __future__ import annotations

import asyncio
import sys
import time

from playwright.async_api import BrowserContext, async_playwright

from actors.browser import DEFAULT_ARGS, resolve_executable
from actors.launch import default_launches

READY = "() => window.ChatStore && window.ChatStore.state === 'connected'"


async def main(n: int, sim_url: str, profiles: str) -> None:
    executable = resolve_executable("auto")
    started = time.monotonic()
    async with async_playwright() as pw:
        gate = asyncio.Semaphore(default_launches())

        async def one(i: int) -> BrowserContext:
            async with gate:
                context = await pw.chromium.launch_persistent_context(
                    f"{profiles}/bare-{i}", executable_path=executable, headless=True,
                    args=list(DEFAULT_ARGS), timeout=120_000)
                page = context.pages[0]
                await page.goto(f"{sim_url}/chat/bare-{i}", timeout=120_000)
                await page.wait_for_function(READY, timeout=120_000, polling=50)
                return context

        contexts = await asyncio.gather(*(one(i) for i in range(n)))
        print(f"up {time.monotonic() - started:.3f}", flush=True)
        await asyncio.Event().wait()  # idle until killed
        for context in contexts:  # not reached: the bench kills this process
            await context.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
