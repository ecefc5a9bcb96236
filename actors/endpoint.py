"""An endpoint is one receiver of webhooks: where it is, how it is signed, how it is retried and
which events it wants.

`events` are globs over the event types (`session.*`, `message.received`; `*`, `?` and `[...]`
as in shell patterns, matched case-sensitively) and `sessions` are session ids; an empty tuple
wants all. The config validates globs against `EventType` once, at load; the outbox asks an
endpoint's `Route` for every event it commits, so a route is a pair of set lookups.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from actors.webhook_event import EventType

__all__ = [
    "DEFAULT_CONNECTIONS",
    "DEFAULT_ENDPOINT",
    "DEFAULT_SCHEDULE",
    "Route",
    "WebhookConfig",
    "matching_types",
]

DEFAULT_ENDPOINT = "default"  # the id of the endpoint a single `webhook:` section configures
DEFAULT_SCHEDULE = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0, 50400.0, 86400.0)
# Concurrent POSTs per endpoint (each for a different session). Receivers are usually web apps
# with a handful of workers (PHP-FPM's default pool is 5, gunicorn's 2 x cores + 1): more
# requests at once only queue there and run into our timeout. On loopback 8 connections already
# deliver as fast as the machine allows (bench/bench_webhook.py).
DEFAULT_CONNECTIONS = 8


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """One endpoint (`webhook:`, or one item of `webhooks:`)."""

    url: str = "http://127.0.0.1:3001/demo/webhook"
    secret: str = "whsec_ZGVtby1zZWNyZXQtZGVtby1zZWNyZXQtZGVtbw=="
    timeout: float = 15.0
    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    jitter: float = 0.2
    keep_delivered: float = 7 * 86400.0
    id: str = DEFAULT_ENDPOINT
    events: tuple[str, ...] = ()  # globs over event types; () = every type
    sessions: tuple[str, ...] = ()  # session ids; () = every session
    connections: int = DEFAULT_CONNECTIONS

    def route(self) -> Route:
        return Route(self.id, None if not self.events else matching_types(self.events),
                     None if not self.sessions else frozenset(self.sessions))


@dataclass(frozen=True, slots=True)
class Route:
    """Which events go to `endpoint`: None = no filter on that side."""

    endpoint: str
    types: frozenset[str] | None = None
    sessions: frozenset[str] | None = None

    def wants(self, type: str, session_id: str) -> bool:
        return ((self.types is None or type in self.types)
                and (self.sessions is None or session_id in self.sessions))


def matching_types(globs: Iterable[str]) -> frozenset[str]:
    """The known event types that any of `globs` matches."""
    patterns = tuple(globs)
    return frozenset(t.value for t in EventType
                     if any(fnmatchcase(t.value, g) for g in patterns))
