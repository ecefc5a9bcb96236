"""A request body is read whole within the app's size limit and time limit, and JSON bodies
must be objects."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from httpkit.guard import BODY_TIMEOUT, Limits

__all__ = ["ApiError", "read_body", "read_json_object"]


class ApiError(Exception):
    """Raised by a handler to answer `{"error": message}` with `status`; `close` ends the
    connection after the answer (the rest of the request cannot be read)."""

    def __init__(self, status: int, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.close = close


async def read_body(request: web.Request) -> bytes:
    """The request body; 413 above the app's `client_max_size`, 400 when it cannot be decoded
    (a `Content-Encoding` it does not match, a broken chunked encoding), 408 when it does not
    arrive whole within the app's body timeout (a client sending a byte now and then)."""
    seconds = request.config_dict.get(BODY_TIMEOUT, Limits().body_timeout)
    try:
        async with asyncio.timeout(seconds):
            return await request.read()
    except TimeoutError:
        raise ApiError(408, f"the body did not arrive within {seconds:g}s", close=True) from None
    except web.RequestPayloadError as exc:
        why = getattr(exc.__cause__, "message", None) or "malformed payload"
        # aiohttp drops the connection after this answer: tell a keep-alive client so.
        raise ApiError(400, f"the body cannot be read: {why}", close=True) from None


async def read_json_object(request: web.Request, *, optional: bool = False) -> dict[str, Any]:
    """The body as a JSON object; with `optional`, an empty body is `{}`. 400 otherwise."""
    body = await read_body(request)
    if optional and not body.strip():
        return {}
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        raise ApiError(400, "body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "body must be a JSON object")
    return payload
