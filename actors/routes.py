"""The routes are the HTTP API of SPEC §4 as an aiohttp application: auth, errors, handlers.

Handlers run on the front's event loop and read only the status board, so they answer at
once however the sessions are doing; anything that may touch disk (outbox figures, a metrics
scrape) runs in the loop's executor.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from actors.demo_sink import SinkRejected
from actors.front import FrontDeps, foreign_request
from actors.views import (
    RenderCache,
    dumps,
    event_json,
    health_json,
    iso,
    session_json,
    sessions_json,
    sink_json,
    webhook_json,
)
from runtime import ChildStatus
from warden.config import HttpConfig, is_loopback

__all__ = ["MAX_BODY", "ApiError", "build_app"]

logger = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
DASHBOARD = Path(__file__).parent / "dashboard"
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # fullmatch: `$` would take a final "\n"
LIMIT = re.compile(r"[0-9]{1,9}")
ACTIONS = {"restart": "restart", "stop": "stop", "start": "start", "disconnect": "stop"}
MESSAGES = {"restart": "Session restart initiated", "stop": "Session stop initiated",
            "start": "Session start initiated"}

DEPS = web.AppKey("deps", FrontDeps)
CONFIG = web.AppKey("config", HttpConfig)
CACHE = web.AppKey("cache", RenderCache)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(config: HttpConfig, deps: FrontDeps) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_errors, _same_origin, _auth])
    app[DEPS] = deps
    app[CONFIG] = config
    app[CACHE] = RenderCache()
    app.router.add_get("/", _index)
    app.router.add_static("/static/", DASHBOARD)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/sessions", _sessions)
    app.router.add_get("/sessions/{id}", _session)
    app.router.add_post("/sessions/{id}/{action:restart|stop|start}", _command)
    app.router.add_get("/health/sessions", _health)
    app.router.add_get("/accounts/{id}/status", _session)
    app.router.add_post("/accounts/{id}/{action:restart|disconnect}", _command)
    app.router.add_get("/events", _events)
    app.router.add_get("/webhook", _webhook)
    app.router.add_get("/overview", _overview)
    app.router.add_post("/demo/webhook", _sink_receive)
    app.router.add_get("/demo/webhook/events", _sink_events)
    return app


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=dumps(payload), status=status, headers=headers,
                        content_type="application/json")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return _json({"error": message}, status, headers)


class ApiError(Exception):
    """Raised by a handler to answer `{"error": message}` with `status`; `close` ends the
    connection after the answer (the rest of the request cannot be read)."""

    def __init__(self, status: int, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.close = close


# --- middlewares --------------------------------------------------------------------------------

PUBLIC = frozenset({"/", "/healthz", "/demo/webhook"})  # the sink is authenticated by signature


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error answers JSON `{"error": ...}` with its proper status."""
    try:
        return await handler(request)
    except ApiError as exc:
        response = _error(exc.status, exc.message)
        if exc.close:
            response.force_close()
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
        message = {404: "not found", 405: f"method {request.method} not allowed",
                   413: f"request body larger than {MAX_BODY} bytes"}.get(exc.status, exc.reason)
        return _error(exc.status, message, headers)
    except Exception:
        logger.exception("%s %s failed", request.method, request.path)
        return _error(500, "internal error (see the warden log)")


@web.middleware
async def _same_origin(request: web.Request, handler: Handler) -> web.StreamResponse:
    """403 for what a browser sends on another site's behalf (see `foreign_request`); the Host
    is not checked on a public listen, where the token is what protects the API."""
    config = request.app[CONFIG]
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if not sockname:
        return _error(403, "the connection has no local address")
    refusal = foreign_request(request.method, request.headers, (sockname[0], sockname[1]),
                              check_host=not (config.token and not is_loopback(config.host)))
    if refusal is not None:
        return _error(403, refusal)
    return await handler(request)


@web.middleware
async def _auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = request.app[CONFIG].token
    path = request.path
    if (
        not token
        or path in PUBLIC
        or path.startswith("/static/")
        or (path == "/metrics" and request.app[CONFIG].metrics_public)
    ):
        return await handler(request)
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return _error(401, "missing bearer token", {"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        return _error(401, "wrong token", {"WWW-Authenticate": "Bearer"})
    return await handler(request)


# --- pages and probes ---------------------------------------------------------------------------


async def _index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(DASHBOARD / "index.html", headers={"Cache-Control": "no-cache"})


async def _healthz(request: web.Request) -> web.Response:
    if request.app[DEPS].root_running():
        return _json({"status": "ok"})
    return _json({"status": "down"}, status=503)


async def _metrics(request: web.Request) -> web.Response:
    registry = request.app[DEPS].registry
    if registry is None:
        raise ApiError(404, "metrics are not enabled")
    # The scrape reads the outbox (SQLite) through collectors: keep it off the event loop.
    body = await asyncio.get_running_loop().run_in_executor(None, generate_latest, registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


# --- sessions -----------------------------------------------------------------------------------


def _statuses(request: web.Request) -> tuple[ChildStatus, ...]:
    deps = request.app[DEPS]
    return deps.board.children(deps.sessions_supervisor)


def _cached(request: web.Request, view: str,
            render: Callable[[tuple[ChildStatus, ...], float], Any]) -> web.Response:
    deps = request.app[DEPS]
    statuses, now = _statuses(request), deps.clock.time()
    if deps.cache_renderings:
        body = request.app[CACHE].get(view, statuses, now, render)
    else:
        body = dumps(render(statuses, now))
    return web.Response(body=body, content_type="application/json")


async def _sessions(request: web.Request) -> web.Response:
    return _cached(request, "sessions", sessions_json)


async def _health(request: web.Request) -> web.Response:
    return _cached(request, "health", health_json)


def _find(request: web.Request) -> ChildStatus:
    """The session named in the path; 400 for an id that cannot exist, 404 for an unknown one."""
    session_id = request.match_info["id"]
    if not SESSION_ID.fullmatch(session_id):
        raise ApiError(400, f"malformed session id {session_id!r}")
    for status in _statuses(request):
        if status.id == session_id:
            return status
    raise ApiError(404, f"no session {session_id}")


async def _session(request: web.Request) -> web.Response:
    status = _find(request)
    return _json(session_json(status, request.app[DEPS].clock.time()))


async def _command(request: web.Request) -> web.Response:
    await _optional_json_object(request)
    status = _find(request)
    action = ACTIONS[request.match_info["action"]]
    control = request.app[DEPS].control
    send = {"restart": control.restart, "stop": control.stop_child,
            "start": control.start_child}[action]
    if not send(status.id):
        raise ApiError(404, f"no session {status.id}")
    return _json({"success": True, "message": MESSAGES[action], "sessionId": status.id},
                 status=202)


async def _optional_json_object(request: web.Request) -> dict[str, Any]:
    """A command takes no input; a body, if any, must still be a JSON object (400 otherwise)."""
    body = await _read(request)
    if not body.strip():
        return {}
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        raise ApiError(400, "body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "body must be a JSON object")
    return payload


async def _read(request: web.Request) -> bytes:
    """The request body; 413 above 64 KiB (client_max_size), 400 when it cannot be decoded
    (a `Content-Encoding` it does not match, a broken chunked encoding)."""
    try:
        return await request.read()
    except web.RequestPayloadError as exc:
        why = getattr(exc.__cause__, "message", None) or "malformed payload"
        # aiohttp drops the connection after this answer: tell a keep-alive client so.
        raise ApiError(400, f"the body cannot be read: {why}", close=True) from None


# --- events, webhook, overview ------------------------------------------------------------------


def _limit(request: web.Request, default: int) -> int:
    text = request.query.get("limit", str(default))
    if not LIMIT.fullmatch(text) or int(text) < 1:  # not isdigit(): it takes "²", int() does not
        raise ApiError(400, f"limit must be a whole number from 1 to 999999999, got {text!r}")
    return int(text)


async def _events(request: web.Request) -> web.Response:
    events = request.app[DEPS].events.latest(_limit(request, 200))
    return _json({"events": [event_json(e) for e in events]})


async def _webhook_state(request: web.Request) -> dict[str, Any]:
    deps = request.app[DEPS]
    stats = None
    if deps.outbox is not None:
        stats = await asyncio.get_running_loop().run_in_executor(None, deps.outbox.stats)
    return webhook_json(deps.board.get(deps.webhook_child), stats)


async def _webhook(request: web.Request) -> web.Response:
    return _json(await _webhook_state(request))


async def _overview(request: web.Request) -> web.Response:
    """Everything the dashboard shows, in one answer."""
    deps = request.app[DEPS]
    now = deps.clock.time()
    return _json({
        "now": iso(now),
        "running": deps.root_running(),
        "sessions": sessions_json(_statuses(request), now)["sessions"],
        "events": [event_json(e) for e in deps.events.latest(_limit(request, 50))],
        "webhook": await _webhook_state(request),
        "sink": sink_json(deps.sink, 20),
    })


async def _sink_receive(request: web.Request) -> web.Response:
    sink = request.app[DEPS].sink
    if sink is None:
        raise ApiError(404, "the demo webhook sink is not enabled")
    body = await _read(request)
    try:
        sink.receive(body, dict(request.headers))
    except SinkRejected as exc:
        return _error(exc.status, exc.message)
    return web.Response(status=204)


async def _sink_events(request: web.Request) -> web.Response:
    payload = sink_json(request.app[DEPS].sink, _limit(request, 100))
    if payload is None:
        raise ApiError(404, "the demo webhook sink is not enabled")
    return _json(payload)
