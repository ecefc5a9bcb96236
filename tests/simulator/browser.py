"""The chat page in real Chromium, as the page tests drive it: a recorder of everything the page's
store fires and every frame the page sends, the simulator's control API, and the browser process."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
from playwright.sync_api import Browser, BrowserContext, Page, Playwright

from actors.browser import BrowserTree

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
WAIT_MS = 15_000  # a consequence that has not shown by then is a failure

# Installed before the page's own script, as an adapter's hook would be: `window.seen` lists
# [what, payload] for every store event and every frame the page sends, in the order they happen.
RECORDER = """
window.seen = [];
const send = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) {
  window.seen.push(["sent", JSON.parse(data)]);
  return send.call(this, data);
};
window.addEventListener("chatstore", (event) => {
  for (const name of ["add", "ack", "state", "qr"]) {
    event.detail.on(name, (payload) => window.seen.push([name, payload]));
  }
});
"""


class Control:
    """The simulator's control API, from the test thread."""

    def __init__(self, url: str, sid: str) -> None:
        self.url = url
        self.sid = sid

    def post(self, path: str, body: Any = None, *, status: int = 200) -> dict[str, Any]:
        request = urllib.request.Request(f"{self.url}/sim/{self.sid}/{path}",
                                         data=json.dumps(body or {}).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                got, answer = response.status, json.load(response)
        except urllib.error.HTTPError as error:
            got, answer = error.code, json.load(error)
        assert got == status, answer
        assert isinstance(answer, dict)
        return answer

    def push(self, body: str, sender: str = "alice") -> str:
        message_id = self.post("messages", {"from": sender, "body": body})["id"]
        assert isinstance(message_id, str)
        return message_id

    def state(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/sim/{self.sid}", timeout=10) as response:
            answer: dict[str, Any] = json.load(response)
            return answer

    def wait(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 15.0
             ) -> dict[str, Any]:
        """The session's state once `predicate` holds of it (polled until `timeout`)."""
        deadline = time.monotonic() + timeout
        while not predicate(state := self.state()):
            assert time.monotonic() < deadline, f"simulator state never matched: {state}"
            time.sleep(0.02)
        return state


class ChatPage:
    """One tab on the chat page, with the recorder installed."""

    def __init__(self, page: Page, url: str) -> None:
        self.page = page
        self.url = url

    def open(self, state: str = "connected") -> ChatPage:
        self.page.goto(self.url)
        return self.until(f"window.ChatStore.state === {json.dumps(state)}")

    def until(self, condition: str) -> ChatPage:
        """Wait until the JS expression `condition` holds in the page."""
        self.page.wait_for_function(f"() => {condition}", timeout=WAIT_MS)
        return self

    def js(self, expression: str) -> Any:
        return self.page.evaluate(f"() => {expression}")

    def seen(self, what: str | None = None) -> list[Any]:
        """What the recorder saw: payloads of `what` ("add", "ack", "sent", ...), or every pair."""
        seen: list[list[Any]] = self.js("window.seen")
        return seen if what is None else [payload for kind, payload in seen if kind == what]

    def added(self, message_id: str) -> dict[str, Any]:
        """Wait for the store's "add" of `message_id` and give its payload."""
        wanted = json.dumps(message_id)
        self.until(f"window.seen.some(([k, m]) => k === 'add' && m.id === {wanted})")
        found = [m for m in self.seen("add") if m["id"] == message_id]
        assert len(found) == 1, found
        payload: dict[str, Any] = found[0]
        return payload


def new_profile(browser: Browser) -> BrowserContext:
    """A fresh browser profile (its own IndexedDB: a device of its own) with the recorder."""
    context = browser.new_context()
    context.add_init_script(RECORDER)
    return context


def launch(pw: Playwright, profile: Path) -> BrowserContext:
    """A browser on the profile directory `profile`, with the recorder."""
    context = pw.chromium.launch_persistent_context(profile, executable_path=CHROMIUM,
                                                    headless=True, args=ARGS)
    context.add_init_script(RECORDER)
    return context


def browser_process(profile: Path) -> psutil.Process:
    """The Chromium main process running on `profile` (a child of our Playwright driver)."""
    tree = BrowserTree.find(profile)
    if tree is None:
        raise LookupError(f"no browser on {profile}")
    return tree.main


def tree_rss(main: psutil.Process) -> int:
    total = 0
    for process in [main, *main.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += process.memory_info().rss
    return total
