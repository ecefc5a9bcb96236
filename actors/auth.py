"""Authentication is the front's bearer-token check, and what a failed one costs and leaves.

The token is compared as bytes in constant time, whatever bytes arrive: aiohttp keeps bytes
that are not UTF-8 as surrogates, which are turned back into those bytes (a `\\xff` used to
raise and answer 500). A token is accepted in UTF-8 (`warden status`, curl) or Latin-1 (what a
browser sends for `tök`). Every failure is counted (`counted(reason)`, reason `missing` or
`wrong`) and logged at most once a minute per reason; a wrong token's 401 waits longer the more
often its address failed (`FailureThrottle`), on the event loop without blocking it, and an
address with `MAX_WAITING` answers already waiting is told 429 at once.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
from collections import Counter
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from httpkit import RateLimitedLog, error_response
from httpkit.throttle import FailureThrottle

__all__ = ["MAX_WAITING", "AuthFailures", "bearer_auth", "token_matches"]

logger = logging.getLogger(__name__)

MAX_WAITING = 4
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def token_matches(given: str, token: str) -> bool:
    """Whether `given` (a header value as aiohttp decoded it) is `token`, in constant time."""
    raw = given.encode("utf-8", "surrogateescape")
    matched = hmac.compare_digest(raw, token.encode())
    try:
        latin = token.encode("latin-1")
    except UnicodeEncodeError:
        return matched
    return hmac.compare_digest(raw, latin) or matched


class AuthFailures:
    """Answers failed authentications: counts, logs and (for wrong tokens) slows them."""

    def __init__(self, counted: Callable[[str], None] | None = None,
                 throttle: FailureThrottle | None = None,
                 log: RateLimitedLog | None = None) -> None:
        self.counted = counted
        self.throttle = throttle or FailureThrottle()
        self.log = log or RateLimitedLog(logger)
        self._waiting: Counter[str] = Counter()

    async def answer(self, request: web.Request, reason: str) -> web.StreamResponse:
        address = request.remote or "unknown"
        if self.counted is not None:
            self.counted(reason)
        self.log.log(logging.WARNING if reason == "wrong" else logging.INFO, reason,
                     "refused %s %s from %s: %s bearer token", request.method, request.path,
                     address, reason)
        delay = self.throttle.failed(address) if reason == "wrong" else 0.0
        if delay > 0:
            if self._waiting[address] >= MAX_WAITING:
                refused = error_response(429, "too many failed attempts; try again later",
                                         {"Retry-After": str(math.ceil(delay))})
                refused.force_close()
                return refused
            self._waiting[address] += 1
            try:
                await asyncio.sleep(delay)
            finally:
                self._waiting[address] -= 1
                if self._waiting[address] <= 0:
                    del self._waiting[address]
        message = "missing bearer token" if reason == "missing" else "wrong token"
        return error_response(401, message, {"WWW-Authenticate": "Bearer"})

    def succeeded(self, request: web.Request) -> None:
        self.throttle.succeeded(request.remote or "unknown")


def bearer_auth(token: str, public: Callable[[web.Request], bool],
                failures: AuthFailures) -> Middleware:
    """A middleware: without a token, or for a `public` request, nothing is checked."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not token or public(request):
            return await handler(request)
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return await failures.answer(request, "missing")
        if not token_matches(given.strip(), token):
            return await failures.answer(request, "wrong")
        failures.succeeded(request)
        return await handler(request)

    return middleware
