"""The WhatsApp Web double is a loopback server whose page provides WhatsApp Web's own modules
(`window.require('WAWebCollections')` and the rest, as whatsapp-web.js 1.34.x uses them) over
a server that follows the real app's rules (SPEC section 3a), for one account.

Routes (loopback only; a POST or WebSocket from a page of another origin is refused):
    GET  /                     the WhatsApp Web page (`/?post_logout=1` after a logout)
    GET  /static/{name}        its scripts
    GET  /ws                   the page's WebSocket (protocol in `tests.whatsapp.wire`)
    GET  /wa/qr?text=          {"size", "rows"}: the QR code of `text` (the page draws it)
    GET  /wa                   state: {"connections", "pushed", "received", "queued", "fault",
                               "logged_in", "qr", "state", "deliveries", "sent", ...}
    POST /wa/messages          {"from", "body", "ciphertext": false, "decrypt_after": null}
                               -> {"id"}: the message's `_serialized` id
    POST /wa/decrypt           {"id"}: a ciphertext message becomes readable now
    POST /wa/fault             {"mode", "sticky": false}: none | deaf | hang | logout |
                               conflict | no_loader
    POST /wa/scan              {"qr"}: 200 when it is the payload shown now, 409 otherwise
    POST /wa/pair              {"code"}: 200 when a page asked for it for this number, else 409
    POST /wa/login             test shortcut: link every page on the login screen
    POST /wa/disconnect        drop every page's socket (a network blip); pages reconnect
    POST /wa/socket-state      {"state"}: PROXYBLOCK | TOS_BLOCK | SMB_TOS_BLOCK |
                               DEPRECATED_VERSION
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import WSMsgType, web

from httpkit import ApiError, AppServer, json_errors, read_json_object, same_origin
from tests.whatsapp.account import Account
from tests.whatsapp.control import Control
from tests.whatsapp.wire import BLOCKING_STATES, FaultMode, Link, OwnMessage, Send

__all__ = ["DoubleOptions", "WhatsAppDouble", "create_app"]

PAGE_DIR = Path(__file__).parent / "page"
MAX_BODY = 64 * 1024
VERSION = "2.3000.1017054665"  # the WhatsApp Web version the page claims (window.Debug.VERSION)


@dataclass(frozen=True, slots=True)
class DoubleOptions:
    """How the double behaves; times are seconds. Defaults follow WhatsApp Web where known."""

    phone: str = "15550100001"
    lid: str = "201234567890123"
    load_delay: float = 0.3  # the page's bundle "loads" this long before window.require exists
    connect_delay: float = 0.2  # then the app boots (keys, handshake) this long before it connects
    qr_interval: float = 20.0  # Conn.ref changes this often on the login screen
    qr_refs: int = 6  # refs per QR round; then UNPAIRED_IDLE until Cmd.refreshQR()
    ack_delay: float = 0.05  # own message: server ack 1 after this, ack 2 after twice this
    auto_link: bool = True  # a new browser profile is logged in at once (False: it shows a QR)
    history_page: int = 50  # messages per chat loaded at start and per loadEarlierMsgs
    platform: str = "WEB"  # the QR text's last field
    wall: Callable[[], float] = time.time  # stamps messages (`t`)


class Double:
    """The account, the WebSocket behind each open link, and the timers of the login screen."""

    def __init__(self, options: DoubleOptions) -> None:
        self.options = options
        self.account = Account(options.phone, options.lid, options.wall,
                               platform=options.platform, qr_refs=options.qr_refs,
                               auto_link=options.auto_link)
        self.sockets: dict[Link, web.WebSocketResponse] = {}
        self.timers: set[asyncio.TimerHandle] = set()
        self.tasks: set[asyncio.Task[None]] = set()  # held: the loop keeps weak refs
        self.rotating: set[str] = set()  # refs whose successor is scheduled

    async def send(self, sends: Iterable[Send]) -> None:
        for send in sends:
            ws = self.sockets.get(send.link)
            if ws is None or ws.closed:
                continue
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_json(dict(send.frame))
        self.schedule_refs()

    def later(self, delay: float, action: Callable[[], list[Send]]) -> None:
        """Run `action` after `delay` seconds on the loop and send what it returns."""
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self.timers.discard(handle)
            task = loop.create_task(self.send(action()))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

        handle = loop.call_later(delay, fire)
        self.timers.add(handle)

    def schedule_refs(self) -> None:
        """Every page on the login screen gets its next ref after `qr_interval`, once."""
        for link in self.account.links:
            if link.ref is not None and link.ref not in self.rotating:
                self.rotating.add(link.ref)
                rotate = functools.partial(self._rotate, link, link.ref)
                self.later(self.options.qr_interval, rotate)

    def _rotate(self, link: Link, ref: str) -> list[Send]:
        self.rotating.discard(ref)
        return self.account.rotate_ref(link) if link.ref == ref else []

    def acks(self, own: OwnMessage) -> list[Send]:
        """A send the server heard: answered with its ack now if it had one, else later."""
        if own.ack >= 1:
            return self.account.ack(own, own.ack)
        delay = self.options.ack_delay
        self.later(delay, lambda: self.account.ack(own, 1))
        self.later(2 * delay, lambda: self.account.ack(own, 2))
        return []

    def close(self) -> None:
        for handle in self.timers:
            handle.cancel()
        self.timers.clear()


DOUBLE = web.AppKey("double", Double)


def create_app(options: DoubleOptions | None = None) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[
        json_errors(max_body=MAX_BODY, log_hint="the double's log"), same_origin()])
    double = app[DOUBLE] = Double(options or DoubleOptions())
    page = (PAGE_DIR / "index.html").read_text(encoding="utf-8")
    # Served from memory: aiohttp's static files would start an executor thread per loop.
    assets = {path.name: path.read_bytes() for path in PAGE_DIR.glob("*.js")}

    async def index(request: web.Request) -> web.Response:
        opts = double.options
        config = {"loadDelayMs": round(opts.load_delay * 1000), "version": VERSION,
                  "connectDelayMs": round(opts.connect_delay * 1000),
                  "noLoader": double.account.page_fault() == FaultMode.NO_LOADER,
                  "historyPage": opts.history_page, "platform": opts.platform}
        html = page.replace("{{config}}", json.dumps(config).replace("<", "\\u003c"))
        return web.Response(text=html, content_type="text/html",
                            headers={"Cache-Control": "no-store"})

    async def asset(request: web.Request) -> web.Response:
        found = assets.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        return web.Response(body=found, content_type="text/javascript")

    app.router.add_get("/", index)
    app.router.add_get("/static/{name}", asset)
    app.router.add_get("/ws", socket)
    app.router.add_get("/wa/qr", qr_matrix)
    app.router.add_get("/wa", show)
    app.router.add_post("/wa/messages", push)
    app.router.add_post("/wa/decrypt", decrypt)
    app.router.add_post("/wa/fault", fault)
    app.router.add_post("/wa/scan", scan)
    app.router.add_post("/wa/pair", pair)
    app.router.add_post("/wa/login", login)
    app.router.add_post("/wa/disconnect", disconnect)
    app.router.add_post("/wa/socket-state", socket_state)
    app.on_shutdown.append(close_sockets)
    return app


async def socket(request: web.Request) -> web.WebSocketResponse:
    double = request.app[DOUBLE]
    account = double.account
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    link = account.connect()
    double.sockets[link] = ws
    try:
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                frame = json.loads(message.data)
            except ValueError:
                continue
            if not isinstance(frame, dict):
                continue
            if frame.get("type") == "send":
                own = account.outgoing(link, frame)
                await double.send([] if own is None else double.acks(own))
            else:
                await double.send(account.receive(link, frame))
    finally:
        account.disconnect(link)
        del double.sockets[link]
    return ws


async def close_sockets(app: web.Application) -> None:
    double = app[DOUBLE]
    double.close()
    for ws in list(double.sockets.values()):
        await ws.close(code=1001, message=b"double shutting down")


def state(double: Double) -> web.Response:
    return web.json_response(double.account.snapshot())


async def show(request: web.Request) -> web.Response:
    return state(request.app[DOUBLE])


async def qr_matrix(request: web.Request) -> web.Response:
    text = request.query.get("text", "")
    if not text:
        raise ApiError(400, "'text' is required")
    try:
        import segno  # a test dependency: the page draws nothing without it
    except ImportError:
        raise ApiError(501, "segno is not installed: no QR image (the text is in data-ref)"
                       ) from None
    code = segno.make_qr(text, error="l")
    rows = ["".join("1" if cell else "0" for cell in row) for row in code.matrix]
    return web.json_response({"size": len(rows), "rows": rows})


async def push(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    sender, text = body.get("from"), body.get("body")
    ciphertext, after = body.get("ciphertext", False), body.get("decrypt_after")
    if not isinstance(sender, str) or "@" not in sender or sender.startswith("@"):
        raise ApiError(400, f"'from' must be a wid such as 15550100002@c.us, not {sender!r}")
    if not isinstance(text, str):
        raise ApiError(400, "'body' must be a string")
    if not isinstance(ciphertext, bool):
        raise ApiError(400, f"'ciphertext' must be true or false, not {ciphertext!r}")
    if after is not None and (not isinstance(after, int | float) or isinstance(after, bool)
                              or after < 0 or not ciphertext):
        raise ApiError(400, "'decrypt_after' must be seconds >= 0, with 'ciphertext': true")
    double = request.app[DOUBLE]
    message, sends = double.account.push(sender, text, ciphertext=ciphertext)
    await double.send(sends)
    if after is not None:
        double.later(float(after), lambda: double.account.decrypt(message.id))
    return web.json_response({"id": message.id})


async def decrypt(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    double = request.app[DOUBLE]
    message_id = body.get("id")
    if not isinstance(message_id, str):
        raise ApiError(400, "'id' must be a message id")
    try:
        sends = double.account.decrypt(message_id)
    except KeyError:
        raise ApiError(404, f"no ciphertext message {message_id!r}") from None
    await double.send(sends)
    return state(double)


async def fault(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    value, sticky = body.get("mode"), body.get("sticky", False)
    if not isinstance(value, str) or value not in set(FaultMode):
        raise ApiError(400, f"'mode' must be one of {', '.join(FaultMode)}, not {value!r}")
    if not isinstance(sticky, bool):
        raise ApiError(400, f"'sticky' must be true or false, not {sticky!r}")
    double = request.app[DOUBLE]
    await double.send(double.account.set_fault(FaultMode(value), sticky))
    return state(double)


async def scan(request: web.Request) -> web.Response:
    payload = (await read_json_object(request)).get("qr")
    if not isinstance(payload, str):
        raise ApiError(400, "'qr' must be the QR code's text")
    double = request.app[DOUBLE]
    sends = double.account.scan(payload)
    if sends is None:
        why = "stale (the page shows a newer ref)" if double.account.stale(payload) \
            else "not shown by any page"
        raise ApiError(409, f"that QR code is {why}")
    await double.send(sends)
    return state(double)


async def pair(request: web.Request) -> web.Response:
    code = (await read_json_object(request)).get("code")
    if not isinstance(code, str):
        raise ApiError(400, "'code' must be the pairing code")
    double = request.app[DOUBLE]
    sends = double.account.confirm_code(code)
    if sends is None:
        raise ApiError(409, f"no page asked for pairing code {code!r} for this number")
    await double.send(sends)
    return state(double)


async def login(request: web.Request) -> web.Response:
    double = request.app[DOUBLE]
    await double.send(double.account.login())
    return state(double)


async def disconnect(request: web.Request) -> web.Response:
    double = request.app[DOUBLE]
    sockets = list(double.sockets.values())
    await asyncio.gather(*(ws.close(code=1012, message=b"dropped") for ws in sockets))
    return state(double)


async def socket_state(request: web.Request) -> web.Response:
    value = (await read_json_object(request)).get("state")
    if value not in BLOCKING_STATES:
        raise ApiError(400, f"'state' must be one of {', '.join(sorted(BLOCKING_STATES))}")
    double = request.app[DOUBLE]
    await double.send(double.account.block(str(value)))
    return state(double)


class WhatsAppDouble(AppServer):
    """The double on its own thread and event loop. `start()` returns once it listens (port 0
    picks a free one: `.url`); `stop()` closes every socket and joins the thread. A context
    manager too. `control` drives its control API from any thread but the double's own."""

    def __init__(self, options: DoubleOptions | None = None, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.options = options or DoubleOptions()
        super().__init__(lambda: create_app(self.options), host, port, name="whatsapp-double")

    def __enter__(self) -> WhatsAppDouble:
        self.start()
        return self

    @property
    def wid(self) -> str:
        """The account's own wid (`getMaybeMePnUser()` once logged in)."""
        return f"{self.options.phone}@c.us"

    @property
    def control(self) -> Control:
        return Control(self.url)
