"""The simulator's routes: an aiohttp app for a WhatsApp-Web-like chat page plus a control API
that pushes messages and injects faults, one `ChatSession` per session id.

Routes (the control API has no auth, loopback only: a request whose Host is not a loopback
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
from collections.abc import Callable, Iterable
from pathlib import Path

from aiohttp import WSMsgType, web

from httpkit import ApiError, json_errors, read_json_object, same_origin
from simulator.chat import ChatSession, FaultMode, LeakRate, Link, Send

__all__ = ["DEVICE_COOKIE", "create_app"]

logger = logging.getLogger(__name__)

PAGE_DIR = Path(__file__).parent / "page"
DEVICE_COOKIE = "warden_sim_device"
SESSION = "{session:[A-Za-z0-9_-]{1,64}}"
MAX_BODY = 64 * 1024
TEN_YEARS = 10 * 365 * 24 * 3600
ASSET_TYPES = {".js": "text/javascript", ".css": "text/css"}


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
    app = web.Application(client_max_size=MAX_BODY, middlewares=[
        json_errors(max_body=MAX_BODY, log_hint="the simulator's log"), same_origin()])
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
    body = await read_json_object(request)
    sender, text = body.get("from"), body.get("body")
    if not isinstance(sender, str) or not sender:
        raise ApiError(400, "'from' must be a non-empty string")
    if not isinstance(text, str):
        raise ApiError(400, "'body' must be a string")
    sim = request.app[SIMULATOR]
    message, sends = sim.session(request.match_info["session"]).push(sender, text)
    await sim.send(sends)
    return web.json_response({"id": message.id})


async def fault(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    value = body.get("mode")
    if not isinstance(value, str) or value not in set(FaultMode):
        modes = ", ".join(FaultMode)
        raise ApiError(400, f"'mode' must be one of {modes}, not {value!r}")
    mode = FaultMode(value)
    sticky = body.get("sticky", False)
    if not isinstance(sticky, bool):
        raise ApiError(400, f"'sticky' must be true or false, not {sticky!r}")
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
