"""The simulator's routes: an aiohttp app for a WhatsApp-Web-like chat page plus a control API
that pushes messages and injects faults, one `ChatSession` per session id.

Routes (SPEC §7; control API without auth, loopback only: a request whose Host is not a loopback
name with this port is refused, and so is a POST or WebSocket from a page of another origin):
    GET  /chat/{session}            the chat page (sets the device cookie on a new profile)
    GET  /chat/{session}/ws         the page's WebSocket (protocol in `simulator.chat`)
    GET  /static/{name}             the page's JS and CSS
    GET  /sim                       {"sessions": [state, ...]}
    GET  /sim/{session}             {"connections", "pushed", "acked", "unacked", "fault", ...}
    POST /sim/{session}/messages    {"from", "body"} -> {"id"}
    POST /sim/{session}/fault       {"mode", "sticky": false} -> state
    POST /sim/{session}/login       leave the logout state -> state
    POST /sim/{session}/disconnect  drop the session's open sockets (a network blip) -> state
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from simulator.chat import ChatSession, FaultMode, LeakRate, Link, Send

__all__ = ["DEVICE_COOKIE", "create_app"]

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PAGE_DIR = Path(__file__).parent / "page"
DEVICE_COOKIE = "warden_sim_device"
SESSION = "{session:[A-Za-z0-9_-]{1,64}}"
MAX_BODY = 64 * 1024
TEN_YEARS = 10 * 365 * 24 * 3600
ASSET_TYPES = {".js": "text/javascript", ".css": "text/css"}
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Simulator:
    """Every chat session of one simulator, and the WebSocket behind each open connection."""

    def __init__(self, wall: Callable[[], float], leak: LeakRate) -> None:
        self.wall = wall
        self.leak = leak
        self.sessions: dict[str, ChatSession] = {}
        self.sockets: dict[Link, web.WebSocketResponse] = {}

    def session(self, session_id: str) -> ChatSession:
        if session_id not in self.sessions:
            self.sessions[session_id] = ChatSession(session_id, self.wall, leak=self.leak)
        return self.sessions[session_id]

    async def send(self, sends: Iterable[Send]) -> None:
        for send in sends:
            ws = self.sockets.get(send.link)
            if ws is None or ws.closed:
                continue
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_json(dict(send.frame))


SIMULATOR = web.AppKey("simulator", Simulator)


def create_app(wall: Callable[[], float] = time.time, leak: LeakRate | None = None
               ) -> web.Application:
    """A fresh simulator: no sessions until first use. `wall` stamps messages."""
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_errors, _same_origin])
    app[SIMULATOR] = Simulator(wall, leak or LeakRate())
    page = (PAGE_DIR / "index.html").read_text(encoding="utf-8")
    # Served from memory: aiohttp's static files would start an executor thread per loop.
    assets = {path.name: (path.read_bytes(), ASSET_TYPES[path.suffix])
              for path in PAGE_DIR.iterdir() if path.suffix in ASSET_TYPES}

    async def chat_page(request: web.Request) -> web.Response:
        session_id = request.match_info["session"]
        cookie = request.cookies.get(DEVICE_COOKIE)
        device = request.app[SIMULATOR].session(session_id).link_device(cookie)
        response = web.Response(text=page, content_type="text/html",
                                headers={"Cache-Control": "no-store"})
        if device != cookie:
            response.set_cookie(DEVICE_COOKIE, device, max_age=TEN_YEARS,
                                path=f"/chat/{session_id}", httponly=True, samesite="Strict")
        return response

    app.router.add_get(f"/chat/{SESSION}", chat_page)
    app.router.add_get(f"/chat/{SESSION}/ws", socket)
    async def asset(request: web.Request) -> web.Response:
        found = assets.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        return web.Response(body=found[0], content_type=found[1])

    app.router.add_get("/static/{name}", asset)
    app.router.add_get("/sim", list_sessions)
    app.router.add_get(f"/sim/{SESSION}", show)
    app.router.add_post(f"/sim/{SESSION}/messages", push)
    app.router.add_post(f"/sim/{SESSION}/fault", fault)
    app.router.add_post(f"/sim/{SESSION}/login", login)
    app.router.add_post(f"/sim/{SESSION}/disconnect", disconnect)
    app.on_shutdown.append(close_sockets)
    return app


def foreign_request(method: str, headers: Mapping[str, str], local: tuple[str, int]) -> str | None:
    """Why a request must be refused as made by a browser for another site, or None.

    The same rule as Warden's front (`actors.front.foreign_request`; the simulator stands in for
    an outside app and imports nothing of Warden's): a Host other than a loopback name with
    this port (DNS rebinding), and a POST or WebSocket whose Origin is another origin or whose
    Sec-Fetch-Site is another site (a page anywhere driving the control API).
    """
    host = headers.get("Host", "").lower()
    address, port = local
    names = {*LOOPBACK_NAMES, f"[{address}]" if ":" in address else address}
    if host not in {f"{name}:{port}" for name in names} | (names if port == 80 else set()):
        return f"Host {host!r} is not this simulator's address"
    if method in SAFE_METHODS and headers.get("Upgrade", "").lower() != "websocket":
        return None
    site = headers.get("Sec-Fetch-Site", "").lower()
    origin = headers.get("Origin")
    if site in ("cross-site", "same-site") or (
            origin is not None and origin.lower() not in (f"http://{host}", f"https://{host}")):
        return f"a {method} from {origin or site!r} is refused (not this origin)"
    return None


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error answers JSON `{"error": ...}`: aiohttp's own (404, 405, 413) and a failure."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        allow = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        return web.json_response({"error": exc.reason}, status=exc.status, headers=allow)
    except Exception:
        logger.exception("%s %s failed", request.method, request.path)
        return web.json_response({"error": "internal error (see the simulator's log)"},
                                 status=500)


@web.middleware
async def _same_origin(request: web.Request, handler: Handler) -> web.StreamResponse:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    refusal = ("no local address" if not sockname
               else foreign_request(request.method, request.headers, (sockname[0], sockname[1])))
    if refusal is not None:
        return web.json_response({"error": refusal}, status=403)
    return await handler(request)


async def socket(request: web.Request) -> web.WebSocketResponse:
    sim = request.app[SIMULATOR]
    session = sim.session(request.match_info["session"])
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    link, sends = session.connect(request.cookies.get(DEVICE_COOKIE) or "")
    sim.sockets[link] = ws
    try:
        await sim.send(sends)
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                frame = json.loads(message.data)
            except ValueError:
                continue
            if isinstance(frame, dict):
                await sim.send(session.receive(link, frame))
    finally:
        session.disconnect(link)
        del sim.sockets[link]
    return ws


async def close_sockets(app: web.Application) -> None:
    for ws in list(app[SIMULATOR].sockets.values()):
        await ws.close(code=1001, message=b"simulator shutting down")


async def list_sessions(request: web.Request) -> web.Response:
    sessions = request.app[SIMULATOR].sessions.values()
    return web.json_response({"sessions": [s.snapshot() for s in sessions]})


async def show(request: web.Request) -> web.Response:
    return web.json_response(request.app[SIMULATOR].session(request.match_info["session"])
                             .snapshot())


async def push(request: web.Request) -> web.Response:
    body = await _json_object(request)
    sender, text = body.get("from"), body.get("body")
    if not isinstance(sender, str) or not sender:
        raise _bad_request("'from' must be a non-empty string")
    if not isinstance(text, str):
        raise _bad_request("'body' must be a string")
    sim = request.app[SIMULATOR]
    message, sends = sim.session(request.match_info["session"]).push(sender, text)
    await sim.send(sends)
    return web.json_response({"id": message.id})


async def fault(request: web.Request) -> web.Response:
    body = await _json_object(request)
    value = body.get("mode")
    if not isinstance(value, str) or value not in set(FaultMode):
        modes = ", ".join(FaultMode)
        raise _bad_request(f"'mode' must be one of {modes}, not {value!r}")
    mode = FaultMode(value)
    sticky = body.get("sticky", False)
    if not isinstance(sticky, bool):
        raise _bad_request(f"'sticky' must be true or false, not {sticky!r}")
    sim = request.app[SIMULATOR]
    session = sim.session(request.match_info["session"])
    await sim.send(session.set_fault(mode, sticky))
    return web.json_response(session.snapshot())


async def login(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    session = sim.session(request.match_info["session"])
    await sim.send(session.login())
    return web.json_response(session.snapshot())


async def disconnect(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    session = sim.session(request.match_info["session"])
    sockets = [sim.sockets[link] for link in session.links if link in sim.sockets]
    await asyncio.gather(*(ws.close(code=1012, message=b"dropped") for ws in sockets))
    return web.json_response(session.snapshot())


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read())
    except web.RequestPayloadError as exc:  # e.g. a Content-Encoding the body does not match
        why = getattr(exc.__cause__, "message", None) or "malformed payload"
        refusal = _bad_request(f"the body cannot be read: {why}")
        refusal.force_close()  # aiohttp drops the connection after it: tell the client so
        raise refusal from None
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        raise _bad_request("body must be JSON") from None
    if not isinstance(body, dict):
        raise _bad_request("body must be a JSON object")
    return body


def _bad_request(error: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": error}), content_type="application/json")
