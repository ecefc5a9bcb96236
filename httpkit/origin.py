"""The origin rule refuses what a browser sends to a local server on another site's behalf."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web
from aiohttp.typedefs import Middleware

from httpkit.responses import error_response

__all__ = ["foreign_request", "same_origin"]

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def foreign_request(method: str, headers: Mapping[str, str], local: tuple[str, int], *,
                    check_host: bool = True) -> str | None:
    """Why a request must be refused as made by a browser for another site, or None.

    `headers` must look names up case-insensitively (aiohttp's do); `local` is the address
    the connection came in on. Two attacks on a server without a token are refused:
    - DNS rebinding: a page on evil.example re-points its name at 127.0.0.1 and reads the
      answers as its own origin. The browser still sends `Host: evil.example`, so any Host
      other than the listen address, localhost, 127.0.0.1 or [::1] with the port is refused.
      `check_host=False` for a public listen with a token, behind a proxy's own Host.
    - Cross-site requests: any page can POST a form here. A state-changing request (or a
      WebSocket upgrade) is refused when its `Origin` is present and not this origin, or when
      the browser says it comes from another site (`Sec-Fetch-Site`): pages on other ports of
      localhost are `same-site`, and refused too. Clients that are not browsers send neither.
    """
    host = headers.get("Host", "").lower()
    if check_host:
        address, port = local
        names = {*LOOPBACK_NAMES, f"[{address}]" if ":" in address else address}
        allowed = {f"{name}:{port}" for name in names} | (names if port == 80 else set())
        if host not in allowed:
            return f"Host {host!r} is not this server's address (refused against DNS rebinding)"
    unsafe = method not in SAFE_METHODS or headers.get("Upgrade", "").lower() == "websocket"
    if not unsafe:
        return None
    site = headers.get("Sec-Fetch-Site", "").lower()
    if site in ("cross-site", "same-site"):
        return f"a {site} {method} is refused"
    origin = headers.get("Origin")
    if origin is not None and origin.lower() not in (f"http://{host}", f"https://{host}"):
        return f"a {method} from origin {origin!r} is refused (not this origin)"
    return None


def same_origin(check_host: Callable[[web.Request], bool] = lambda _: True) -> Middleware:
    """A middleware answering 403 JSON to what `foreign_request` refuses.

    `check_host(request)` says whether the Host is checked (not on a public listen with a token).
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        if not sockname:
            return error_response(403, "the connection has no local address")
        refusal = foreign_request(request.method, request.headers, (sockname[0], sockname[1]),
                                  check_host=check_host(request))
        if refusal is not None:
            return error_response(403, refusal)
        return await handler(request)

    return middleware
