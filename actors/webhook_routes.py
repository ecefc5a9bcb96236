"""The webhook routes are the HTTP API over the endpoints and their deliveries: their state and
backlog, an endpoint's events, one event's attempts, replay and dead-letter requeues.

Every outbox read or write runs in the loop's executor (it touches SQLite); input is checked
here, once: an unknown endpoint is 404, a malformed id, state, session, limit or time 400.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from aiohttp import web

from actors.front_config import FrontDeps
from actors.ids import is_session_id
from actors.outbox_health import OutboxHealth
from actors.outbox_records import DeliveryRecord, EndpointStats, EventDetail
from actors.outbox_schema import DeliveryState
from actors.views import Board, iso
from actors.webhook import KIND, redact
from actors.webhooks import Webhooks
from httpkit import ApiError, json_response, read_json_object

__all__ = ["EVENTS_LIMIT", "add_webhook_routes", "endpoints_json", "outbox_health_json"]

EVENTS_LIMIT = 1000  # events one answer lists at most
EVENT_ID = re.compile(r"evt_[0-9A-HJKMNP-TV-Z]{26}")
LIMIT = re.compile(r"[0-9]{1,9}")

T = TypeVar("T")


def add_webhook_routes(app: web.Application, deps: web.AppKey[FrontDeps]) -> None:
    """Add the /webhooks routes to `app`, whose `deps` key holds the front's deps."""
    async def endpoints(request: web.Request) -> web.Response:
        webhooks = _webhooks(request, deps)
        return json_response(await _off_loop(
            lambda: endpoints_json(webhooks, request.app[deps].board)))

    async def events(request: web.Request) -> web.Response:
        webhooks = _webhooks(request, deps)
        endpoint = _endpoint(request, webhooks)
        state, session, limit = _event_query(request.query)
        records = await _off_loop(
            lambda: webhooks.queue(endpoint).records(state, session, limit))
        return json_response({"events": [record_json(r) for r in records]})

    async def event(request: web.Request) -> web.Response:
        webhooks = _webhooks(request, deps)
        event_id = request.match_info["event_id"]
        if not EVENT_ID.fullmatch(event_id):
            raise ApiError(400, f"malformed event id {event_id!r} (evt_ and 26 characters)")
        detail = await _off_loop(lambda: webhooks.event(event_id))
        if detail is None:
            raise ApiError(404, f"no event {event_id} (unknown, or forgotten after delivery)")
        return json_response(detail_json(detail))

    async def replay(request: web.Request) -> web.Response:
        webhooks = _webhooks(request, deps)
        endpoint = _endpoint(request, webhooks)
        body = await read_json_object(request)
        unknown = set(body) - {"since", "session"}
        if unknown:
            raise ApiError(400, f"unknown field {sorted(unknown)[0]!r} (expected: since, session)")
        since = _since(body.get("since"), request.app[deps].clock.time())
        session = body.get("session")
        if session is not None and (not isinstance(session, str) or not is_session_id(session)):
            raise ApiError(400, f"session must be a session id, got {session!r}")
        count = await _off_loop(lambda: webhooks.queue(endpoint).replay(since, session))
        return json_response({"requeued": count}, status=202)

    async def requeue_one(request: web.Request) -> web.Response:
        webhooks = _webhooks(request, deps)
        endpoint = _endpoint(request, webhooks)
        await read_json_object(request, optional=True)
        event_id = request.match_info["event_id"]
        if not EVENT_ID.fullmatch(event_id):
            raise ApiError(400, f"malformed event id {event_id!r} (evt_ and 26 characters)")
        queue = webhooks.queue(endpoint)
        record = await _off_loop(lambda: queue.record(event_id))
        if record is None:
            raise ApiError(404, f"no event {event_id} for endpoint {endpoint}")
        if record.state is not DeliveryState.DEAD or not await _off_loop(
                lambda: queue.requeue(event_id)):
            raise ApiError(409, f"{event_id} is {record.state} at {endpoint}, not a dead letter")
        return json_response({"requeued": 1}, status=202)

    async def requeue_all(request: web.Request) -> web.Response:
        webhooks = _webhooks(request, deps)
        endpoint = _endpoint(request, webhooks)
        await read_json_object(request, optional=True)
        count = await _off_loop(lambda: webhooks.queue(endpoint).requeue_all_dead())
        return json_response({"requeued": count}, status=202)

    app.router.add_get("/webhooks", endpoints)
    app.router.add_get("/webhooks/events/{event_id}", event)  # before /webhooks/{endpoint}/...
    app.router.add_get("/webhooks/{endpoint}/events", events)
    app.router.add_post("/webhooks/{endpoint}/replay", replay)
    app.router.add_post("/webhooks/{endpoint}/dead/requeue", requeue_all)
    app.router.add_post("/webhooks/{endpoint}/dead/{event_id}/requeue", requeue_one)


# --- input --------------------------------------------------------------------------------------


def _webhooks(request: web.Request, deps: web.AppKey[FrontDeps]) -> Webhooks:
    webhooks = request.app[deps].webhooks
    if webhooks is None:
        raise ApiError(404, "no webhook endpoints on this Warden")
    return webhooks


def _endpoint(request: web.Request, webhooks: Webhooks) -> str:
    endpoint = request.match_info["endpoint"]
    if not is_session_id(endpoint):  # the same rule as session ids
        raise ApiError(400, f"malformed endpoint id {endpoint!r}")
    if webhooks.get(endpoint) is None:
        raise ApiError(404, f"no endpoint {endpoint} (configured: "
                            f"{', '.join(webhooks.ids()) or 'none'})")
    return endpoint


def _event_query(query: Mapping[str, str]) -> tuple[DeliveryState | None, str | None, int]:
    state_text = query.get("state")
    if state_text is not None and state_text not in set(DeliveryState):
        raise ApiError(400, f"state must be one of {', '.join(DeliveryState)}, got {state_text!r}")
    session = query.get("session")
    if session is not None and not is_session_id(session):
        raise ApiError(400, f"malformed session id {session!r}")
    text = query.get("limit", "100")
    if not LIMIT.fullmatch(text) or not 1 <= int(text) <= EVENTS_LIMIT:
        raise ApiError(400, f"limit must be a whole number from 1 to {EVENTS_LIMIT}, got {text!r}")
    return (None if state_text is None else DeliveryState(state_text)), session, int(text)


def _since(value: object, now: float) -> float:
    """A replay's `since`: an ISO 8601 time with a zone, not in the future."""
    if not isinstance(value, str):
        raise ApiError(400, "since must be an ISO 8601 time such as 2026-11-24T21:30:00Z")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(400, f"since is not an ISO 8601 time: {value!r}") from None
    if when.tzinfo is None:
        raise ApiError(400, f"since needs a time zone (Z or +00:00): {value!r}")
    seconds = when.timestamp()
    if seconds > now:
        raise ApiError(400, f"since is in the future: {value!r} (now is {iso(now)})")
    return seconds


async def _off_loop(read: Callable[[], T]) -> T:
    return await asyncio.get_running_loop().run_in_executor(None, read)


# --- answers ------------------------------------------------------------------------------------


def endpoints_json(webhooks: Webhooks, board: Board) -> dict[str, Any]:
    """`GET /webhooks`: every configured endpoint with its state and backlog (never its secret)."""
    paused = {s.details.get("endpoint"): s.details.get("endpoint_state") == "paused"
              for s in board.of_kind(KIND)}
    return {"endpoints": [
        endpoint_json(e.id, e.url, paused.get(e.id, False), webhooks.stats(e.id))
        for e in webhooks.endpoints()]}


def endpoint_json(endpoint: str, url: str, paused: bool, stats: EndpointStats) -> dict[str, Any]:
    return {"id": endpoint, "url": redact(url), "state": "paused" if paused else "active",
            "pending": stats.pending, "oldest_age_seconds": stats.oldest_age_seconds,
            "dead_letters": stats.dead_letters, "delivered_total": stats.delivered_total}


def record_json(record: DeliveryRecord) -> dict[str, Any]:
    return {"id": record.event_id, "type": record.type, "session_id": record.session_id,
            "seq": record.seq, "timestamp": record.timestamp, "state": str(record.state),
            "attempts": record.attempts, "last_status": record.last_status}


def detail_json(detail: EventDetail) -> dict[str, Any]:
    """`GET /webhooks/events/{id}`: the event, and for every endpoint it goes to, its state and
    attempts."""
    return {
        "id": detail.id, "type": detail.type, "session_id": detail.session_id,
        "seq": detail.seq, "timestamp": detail.timestamp,
        "deliveries": [{
            "endpoint": record.endpoint,
            "state": str(record.state),
            "next_attempt_at": iso(record.next_attempt_at),
            "attempts": [{"at": iso(a.at), "status": a.status, "error": a.error,
                          "duration_ms": a.duration_ms} for a in attempts],
        } for record, attempts in detail.deliveries],
    }


def outbox_health_json(health: OutboxHealth) -> dict[str, Any]:
    """The outbox's health (see actors.outbox_health), as /overview shows it."""
    return {"healthy": health.healthy, "problems": list(health.problems),
            "free_bytes": health.free_bytes, "append_failures": health.append_failures,
            "last_failure": health.last_failure}
