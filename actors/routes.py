"""The routes are Warden's HTTP API as an aiohttp application: auth, errors, handlers.

Handlers run on the front's event loop and read only the status board, so they answer at
once however the sessions are doing; anything that may touch disk (outbox figures, a metrics
scrape) runs in the loop's executor.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from actors.auth import AuthFailures, bearer_auth
from actors.demo_sink import SinkRejected
from actors.front_config import FrontDeps, HttpConfig
from actors.ids import is_session_id
from actors.openapi import describe
from actors.page_routes import add_page_routes
from actors.views import (
    SESSION,
    RenderCache,
    event_json,
    health_detail_json,
    health_json,
    iso,
    session_json,
    sessions_json,
    sink_json,
    webhook_json,
)
from actors.webhook import child_id
from actors.webhook_routes import add_webhook_routes, endpoints_json, outbox_health_json
from httpkit import (
    ApiError,
    dumps,
    error_response,
    is_loopback,
    json_errors,
    json_response,
    read_body,
    read_json_object,
    same_origin,
)
from runtime import ChildStatus

__all__ = ["MAX_BODY", "build_app"]

logger = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
DASHBOARD = Path(__file__).parent / "dashboard"
STATIC = frozenset(p.name for p in DASHBOARD.iterdir() if p.is_file() and p.name != "index.html")
LIMIT = re.compile(r"[0-9]{1,9}")
MESSAGES = {"restart": "Session restart initiated", "stop": "Session stop initiated",
            "start": "Session start initiated"}

DEPS = web.AppKey("deps", FrontDeps)
CONFIG = web.AppKey("config", HttpConfig)
CACHE = web.AppKey("cache", RenderCache)
OPENAPI = web.AppKey("openapi", bytes)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(config: HttpConfig, deps: FrontDeps) -> web.Application:
    # The Host is not checked on a public listen with a token: the token protects the API.
    public = bool(config.token) and not is_loopback(config.host)
    app = web.Application(client_max_size=MAX_BODY, middlewares=[
        json_errors(max_body=MAX_BODY, log_hint="the warden log"),
        same_origin(lambda _: not public),
        bearer_auth(config.token, _public, AuthFailures(deps.auth_failed, deps.throttle))])
    app[DEPS] = deps
    app[CONFIG] = config
    app[CACHE] = RenderCache()
    app[OPENAPI] = dumps(describe(token=bool(config.token),
                                  metrics_public=config.metrics_public))
    add_page_routes(app, lambda request: request.app[DEPS], _find)
    app.router.add_get("/", _index)
    app.router.add_get("/static/{filename}", _static)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/healthz/detail", _healthz_detail)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/sessions", _sessions)
    app.router.add_get("/sessions/{id}", _session)
    for action in ("restart", "stop", "start"):
        app.router.add_post(f"/sessions/{{id}}/{action}", _command(action))
    app.router.add_get("/health/sessions", _health)
    app.router.add_get("/accounts/{id}/status", _session)
    app.router.add_post("/accounts/{id}/restart", _command("restart"))
    app.router.add_post("/accounts/{id}/disconnect", _command("stop"))
    app.router.add_get("/events", _events)
    app.router.add_get("/webhook", _webhook)
    app.router.add_get("/overview", _overview)
    app.router.add_post("/reload", _reload)
    app.router.add_get("/openapi.json", _openapi)
    add_webhook_routes(app, DEPS)
    app.router.add_post("/demo/webhook", _sink_receive)
    app.router.add_get("/demo/webhook/events", _sink_events)
    return app


# --- middlewares --------------------------------------------------------------------------------

PUBLIC = frozenset({"/", "/healthz", "/demo/webhook"})  # the sink is authenticated by signature


def _public(request: web.Request) -> bool:
    """Whether `request` is answered without the token."""
    path = request.path
    return (path in PUBLIC or path.startswith("/static/")
            or (path == "/metrics" and request.app[CONFIG].metrics_public))


# --- pages and probes ---------------------------------------------------------------------------


async def _index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(DASHBOARD / "index.html", headers={"Cache-Control": "no-cache"})


async def _static(request: web.Request) -> web.StreamResponse:
    """One of the dashboard's files; only those, and a JSON 404 for anything else."""
    name = request.match_info["filename"]
    if name not in STATIC:
        raise ApiError(404, f"no file {name!r}")
    return web.FileResponse(DASHBOARD / name, headers={"Cache-Control": "no-cache"})


async def _healthz(request: web.Request) -> web.Response:
    if request.app[DEPS].root_running():
        return json_response({"status": "ok"})
    return json_response({"status": "down"}, status=503)


async def _healthz_detail(request: web.Request) -> web.Response:
    """/healthz with what is wrong: behind the token, since it names sessions and paths."""
    deps = request.app[DEPS]
    outbox = None
    if deps.webhooks is not None:
        directory = deps.webhooks
        outbox = outbox_health_json(  # a stat and a statvfs, at most once a second
            await asyncio.get_running_loop().run_in_executor(None, directory.health))
    running = deps.root_running()
    body = health_detail_json(deps.board.children(), running, outbox)
    return json_response(body, status=200 if running else 503)


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
    return deps.board.of_kind(SESSION)


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
    if not is_session_id(session_id):
        raise ApiError(400, f"malformed session id {session_id!r}")
    for status in _statuses(request):
        if status.id == session_id:
            return status
    raise ApiError(404, f"no session {session_id}")


async def _session(request: web.Request) -> web.Response:
    status = _find(request)
    return json_response(session_json(status, request.app[DEPS].clock.time()))


def _command(action: str) -> Handler:
    async def command(request: web.Request) -> web.Response:
        await read_json_object(request, optional=True)
        status = _find(request)
        control = request.app[DEPS].control
        send = {"restart": control.restart, "stop": control.stop_child,
                "start": control.start_child}[action]
        if not send(status.id):
            raise ApiError(404, f"no session {status.id}")
        return json_response({"success": True, "message": MESSAGES[action],
                              "sessionId": status.id}, status=202)

    return command


# --- events, webhook, overview ------------------------------------------------------------------


def _limit(request: web.Request, default: int) -> int:
    text = request.query.get("limit", str(default))
    if not LIMIT.fullmatch(text) or int(text) < 1:  # not isdigit(): it takes "²", int() does not
        raise ApiError(400, f"limit must be a whole number from 1 to 999999999, got {text!r}")
    return int(text)


async def _events(request: web.Request) -> web.Response:
    events = request.app[DEPS].events.latest(_limit(request, 200))
    return json_response({"events": [event_json(e) for e in events]})


async def _webhook_state(request: web.Request) -> dict[str, Any]:
    """The default endpoint's actor and figures (`/webhook`, from before several endpoints)."""
    deps = request.app[DEPS]
    loop = asyncio.get_running_loop()
    stats: Any = None
    child = deps.webhook_child
    if deps.webhooks is not None and deps.webhooks.ids():
        endpoint = deps.webhooks.webhook().id
        child = child_id(endpoint)
        stats = await loop.run_in_executor(None, deps.webhooks.stats, endpoint)
    elif deps.outbox is not None:
        stats = await loop.run_in_executor(None, deps.outbox.stats)
    return webhook_json(deps.board.get(child), stats)


async def _webhook(request: web.Request) -> web.Response:
    return json_response(await _webhook_state(request))


async def _overview(request: web.Request) -> web.Response:
    """Everything the dashboard shows, in one answer."""
    deps = request.app[DEPS]
    now = deps.clock.time()
    webhooks = None
    if deps.webhooks is not None:
        directory = deps.webhooks

        def read() -> dict[str, Any]:
            return {**endpoints_json(directory, deps.board),
                    "outbox": outbox_health_json(directory.health())}

        webhooks = await asyncio.get_running_loop().run_in_executor(None, read)
    return json_response({
        "now": iso(now),
        "running": deps.root_running(),
        "sessions": sessions_json(_statuses(request), now)["sessions"],
        "events": [event_json(e) for e in deps.events.latest(_limit(request, 50))],
        "webhook": await _webhook_state(request),
        "webhooks": webhooks,
        "sink": sink_json(deps.sink, 20),
    })


async def _reload(request: web.Request) -> web.Response:
    """Re-read the config file and apply it; on a thread: it waits for sessions to stop."""
    await read_json_object(request, optional=True)
    reload = request.app[DEPS].reload
    if reload is None:
        raise ApiError(404, "reload is not enabled")
    status, body = await asyncio.get_running_loop().run_in_executor(None, reload)
    return json_response(dict(body), status=status)


async def _openapi(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI], content_type="application/json")


async def _sink_receive(request: web.Request) -> web.Response:
    sink = request.app[DEPS].sink
    if sink is None:
        raise ApiError(404, "the demo webhook sink is not enabled")
    body = await read_body(request)
    try:
        sink.receive(body, dict(request.headers))
    except SinkRejected as exc:
        return error_response(exc.status, exc.message)
    return web.Response(status=204)


async def _sink_events(request: web.Request) -> web.Response:
    payload = sink_json(request.app[DEPS].sink, _limit(request, 100))
    if payload is None:
        raise ApiError(404, "the demo webhook sink is not enabled")
    return json_response(payload)
