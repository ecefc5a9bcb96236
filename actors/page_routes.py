"""Page routes reach a session's page or its record: the login QR code, a pairing-code login, a
screenshot of the page now, and the incidents recorded at its restarts.

The QR code is read from the status board (the page reports each code as it changes), so it
answers at once. A screenshot or a pairing code is a call on the page's driver loop with a
deadline, awaited without blocking the front's loop: a hung page answers 503 within 5 s and no
other route waits for it. Incidents are files, read in the loop's executor.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Callable
from typing import Any

import segno
from aiohttp import web

from actors.adapters import load_adapter
from actors.front_config import FrontDeps
from actors.ids import is_incident_id
from actors.pages import LivePage, NoPage
from actors.views import iso
from httpkit import ApiError, json_response, read_json_object
from runtime import ChildState, ChildStatus

__all__ = ["SCREENSHOT_TIMEOUT", "add_page_routes", "qr_png"]

SCREENSHOT_TIMEOUT = 4.5  # seconds: with the rest of the request, a 503 comes within 5 s
PAIRING_TIMEOUT = 20.0
PHONE = re.compile(r"\+?[0-9]{7,15}")  # E.164: country code and number, 15 digits at most

Deps = Callable[[web.Request], FrontDeps]
Find = Callable[[web.Request], ChildStatus]


def qr_png(payload: str, scale: int = 6) -> bytes:
    """The QR code of `payload` as a PNG, as the app draws it for the phone to scan."""
    out = io.BytesIO()
    segno.make(payload, error="l").save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def add_page_routes(app: web.Application, deps: Deps, find: Find) -> None:
    """Add the routes; `deps` gives the front's deps of a request, `find` its session."""

    async def qr(request: web.Request) -> web.StreamResponse:
        status = _waiting(find(request))
        code, expires = status.details.get("login_qr"), status.details.get("login_qr_expires_at")
        if not code:
            raise ApiError(409, f"session {status.id} waits for a login but shows no QR code "
                                "yet")
        form = request.query.get("format", "png")
        if form == "json":
            return json_response({"qr": code, "expires_at": iso(expires)})
        if form != "png":
            raise ApiError(400, f"format must be png or json, got {form!r}")
        body = await _in_executor(qr_png, str(code))
        return web.Response(body=body, content_type="image/png",
                            headers={"Cache-Control": "no-store"})

    async def pairing_code(request: web.Request) -> web.Response:
        body = await read_json_object(request)
        phone = body.get("phone")
        if not isinstance(phone, str) or not PHONE.fullmatch(phone.replace(" ", "")):
            raise ApiError(400, "phone must be a number with its country code, 7 to 15 digits "
                                "(e.g. +4915112345678)")
        status = find(request)
        adapter = str(status.details.get("adapter", ""))
        try:
            pairing = load_adapter(adapter).pairing
        except ValueError:
            pairing = False
        if not pairing:
            raise ApiError(501, f"the {adapter or 'session'}'s adapter has no pairing-code login")
        _waiting(status)
        digits = phone.replace(" ", "").removeprefix("+")

        async def start(page: LivePage) -> str:
            return await page.adapter.pairing_code(page.page, digits)

        code = await _on_page(deps(request), status.id, start, PAIRING_TIMEOUT)
        return json_response({"code": code})

    async def screenshot(request: web.Request) -> web.Response:
        status = find(request)

        async def take(page: LivePage) -> bytes:
            return await page.page.screenshot(type="png")

        png = await _on_page(deps(request), status.id, take, SCREENSHOT_TIMEOUT)
        return web.Response(body=png, content_type="image/png",
                            headers={"Cache-Control": "no-store"})

    async def incidents(request: web.Request) -> web.Response:
        status = find(request)
        store = deps(request).incidents
        found = [] if store is None else await _in_executor(store.of_session, status.id)
        return json_response({"incidents": found})

    async def incident(request: web.Request) -> web.Response:
        return json_response(await _incident(request, deps(request)))

    async def incident_screenshot(request: web.Request) -> web.Response:
        name = _incident_id(request)
        store = deps(request).incidents
        png = None if store is None else await _in_executor(store.screenshot, name)
        if png is None:
            raise ApiError(404, f"incident {name} has no screenshot")
        return web.Response(body=png, content_type="image/png")

    app.router.add_get("/sessions/{id}/qr", qr)
    app.router.add_post("/sessions/{id}/pairing-code", pairing_code)
    app.router.add_get("/sessions/{id}/screenshot", screenshot)
    app.router.add_get("/sessions/{id}/incidents", incidents)
    app.router.add_get("/incidents/{incident}", incident)
    app.router.add_get("/incidents/{incident}/screenshot.png", incident_screenshot)


async def _on_page(deps: FrontDeps, session_id: str, work: Any, timeout: float) -> Any:
    """`work(live page)` on the page's driver loop: 503 when there is no page or it does not
    answer in time."""
    if deps.pages is None:
        raise ApiError(503, "pages are not reachable in this runtime")
    try:
        return await deps.pages.call(session_id, work, timeout)
    except NoPage:
        raise ApiError(503, f"session {session_id} has no open page now") from None
    except TimeoutError:
        raise ApiError(503, f"the page of session {session_id} did not answer within "
                            f"{timeout:g}s") from None
    except NotImplementedError as exc:
        raise ApiError(501, str(exc)) from None
    except Exception as exc:  # the page closed or crashed meanwhile
        first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ApiError(503, f"the page of session {session_id} could not do it: {first}") \
            from None


def _waiting(status: ChildStatus) -> ChildStatus:
    """`status`, if its session waits for a login; 409 otherwise."""
    if status.state is not ChildState.AUTH_REQUIRED:
        raise ApiError(409, f"session {status.id} is not waiting for a login "
                            f"(state: {status.state})")
    return status


def _incident_id(request: web.Request) -> str:
    name = request.match_info["incident"]
    if not is_incident_id(name):
        raise ApiError(400, f"malformed incident id {name!r}")
    return name


async def _incident(request: web.Request, deps: FrontDeps) -> dict[str, Any]:
    name = _incident_id(request)
    found = None if deps.incidents is None else await _in_executor(deps.incidents.get, name)
    if not isinstance(found, dict):
        raise ApiError(404, f"no incident {name}")
    return found


async def _in_executor(work: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, work, *args)
