"""`warden login SESSION`: the session's login QR code in the terminal, redrawn as it changes,
until the session is healthy (exit 0), or a clear reason why not (exit 1)."""

from __future__ import annotations

import sys
import time
import urllib.parse
from collections.abc import Callable
from typing import Any, TextIO

import segno

from warden.control import ApiFailure, ask

__all__ = ["login", "render"]

CLEAR = "\x1b[H\x1b[2J"  # cursor home, clear screen: redraw in place on a terminal
GIVEN_UP = ("failed", "stopped")


def render(payload: str, out: TextIO) -> None:
    """The QR code of `payload` in Unicode half blocks: two rows of modules a line."""
    segno.make(payload, error="l").terminal(out=out, compact=True, border=2)


def login(session: str, url: str, token: str, *, out: TextIO | None = None,
          err: TextIO | None = None, interval: float = 1.0,
          sleep: Callable[[float], None] = time.sleep) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    path = f"/sessions/{urllib.parse.quote(session, safe='')}"
    refusals = {404: lambda _: f"no session {session}"}
    shown = None
    try:
        first = ask("GET", url, path, token, expect=200, refusals=refusals)
        if _state(first) != "auth_required":
            print(f"{session} is not waiting for a login (state: {_state(first)})", file=err)
            return 1
        while True:
            current = ask("GET", url, path, token, expect=200, refusals=refusals)
            state = _state(current)
            if state == "healthy":
                print(f"{session}: logged in", file=out)
                return 0
            if state in GIVEN_UP:
                print(f"{session} is {state}: start it again (warden start {session})", file=err)
                return 1
            if state == "auth_required":
                code = _code(url, path, token)
                if code is not None and code != shown:
                    shown = code
                    if out.isatty():
                        out.write(CLEAR)
                    render(code, out)
                    print(f"Scan this code with the app on the phone to log {session} in. "
                          "It changes about every 20 s; it is redrawn when it does.",
                          file=out, flush=True)
            sleep(interval)
    except ApiFailure as failure:
        print(failure.message, file=err)
        return failure.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=err)
        return 1


def _state(session: Any) -> str:
    return str(session.get("state")) if isinstance(session, dict) else "unknown"


def _code(url: str, path: str, token: str) -> str | None:
    """The payload the QR code encodes now, or None while there is none (409)."""
    none_now = "no code now"
    try:
        answer = ask("GET", url, f"{path}/qr?format=json", token, expect=200,
                     refusals={409: lambda _: none_now})
    except ApiFailure as failure:
        if failure.message == none_now:
            return None
        raise
    code = answer.get("qr") if isinstance(answer, dict) else None
    return code if isinstance(code, str) and code else None
