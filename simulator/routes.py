"""The simulator's routes: an aiohttp app for a WhatsApp-Web-like chat page plus a control API
that pushes messages, injects faults and scans login codes, one `ChatSession` per session id.

Routes (the control API has no auth, loopback only: a request whose Host is not a loopback
name with this port is refused, and so is a POST or WebSocket from a page of another origin):
    GET  /chat/{session}            the chat page
    GET  /chat/{session}/ws         the page's WebSocket, `?device=D` (protocol in `simulator.chat`)
    GET  /static/{name}             the page's scripts and style
    GET  /sim                       {"sessions": [state, ...]}
    GET  /sim/{session}             state: {"connections", "pushed", "received", "queued", ...}
    POST /sim/{session}/messages    {"from", "body"} -> {"id"}
    POST /sim/{session}/fault       {"mode", "sticky": false} -> state
    POST /sim/{session}/scan        {"qr"} -> state, or 409 unless it is the code shown now
    POST /sim/{session}/login       leave the logout state without a scan -> state
    POST /sim/{session}/disconnect  drop the session's open sockets (a network blip) -> state
A session id that cannot exist is 404; any other is created on first use.
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
from simulator.chat import ChatSession, Link, Send
from simulator.fault import FaultMode, LeakRate
from simulator.login import ScanOutcome
from simulator.qr import QR_INTERVAL

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

PAGE_DIR = Path(__file__).parent / "page"
SESSION = "{session:[A-Za-z0-9_-]{1,64}}"
MAX_BODY = 64 * 1024
ASSET_TYPES = {".js": "text/javascript", ".css": "text/css"}
MIN_TICK = 0.05  # seconds: a timer that fires a little early looks again this much later
SCAN_REFUSALS = {
    ScanOutcome.STALE: "that QR code has expired: scan the one shown now",
    ScanOutcome.WRONG: "that is not a QR code this session showed",
    ScanOutcome.NOT_WAITING: "the session is logged in: no QR code is shown",
}


class Simulator:
    """Every chat session of one simulator, the WebSocket behind each open connection, and the
    timers that send a logged-out session's pages each new login code."""

    def __init__(self, wall: Callable[[], float], leak: LeakRate, qr_interval: float) -> None:
        self.wall = wall
        self.leak = leak
        self.qr_interval = qr_interval
        self.sessions: dict[str, ChatSession] = {}
        self.sockets: dict[Link, web.WebSocketResponse] = {}
        self.rotations: dict[str, asyncio.Task[None]] = {}

    def session(self, session_id: str) -> ChatSession:
        if session_id not in self.sessions:
            self.sessions[session_id] = ChatSession(session_id, self.wall, leak=self.leak,
                                                    qr_interval=self.qr_interval)
        return self.sessions[session_id]

    async def current(self, session_id: str) -> ChatSession:
        """The session, its pages sent the login code of this instant if it moved on."""
        session = self.session(session_id)
        await self.send(session.refresh_qr())
        return session

    async def send(self, sends: Iterable[Send]) -> None:
        for send in sends:
            ws = self.sockets.get(send.link)
            if ws is None or ws.closed:
                continue
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_json(dict(send.frame))

    def watch_qr(self, session: ChatSession) -> None:
        """While `session` is logged out, send its pages each new code when the last expires."""
        if not session.logged_in and session.id not in self.rotations:
            self.rotations[session.id] = asyncio.create_task(self._rotate(session))

    async def _rotate(self, session: ChatSession) -> None:
        try:
            while not session.logged_in:
                await self.send(session.refresh_qr())
                code = session.auth.sent
                delay = self.qr_interval if code is None else code.expires_at - self.wall()
                await asyncio.sleep(max(MIN_TICK, delay))
        finally:
            self.rotations.pop(session.id, None)

    async def close(self) -> None:
        for task in list(self.rotations.values()):
            task.cancel()
        await asyncio.gather(*self.rotations.values(), return_exceptions=True)
        for ws in list(self.sockets.values()):
            await ws.close(code=1001, message=b"simulator shutting down")


SIMULATOR = web.AppKey("simulator", Simulator)


def create_app(wall: Callable[[], float] = time.time, leak: LeakRate | None = None, *,
               qr_interval: float = QR_INTERVAL) -> web.Application:
    """A fresh simulator: no sessions until first use. `wall` stamps messages and times the
    login codes, each shown `qr_interval` seconds."""
    if not qr_interval > 0:
        raise ValueError(f"qr_interval must be positive, not {qr_interval!r}")
    app = web.Application(client_max_size=MAX_BODY, middlewares=[
        json_errors(max_body=MAX_BODY, log_hint="the simulator's log"), same_origin()])
    app[SIMULATOR] = Simulator(wall, leak or LeakRate(), qr_interval)
    page = (PAGE_DIR / "index.html").read_text(encoding="utf-8")
    # Served from memory: aiohttp's static files would start an executor thread per loop.
    assets = {path.name: (path.read_bytes(), ASSET_TYPES[path.suffix])
              for path in PAGE_DIR.iterdir() if path.suffix in ASSET_TYPES}

    async def chat_page(request: web.Request) -> web.Response:
        request.app[SIMULATOR].session(request.match_info["session"])
        return web.Response(text=page, content_type="text/html",
                            headers={"Cache-Control": "no-store"})

    async def asset(request: web.Request) -> web.Response:
        found = assets.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        return web.Response(body=found[0], content_type=found[1],
                            headers={"Cache-Control": "no-store"})

    app.router.add_get(f"/chat/{SESSION}", chat_page)
    app.router.add_get(f"/chat/{SESSION}/ws", socket)
    app.router.add_get("/static/{name}", asset)
    app.router.add_get("/sim", list_sessions)
    app.router.add_get(f"/sim/{SESSION}", show)
    app.router.add_post(f"/sim/{SESSION}/messages", push)
    app.router.add_post(f"/sim/{SESSION}/fault", fault)
    app.router.add_post(f"/sim/{SESSION}/scan", scan)
    app.router.add_post(f"/sim/{SESSION}/login", login)
    app.router.add_post(f"/sim/{SESSION}/disconnect", disconnect)
    app.on_shutdown.append(close)
    return app


async def socket(request: web.Request) -> web.WebSocketResponse:
    sim = request.app[SIMULATOR]
    session = sim.session(request.match_info["session"])
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    link, sends = session.connect(request.query.get("device"))
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


async def close(app: web.Application) -> None:
    await app[SIMULATOR].close()


async def list_sessions(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR]
    sessions = [await sim.current(session_id) for session_id in list(sim.sessions)]
    return web.json_response({"sessions": [s.snapshot() for s in sessions]})


async def show(request: web.Request) -> web.Response:
    session = await request.app[SIMULATOR].current(request.match_info["session"])
    return web.json_response(session.snapshot())


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
    sticky = body.get("sticky", False)
    if not isinstance(sticky, bool):
        raise ApiError(400, f"'sticky' must be true or false, not {sticky!r}")
    sim = request.app[SIMULATOR]
    session = await sim.current(request.match_info["session"])
    await sim.send(session.set_fault(FaultMode(value), sticky))
    sim.watch_qr(session)
    return web.json_response(session.snapshot())


async def scan(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    payload = body.get("qr")
    if not isinstance(payload, str) or not payload:
        raise ApiError(400, "'qr' must be a non-empty string")
    sim = request.app[SIMULATOR]
    session = await sim.current(request.match_info["session"])
    outcome, sends = session.scan(payload)
    if outcome != ScanOutcome.LOGGED_IN:
        raise ApiError(409, SCAN_REFUSALS[outcome])
    await sim.send(sends)
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
