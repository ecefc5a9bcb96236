"""Delivery policy: what one webhook attempt's answer means, and when to try again.

Pure functions over data, kept apart from the actor that carries them out:
2xx = delivered; 400/413/422 = dead-letter and move on; 401/403/404/410 = pause the
endpoint without spending the event's retry budget; everything else (3xx, 408, 425, 429,
5xx, any other status, a timeout, a connection error) = retry on the schedule, honouring
`Retry-After` up to `RETRY_AFTER_MAX`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum

__all__ = [
    "DEAD_LETTER_STATUSES",
    "PAUSE_STATUSES",
    "PROBE_INITIAL",
    "PROBE_MAX",
    "RETRY_AFTER_MAX",
    "AttemptResult",
    "EndpointState",
    "Outcome",
    "Verdict",
    "classify",
    "parse_retry_after",
    "probe_delay",
    "retry_delay",
    "verdict",
]

DEAD_LETTER_STATUSES = frozenset({400, 413, 422})  # the receiver will never take this event
PAUSE_STATUSES = frozenset({401, 403, 404, 410})  # the endpoint itself is wrong: an operator acts
RETRY_AFTER_MAX = 3600.0  # a Retry-After beyond an hour is read as an hour
PROBE_INITIAL = 15.0  # a paused endpoint is probed after 15 s, 30 s, 60 s, ...
PROBE_MAX = 600.0  # ... and then every 10 minutes


class Outcome(StrEnum):
    """What one attempt led to; also the `outcome` label of warden_webhook_deliveries_total."""

    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD_LETTER = "dead_letter"
    PAUSED = "paused"


class EndpointState(StrEnum):
    """How the webhook endpoint looks from here, as published on the status board."""

    OK = "ok"
    RETRYING = "retrying"
    PAUSED = "paused"


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """The answer to one POST: a status, or None when no HTTP answer came (timeout, refused)."""

    status: int | None
    error: str = ""  # what went wrong, for the outbox and the status board; "" on 2xx
    retry_after: float | None = None  # seconds the receiver asked us to wait, if it did
    seconds: float = 0.0  # how long the attempt took

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def classify(status: int | None) -> Outcome:
    """What an answer with `status` means for the event (None: no answer at all)."""
    if status is not None and 200 <= status < 300:
        return Outcome.DELIVERED
    if status in DEAD_LETTER_STATUSES:
        return Outcome.DEAD_LETTER
    if status in PAUSE_STATUSES:
        return Outcome.PAUSED
    return Outcome.RETRY


@dataclass(frozen=True, slots=True)
class Verdict:
    """What an answer comes to: its outcome, and how long its lane (a retry) or its endpoint
    (a pause) waits before the next attempt; `gave_up` when the schedule ran out."""

    outcome: Outcome
    wait: float | None = None
    gave_up: bool = False


def verdict(result: AttemptResult, failures: int, schedule: Sequence[float], jitter: float,
            rng: random.Random, probes: int) -> Verdict:
    """The verdict on `result`, for an event that failed `failures` times before, at an endpoint
    whose pause has been probed `probes` times."""
    outcome = classify(result.status)
    if outcome is Outcome.RETRY:
        delay = retry_delay(failures + 1, schedule, jitter, rng, result.retry_after)
        if delay is None:
            return Verdict(Outcome.DEAD_LETTER, gave_up=True)
        return Verdict(outcome, delay)
    if outcome is Outcome.PAUSED:
        return Verdict(outcome, probe_delay(probes + 1))
    return Verdict(outcome)


def retry_delay(
    failures: int,
    schedule: Sequence[float],
    jitter: float,
    rng: random.Random,
    retry_after: float | None = None,
) -> float | None:
    """Seconds to wait after the `failures`-th failed attempt, or None when the schedule is spent.

    `schedule[i]` is the wait before attempt i+1, so attempt 1 goes at `schedule[0]` and after
    `len(schedule)` failures the event is dead. The wait is `schedule[failures]` times
    `1 ± jitter`, but never shorter than what `Retry-After` asked for (capped at an hour).
    """
    if failures >= len(schedule):
        return None
    delay = schedule[failures] * (1.0 + jitter * rng.uniform(-1.0, 1.0))
    if retry_after is not None:
        delay = max(delay, min(max(retry_after, 0.0), RETRY_AFTER_MAX))
    return max(delay, 0.0)


def probe_delay(probes: int) -> float:
    """Seconds before probing a paused endpoint for the `probes`-th time (1, 2, ...)."""
    return min(PROBE_MAX, PROBE_INITIAL * 2.0 ** max(probes - 1, 0))


def parse_retry_after(value: str | None, now: float, date: str | None = None) -> float | None:
    """Seconds from a `Retry-After` header: delta-seconds or an HTTP date (RFC 9110 §10.2.3).

    An HTTP date is measured from the response's own `Date` header when there is one (so the
    two clocks need not agree), else from `now` (wall seconds). Unreadable values give None.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():  # isdigit() alone takes "²" (float() raises) and "١٢"
        return float(text)
    when = _http_date(text)
    if when is None:
        return None
    sent = _http_date(date) if date is not None else None
    return max(0.0, when - (sent if sent is not None else now))


def _http_date(text: str) -> float | None:
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:  # an HTTP date is always GMT
        return None
    return parsed.timestamp()
