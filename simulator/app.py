"""The simulator app is an aiohttp server for a WhatsApp-Web-like chat page plus a control API
that pushes messages and injects faults, one `ChatSession` per session id.

Routes (SPEC §7; control API without auth, meant for loopback):
    GET  /chat/{session}            the chat page (sets the device cookie on a new profile)
    GET  /chat/{session}/ws         the page's WebSocket (protocol in `simulator.chat`)
    GET  /static/...                the page's JS and CSS
    GET  /sim                       {"sessions": [state, ...]}
    GET  /sim/{session}             {"connections", "pushed", "acked", "unacked", "fault", ...}
    POST /sim/{session}/messages    {"from", "body"} -> {"id"}
    POST /sim/{session}/fault       {"mode", "sticky": false} -> state
    POST /sim/{session}/login       leave the logout state -> state
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from simulator.chat import ChatSession, FaultMode, LeakRate, Link, Send

__all__ = ["DEVICE_COOKIE", "SimulatorServer", "create_app", "serve"]

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
    app = web.Application(client_max_size=MAX_BODY)
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


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise _bad_request("body must be JSON") from None
    if not isinstance(body, dict):
        raise _bad_request("body must be a JSON object")
    return body


def _bad_request(error: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": error}), content_type="application/json")


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(host: str, port: int) -> int:
    """Run the simulator in the foreground until SIGINT/SIGTERM; 0 when stopped, 1 on failure."""

    async def run() -> None:
        runner = web.AppRunner(create_app())
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
            print(f"simulator: listening on {_url(host, runner.addresses[0][1])}/chat/<session>",
                  flush=True)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            await stop.wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(run())
    except OSError as exc:
        print(f"simulator: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


class SimulatorServer:
    """The simulator on its own thread and event loop, for embedding in a runtime or a test.

    `start()` returns once it listens (port 0 picks a free port; `.port` is the real one);
    `stop()` closes every socket and joins the thread. Also a context manager.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 app_factory: Callable[[], web.Application] = create_app) -> None:
        self.host = host
        self._requested_port = port
        self._app_factory = app_factory
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("simulator not started")
        return self._port

    @property
    def url(self) -> str:
        return _url(self.host, self.port)

    def start(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            raise RuntimeError("simulator already started")
        self._thread = threading.Thread(target=self._run, name=f"simulator-{self.host}",
                                        daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"simulator did not start listening within {timeout}s")
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise self._error

    def stop(self, timeout: float = 10.0) -> None:
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None:
            return
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(stop.set)
        thread.join(timeout)
        self._thread = None

    def __enter__(self) -> SimulatorServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        runner = web.AppRunner(self._app_factory())
        try:
            await runner.setup()
            await web.TCPSite(runner, self.host, self._requested_port).start()
            self._port = runner.addresses[0][1]
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            await runner.cleanup()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()
