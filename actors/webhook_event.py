"""A webhook event is one fact about a session, frozen as the exact JSON bytes every attempt POSTs.

The body: `{"id": "evt_<ulid>", "type": T, "timestamp": "<event time, ISO 8601 UTC>",
"session_id": S, "seq": N, "data": {...}}`, keys in that order, compact, ASCII (any other
character as a `\\uXXXX` escape).

A `message.received` event is one message of the app: its `data["message_id"]` (the app's own
id) makes it unique in its session, so a message pushed again is the same event (`message_key`).
"""

from __future__ import annotations

import functools
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from actors.ulid import new_ulid

__all__ = ["EventType", "StoredEvent", "body_parts", "event_body", "iso_millis", "message_key",
           "new_event_id", "to_json"]


class EventType(StrEnum):
    """The webhook event types, as receivers see them in `type`."""

    MESSAGE_RECEIVED = "message.received"
    SESSION_STARTED = "session.started"
    SESSION_RESTARTING = "session.restarting"
    SESSION_RECOVERED = "session.recovered"
    SESSION_HEALTH_FAILED = "session.health_failed"
    SESSION_AUTH_REQUIRED = "session.auth_required"
    SESSION_OFFLINE = "session.offline"
    SESSION_RECONCILED = "session.reconciled"
    SESSION_STOPPED = "session.stopped"


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A committed event, as delivery needs it: `body` is exactly what is POSTed."""

    id: str
    session_id: str
    seq: int
    type: str
    body: bytes
    pos: int = 0  # its place in the outbox's commit order


def message_key(type: str, data: Mapping[str, Any]) -> str | None:
    """The app's id of the message a `message.received` event carries (a string
    `data["message_id"]`); None for any other event, which is never the same as another."""
    if type != EventType.MESSAGE_RECEIVED:
        return None
    message_id = data.get("message_id")
    return message_id if isinstance(message_id, str) else None


def new_event_id(at: float) -> str:
    return f"evt_{new_ulid(at)}"


def to_json(value: Any) -> str:
    """Compact, ASCII-only JSON (so the body is valid UTF-8 whatever the strings held);
    refuses NaN and anything else JSON cannot hold."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False)


def event_body(event_id: str, type: str, at: float, session_id: str, seq: int,
               data_json: str) -> bytes:
    """The event's bytes; `data_json` is the data already serialized by `to_json`."""
    head, tail = body_parts(event_id, type, at, session_id, data_json)
    return f"{head}{seq}{tail}".encode("ascii")


def body_parts(event_id: str, type: str, at: float, session_id: str,
               data_json: str) -> tuple[str, str]:
    """The body before and after its `seq`, so the outbox can build them outside its commit
    and only put the number in between."""
    return (f'{{"id":{_json_text(event_id)},"type":{_json_text(type)},'
            f'"timestamp":"{iso_millis(at)}","session_id":{_json_text(session_id)},"seq":',
            f',"data":{data_json}}}')


def iso_millis(at: float) -> str:
    """`at` (seconds since the epoch) as ISO 8601 UTC to the millisecond, cut, not rounded:
    what `datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")` says."""
    if at < 0:
        return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
    fraction, whole = math.modf(at)
    micros = round(fraction * 1e6)  # as datetime rounds a timestamp to its microsecond
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    return f"{_iso_second(int(whole))}.{micros // 1000:03d}Z"


# Cached: the same seconds, types and session ids come back in every event, and formatting them
# was two thirds of building a body (9.3 -> 2.7 us an event).
@functools.lru_cache(maxsize=256)
def _iso_second(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


@functools.lru_cache(maxsize=4096)
def _json_text(text: str) -> str:
    return to_json(text)
