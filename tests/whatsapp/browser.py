"""A test's browser on the double: real Chromium on a profile of its own, driven through
Playwright's async API on a shared `Driver` loop; the test thread waits on each call.

`Browser.open()` loads the double's page and waits for `window.require`; `watch(page)` hooks
the page's own collections the way an adapter would and records what they fire in
`window.__seen`, which `seen(page)` reads back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import psutil
from playwright.async_api import BrowserContext, Page

from actors.driver import Driver
from tests.simulator.browser import ARGS, CHROMIUM, browser_process

__all__ = ["CHROMIUM", "Browser", "connected", "js", "run", "seen", "state_is", "use", "wait_js",
           "watch"]

WAIT = 15.0  # seconds a consequence may take before the test fails
T = TypeVar("T")

# Hooks as an adapter installs them: on the collections and models, through window.require.
WATCH = """() => {
  if (window.__seen) return;
  const seen = window.__seen = { adds: [], acks: [], types: [], states: [], refs: [], synced: 0 };
  const { Msg } = window.require('WAWebCollections');
  const { Socket } = window.require('WAWebSocketModel');
  const { Conn } = window.require('WAWebConnModel');
  const brief = (m) => ({ id: m.id._serialized, body: m.body, type: m.type, ack: m.ack,
                          isNewMsg: m.isNewMsg, fromMe: m.id.fromMe, t: m.t,
                          from: m.from._serialized, to: m.to._serialized });
  Msg.on('add', (m) => seen.adds.push(brief(m)));
  Msg.on('change:ack', (m, ack) => seen.acks.push({ id: m.id._serialized, ack }));
  Msg.on('change:type', (m) => seen.types.push(brief(m)));
  Socket.on('change:state', (_socket, state) => seen.states.push(state));
  Socket.on('change:hasSynced', () => { seen.synced += 1; });
  Conn.on('change:ref', (_conn, ref) => seen.refs.push(ref));
}"""


# Hooks them the moment the page defines window.require (the double's modules exist by then),
# so a test sees every event of the load; an adapter polls instead (see snippets.HOOKS_INIT).
WATCH_INIT = """(() => {
  let loader;
  Object.defineProperty(window, 'require', {
    configurable: true,
    get() { return loader; },
    set(value) {
      loader = value;
      try { (__WATCH__)(); } catch (error) { console.error('watch failed', error); }
    },
  });
})();""".replace("__WATCH__", WATCH)


class Browser:
    """One Chromium on one profile; `kill()` is kill -9 of its main process."""

    def __init__(self, profile: Path, url: str) -> None:
        self.profile = profile
        self.url = url
        self.context: BrowserContext | None = None

    def launch(self) -> Browser:
        self.context = run(_DRIVER[0].playwright.chromium.launch_persistent_context(
            self.profile, executable_path=CHROMIUM, headless=True, args=ARGS))
        run(self.context.add_init_script(WATCH_INIT))
        return self

    def page(self) -> Page:
        assert self.context is not None
        return run(self.context.new_page())

    def open(self, page: Page | None = None, path: str = "/") -> Page:
        """Load the double's page and wait for its module loader (and the test's hooks)."""
        page = page or self.page()
        run(page.goto(self.url + path))
        wait_js(page, "() => typeof window.require === 'function'")
        watch(page)
        return page

    def reload(self, page: Page) -> Page:
        run(page.reload())
        wait_js(page, "() => typeof window.require === 'function'")
        return page

    def main_process(self) -> psutil.Process:
        return browser_process(self.profile)

    def kill(self) -> None:
        """kill -9 the browser and every process of it, then let Playwright see it gone."""
        main = self.main_process()
        tree = [main, *main.children(recursive=True)]
        for process in tree:
            with contextlib.suppress(psutil.Error):
                process.kill()
        psutil.wait_procs(tree, timeout=10)
        self.close()

    def close(self) -> None:
        context, self.context = self.context, None
        if context is not None:
            with contextlib.suppress(Exception):
                run(context.close(), timeout=20.0)


def js(page: Page, expression: str, arg: Any = None, timeout: float = WAIT) -> Any:
    """Evaluate `expression` (a function source) in the page; its JSON-able result."""
    return run(page.evaluate(expression, arg), timeout)


def wait_js(page: Page, expression: str, arg: Any = None, timeout: float = WAIT) -> Any:
    """Wait until `expression` returns something truthy in the page (Playwright polls on each
    animation frame); that value."""
    async def wait() -> Any:
        handle = await page.wait_for_function(expression, arg=arg, timeout=timeout * 1000)
        return await handle.json_value()

    return run(wait(), timeout + 5.0)


def state_is(page: Page, *states: str, timeout: float = WAIT) -> str:
    """Wait until the page's Socket.state is one of `states`; that state."""
    found: str = wait_js(page, """(states) => {
      const state = window.require('WAWebSocketModel').Socket.state;
      return states.includes(state) && state;
    }""", list(states), timeout=timeout)
    return found


def connected(page: Page) -> None:
    state_is(page, "CONNECTED")


def watch(page: Page) -> None:
    js(page, WATCH)


def seen(page: Page) -> dict[str, Any]:
    found: dict[str, Any] = js(page, "() => window.__seen")
    return found


_DRIVER: list[Driver] = []  # the module fixture's driver, while it runs


def use(driver: Driver | None) -> None:
    """Set (or, with None, clear) the driver every helper here runs its calls on."""
    _DRIVER.clear()
    if driver is not None:
        _DRIVER.append(driver)


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    if not _DRIVER:
        coro.close()
        raise RuntimeError("no driver: use the `driver` fixture")
    return _DRIVER[0].run(coro, timeout)
