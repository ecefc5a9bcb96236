"""`warden outbox`: the operator's view of the webhook outbox, per endpoint, and requeueing dead
letters.

It opens `state_dir/outbox.sqlite3` directly, so it works whether or not the runtime is running
(SQLite's WAL lets it read beside a live writer; a requeue is picked up by a running webhook
actor within a second). Exit codes: 0 ok, 2 bad usage, bad config, an unknown endpoint or event
id, or an outbox file that cannot be used (said in one line).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from actors.endpoint import WebhookConfig
from actors.outbox import FILE_NAME, DeliveryRecord, DeliveryState, Outbox
from actors.outbox_health import OutboxUnusable, marker_path
from actors.webhook import redact
from warden.config import ConfigError, load_config

__all__ = ["main"]

DEAD_LETTERS_SHOWN = 20


def main(config_path: str, subcommand: str | None, event_id: str | None, all_dead: bool,
         endpoint: str | None = None) -> int:
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        return 2
    path = config.state_dir / FILE_NAME
    if endpoint is not None and endpoint not in {e.id for e in config.webhooks}:
        print(f"warden outbox: no endpoint {endpoint!r} in {config_path} (configured: "
              f"{', '.join(e.id for e in config.webhooks) or 'none'})", file=sys.stderr)
        return 2
    if subcommand not in (None, "requeue"):
        print(f"warden outbox: unknown command {subcommand!r} (expected: requeue)",
              file=sys.stderr)
        return 2
    if subcommand == "requeue" and (event_id is None) == (not all_dead):
        print("warden outbox requeue: give one event id, or --all-dead", file=sys.stderr)
        return 2
    if not path.exists() and not marker_path(path).exists():
        if subcommand is None:
            print(f"outbox {path}: nothing queued yet (the file does not exist)")
            return 0
        if event_id is not None:
            print(f"warden outbox requeue: no event {event_id} (no outbox at {path})",
                  file=sys.stderr)
            return 2
        print("requeued 0 dead letters (nothing has been queued yet)")
        return 0
    try:
        outbox = Outbox(path)
    except OutboxUnusable as exc:
        print(f"warden outbox: {exc}", file=sys.stderr)
        return 2
    try:
        if subcommand is None:
            return _show(outbox, path, config.webhooks)
        chosen = [endpoint] if endpoint is not None else [e.id for e in config.webhooks]
        return _requeue(outbox, path, chosen, event_id)
    finally:
        outbox.close()


def _show(outbox: Outbox, path: Path, endpoints: Sequence[WebhookConfig]) -> int:
    now = datetime.now(UTC).timestamp()
    health = outbox.health()
    print(f"outbox {path}" + ("" if health.healthy else f" (NOT HEALTHY: {health.problems[0]})"))
    others = [e for e in outbox.endpoints_with_deliveries()
              if e not in {c.id for c in endpoints}]
    shown: list[tuple[str, str, float | None]] = [(e.id, redact(e.url), e.keep_delivered)
                                                  for e in endpoints]
    shown += [(e, "not configured: its events are kept until it is", None) for e in others]
    for endpoint, url, keep in shown:
        queue = outbox.endpoint(endpoint)
        stats = queue.stats()
        oldest = ("" if stats.oldest_age_seconds is None
                  else f" (oldest accepted {_span(stats.oldest_age_seconds)} ago)")
        kept = "" if keep is None else f", kept {_span(keep)}"
        print(f"\nendpoint {endpoint}  {url}")
        print(f"  pending       {stats.pending}{oldest}")
        print(f"  dead letters  {stats.dead_letters}")
        print(f"  delivered     {stats.delivered} ({stats.delivered_total} in all{kept})")
        for record in queue.records(DeliveryState.PENDING, limit=3):
            print(f"  next          {_head(record, now)}")
        dead = queue.dead_letters(DEAD_LETTERS_SHOWN)
        if dead:
            more = f", first {len(dead)} shown" if stats.dead_letters > len(dead) else ""
            print(f"  dead letters (oldest first{more}):")
            for record in dead:
                print(f"    {_dead(record)}")
    if any(outbox.endpoint(e).stats().dead_letters for e, _, _ in shown):
        print("\nrequeue one with `warden outbox requeue ID [--endpoint E]`, "
              "or all with `warden outbox requeue --all-dead [--endpoint E]`")
    return 0


def _requeue(outbox: Outbox, path: Path, endpoints: list[str], event_id: str | None) -> int:
    if event_id is None:
        for endpoint in endpoints:
            count = outbox.endpoint(endpoint).requeue_all_dead()
            print(f"{endpoint}: requeued {count} dead letter{'' if count == 1 else 's'}")
        return 0
    records = [r for r in (outbox.endpoint(e).record(event_id) for e in endpoints)
               if r is not None]
    if not records:
        print(f"warden outbox requeue: no event {event_id} in {path}"
              + (f" for endpoint {endpoints[0]}" if len(endpoints) == 1 else ""),
              file=sys.stderr)
        return 2
    dead = [r for r in records if r.state is DeliveryState.DEAD]
    if not dead:
        states = ", ".join(f"{r.state} at {r.endpoint}" for r in records)
        print(f"warden outbox requeue: {event_id} is {states}, not a dead letter",
              file=sys.stderr)
        return 2
    for record in dead:
        outbox.endpoint(record.endpoint).requeue(event_id)
        print(f"{record.endpoint}: requeued {event_id} ({record.session_id} #{record.seq},"
              f" {record.type}); it goes ahead of the session's newer events")
    return 0


def _head(record: DeliveryRecord, now: float) -> str:
    text = f"{record.event_id} ({record.session_id} #{record.seq}, {record.type})"
    if record.last_error:
        text += (f", {record.failures} failed attempt{'' if record.failures == 1 else 's'},"
                 f" last: {record.last_error}")
    if record.next_attempt_at is not None and record.next_attempt_at > now:
        text += f", next attempt in {_span(record.next_attempt_at - now)}"
    return text


def _dead(record: DeliveryRecord) -> str:
    since = "" if record.settled_at is None else f", dead since {_iso(record.settled_at)}"
    attempts = f"{record.attempts} attempt{'' if record.attempts == 1 else 's'}"
    return (f"{record.event_id}  {record.session_id} #{record.seq}  {record.type}  "
            f"{record.last_error or 'no answer'}  ({attempts}{since})")


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _span(seconds: float) -> str:
    """`seconds` for people: 45s, 3m 12s, 2h 5m, 7d."""
    whole = round(seconds)
    for unit, size, sub_unit, sub_size in (("d", 86400, "h", 3600), ("h", 3600, "m", 60),
                                            ("m", 60, "s", 1)):
        if whole >= size:
            major, rest = divmod(whole, size)
            minor = rest // sub_size
            return f"{major}{unit}" + (f" {minor}{sub_unit}" if minor else "")
    return f"{whole}s"
