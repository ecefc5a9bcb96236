"""The control client is the CLI's side of the HTTP API: `warden status|restart|stop|start|reload`.

Standard library only (urllib). Exit codes: 0 ok, 1 the runtime cannot be reached or failed,
2 bad usage (a URL that is not http:// or https://, unauthorized, unknown session).
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, TextIO

__all__ = ["ApiFailure", "check_token", "check_url", "command", "format_table", "reload",
           "status", "url_of"]

Action = Literal["restart", "stop", "start"]
TIMEOUT = 10.0
RELOAD_TIMEOUT = 150.0  # a reload waits for sessions to stop, and for a reload before it
UNAUTHORIZED = "unauthorized: pass --token or set WARDEN_API_TOKEN"


class ApiFailure(Exception):
    """A request that did not succeed, with the message to print and the exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def check_url(url: str) -> str:
    """`url` if it is an http:// or https:// URL with a host (and a valid port, if any);
    otherwise an ApiFailure with exit code 2 (bad usage)."""
    problem = f"invalid URL {url!r}: expected http://HOST:PORT or https://HOST:PORT"
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ApiFailure(problem, 2)
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not 0-65535
    except ValueError:
        raise ApiFailure(problem, 2) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ApiFailure(problem, 2)
    return url


def check_token(token: str) -> str:
    """`token` if an HTTP header can carry it; an ApiFailure (exit 2) that does not echo it."""
    if any(c.isspace() or not c.isprintable() for c in token):
        raise ApiFailure("invalid --token (or WARDEN_API_TOKEN): it must not contain spaces "
                         "or control characters", 2)
    return token


def url_of(host: str, port: int) -> str:
    """The URL that reaches a front listening on `host:port` from this machine."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _request(method: str, url: str, token: str, timeout: float = TIMEOUT) -> tuple[int, Any]:
    headers = {"Accept": "application/json"}
    if token:
        # Sent as UTF-8 bytes (http.client writes header text as Latin-1): `tök` and `t€k`
        # arrive as the front compares them.
        headers["Authorization"] = f"Bearer {token}".encode().decode("latin-1")
    request = urllib.request.Request(url, method=method, headers=headers,
                                     data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, _json(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, _json(exc.read())
    except urllib.error.URLError as exc:
        raise ApiFailure(_unreachable(url, exc.reason), 1) from None
    except (TimeoutError, ConnectionError) as exc:
        raise ApiFailure(_unreachable(url, exc), 1) from None
    except ValueError as exc:  # what check_url cannot see, e.g. a host the idna codec refuses
        raise ApiFailure(f"invalid URL {url!r}: {exc}", 2) from None


def _unreachable(url: str, reason: object) -> str:
    base = url.split("/", 3)
    where = "/".join(base[:3]) if len(base) >= 3 else url
    if isinstance(reason, ConnectionRefusedError):
        why = "connection refused"
    elif isinstance(reason, TimeoutError):
        why = "timed out"
    else:
        why = str(getattr(reason, "strerror", None) or reason)
    return f"cannot reach warden at {where}: {why} — is `warden run` running?"


def _json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def _error_text(body: Any, status: int) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return f"HTTP {status}"


def ask(method: str, url: str, path: str, token: str, expect: int,
        refusals: Mapping[int, Callable[[str], str]] | None = None) -> Any:
    """The body of an answer with status `expect`; otherwise an ApiFailure saying why.

    `refusals` turns other statuses (given the answer's error text) into bad-usage messages.
    """
    code, body = _request(method, check_url(url).rstrip("/") + path, check_token(token))
    if code == expect:
        return body
    if code == 401:
        raise ApiFailure(UNAUTHORIZED, 2)
    refusal = (refusals or {}).get(code)
    if refusal is not None:
        raise ApiFailure(refusal(_error_text(body, code)), 2)
    raise ApiFailure(f"warden at {url} answered {_error_text(body, code)}", 1)


def status(url: str, token: str, as_json: bool, *, out: TextIO | None = None,
           err: TextIO | None = None, now: Callable[[], float] = time.time) -> int:
    """Print the sessions of the runtime at `url` as a table, then its problems if it has any
    (or the raw JSON of the sessions)."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        body = ask("GET", url, "/sessions", token, expect=200)
        if not isinstance(body, dict) or not isinstance(body.get("sessions"), list):
            raise ApiFailure(f"warden at {url} answered {_error_text(body, 200)}", 1)
    except ApiFailure as failure:
        print(failure.message, file=err)
        return failure.exit_code
    if as_json:
        print(json.dumps(body, indent=2), file=out)
        return 0
    print(format_table(body["sessions"], now()), file=out)
    problems = _problems(url, token)
    if problems:
        print("\nPROBLEMS", *(f"  - {problem}" for problem in problems), sep="\n", file=out)
    return 0


def _problems(url: str, token: str) -> list[str]:
    """What /healthz/detail says is wrong (503: the root does not run); nothing when it cannot
    say (an older runtime)."""
    try:
        code, detail = _request("GET", check_url(url).rstrip("/") + "/healthz/detail",
                                check_token(token))
    except ApiFailure:
        return []
    if code not in (200, 503):
        return []
    problems = detail.get("problems") if isinstance(detail, dict) else None
    return [p for p in problems if isinstance(p, str)] if isinstance(problems, list) else []


def command(action: Action, session: str, url: str, token: str, *,
            out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Ask the runtime at `url` to restart, stop or start `session`."""
    out, err = out or sys.stdout, err or sys.stderr
    if action not in ("restart", "stop", "start"):
        print(f"unknown action {action!r}", file=err)
        return 2
    path = f"/sessions/{urllib.parse.quote(session, safe='')}/{action}"
    try:
        body = ask("POST", url, path, token, expect=202, refusals={
            404: lambda _: f"no session {session}",
            400: lambda error: f"bad request: {error}",
        })
    except ApiFailure as failure:
        print(failure.message, file=err)
        return failure.exit_code
    message = body.get("message") if isinstance(body, dict) else None
    print(f"{session}: {message or action + ' initiated'}", file=out)
    return 0


def reload(url: str, token: str, file: str, *, out: TextIO | None = None,
           err: TextIO | None = None) -> int:
    """Ask the runtime at `url` to re-read its config file (`file` was validated here)."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        code, body = _request("POST", check_url(url).rstrip("/") + "/reload", check_token(token),
                              timeout=RELOAD_TIMEOUT)
    except ApiFailure as failure:
        print(failure.message, file=err)
        return failure.exit_code
    if code == 401:
        print(UNAUTHORIZED, file=err)
        return 2
    if code != 202 or not isinstance(body, dict):
        what = ("it has no /reload (an older warden?)" if code == 404
                else _error_text(body, code))
        print(f"warden at {url}: {what}", file=err)
        errors = body.get("errors") if isinstance(body, dict) else None
        for line in errors if isinstance(errors, list) else ():
            print(f"  {line}", file=err)
        return 2 if code == 400 else 1
    counts = ", ".join(f"{len(body.get(k) or [])} {k}" for k in
                       ("added", "removed", "restarted", "unchanged"))
    print(f"reloaded {body.get('file') or file}: {counts}", file=out)
    for key in ("added", "removed", "restarted"):
        if body.get(key):
            print(f"  {key}: {', '.join(map(str, body[key]))}", file=out)
    running = body.get("file")
    if isinstance(running, str) and os.path.realpath(running) != os.path.realpath(file):
        print(f"note: the running warden reads {running}, not {file} (checked here)", file=err)
    return 0


# --- the table ----------------------------------------------------------------------------------

HEADERS = ("SESSION", "STATE", "RESTARTS", "LAST REASON", "HEARTBEAT", "ACTIVITY", "MEMORY",
           "PID")


def format_table(sessions: Sequence[dict[str, Any]], now: float) -> str:
    """Sessions as aligned columns; ages are measured against `now` (wall-clock seconds).

    ABANDONED (threads left blocked after a kill) is a column only when one is non-zero: it
    is a fault to look into, and a column of zeros would hide that it appeared.
    """
    if not sessions:
        return "no sessions"
    abandoned = any(s.get("abandoned") for s in sessions)
    headers = (*HEADERS, "ABANDONED") if abandoned else HEADERS
    rows: list[tuple[str, ...]] = [headers]
    for s in sessions:
        memory = s.get("memory_bytes")
        extra = (str(s.get("abandoned") or 0),) if abandoned else ()
        rows.append((
            str(s.get("id")),
            str(s.get("state")),
            f"{s.get('restarts', 0)}/{s.get('restarts_total', 0)}",
            s.get("last_restart_reason") or "-",
            _age(now, s.get("last_heartbeat")),
            _age(now, s.get("last_activity")),
            "-" if memory is None else f"{memory / 2**20:.0f} MiB",
            "-" if s.get("browser_pid") is None else str(s.get("browser_pid")),
            *extra,
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows)


def _age(now: float, stamp: object) -> str:
    if not isinstance(stamp, str):
        return "-"
    try:
        then = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return "?"
    seconds = max(0.0, now - then)
    if seconds < 10:
        return f"{seconds:.1f}s ago"
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"
