"""Responses are JSON; errors answer `{"error": message}` with their status, whoever raised them."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from httpkit.body import ApiError

__all__ = ["dumps", "error_response", "json_errors", "json_response"]

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_KEPT_HEADERS = ("allow", "retry-after", "www-authenticate")


def dumps(payload: Any) -> bytes:
    """Compact JSON bytes, as every answer is written."""
    return json.dumps(payload, separators=(",", ":")).encode()


def json_response(payload: Any, status: int = 200,
                  headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(body=dumps(payload), status=status, headers=headers,
                        content_type="application/json")


def error_response(status: int, message: str,
                   headers: Mapping[str, str] | None = None) -> web.Response:
    return json_response({"error": message}, status, headers)


def json_errors(*, max_body: int, log_hint: str) -> Middleware:
    """A middleware: `ApiError`, aiohttp's own HTTP errors (404, 405, 413) and failures all
    answer JSON; a failure is logged and answers 500 saying where to look (`log_hint`)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            response = error_response(exc.status, exc.message)
            if exc.close:
                response.force_close()
            return response
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            headers = {k: v for k, v in exc.headers.items() if k.lower() in _KEPT_HEADERS}
            message = {404: "not found", 405: f"method {request.method} not allowed",
                       413: f"request body larger than {max_body} bytes"
                       }.get(exc.status, exc.reason)
            return error_response(exc.status, message, headers)
        except Exception:
            logger.exception("%s %s failed", request.method, request.path)
            return error_response(500, f"internal error (see {log_hint})")

    return middleware
