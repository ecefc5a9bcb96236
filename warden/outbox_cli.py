"""`warden outbox`: the operator's view of the webhook outbox, and requeueing dead letters.

It opens `state_dir/outbox.sqlite3` directly, so it works whether or not the runtime is running
(SQLite's WAL lets it read beside a live writer; a requeue is picked up by a running webhook
actor within a second). Exit codes: 0 ok, 2 bad usage, bad config or unknown event id.
"""

from __future__ import annotations

import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

from actors.outbox import FILE_NAME, EventRecord, EventState, Outbox
from warden.config import ConfigError, load_config

__all__ = ["main"]

DEAD_LETTERS_SHOWN = 20


def main(config_path: str, subcommand: str | None, event_id: str | None, all_dead: bool) -> int:
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        return 2
    path = config.state_dir / FILE_NAME
    try:
        return _command(path, config.webhook.keep_delivered, subcommand, event_id, all_dead)
    except (sqlite3.Error, OSError) as exc:  # a corrupted, unreadable or locked file
        print(f"warden outbox: cannot use {path}: {exc}", file=sys.stderr)
        return 2


def _command(path: Path, keep_delivered: float, subcommand: str | None, event_id: str | None,
             all_dead: bool) -> int:
    if subcommand is None:
        return _show(path, keep_delivered)
    if subcommand == "requeue":
        if (event_id is None) == (not all_dead):
            print("warden outbox requeue: give one event id, or --all-dead", file=sys.stderr)
            return 2
        return _requeue(path, event_id)
    print(f"warden outbox: unknown command {subcommand!r} (expected: requeue)", file=sys.stderr)
    return 2


def _show(path: Path, keep_delivered: float) -> int:
    if not path.exists():
        print(f"outbox {path}: nothing queued yet (the file does not exist)")
        return 0
    outbox = Outbox(path)
    try:
        stats = outbox.stats()
        head = outbox.pending(1)
        head_record = outbox.record(head[0].id) if head else None
        dead = outbox.dead_letters(DEAD_LETTERS_SHOWN)
    finally:
        outbox.close()
    now = datetime.now(UTC).timestamp()
    oldest = ("" if stats.oldest_age_seconds is None
              else f" (oldest accepted {_span(stats.oldest_age_seconds)} ago)")
    print(f"outbox {path}")
    print(f"  pending       {stats.pending}{oldest}")
    print(f"  dead letters  {stats.dead_letters}")
    print(f"  delivered     {stats.delivered} (kept {_span(keep_delivered)})")
    if head_record is not None:
        print(f"  next          {_head(head_record, now)}")
    if dead:
        more = f", first {len(dead)} shown" if stats.dead_letters > len(dead) else ""
        print(f"\ndead letters (oldest first{more}):")
        for record in dead:
            print(f"  {_dead(record)}")
        print("\nrequeue one with `warden outbox requeue ID`, "
              "or all with `warden outbox requeue --all-dead`")
    return 0


def _requeue(path: Path, event_id: str | None) -> int:
    if not path.exists():
        if event_id is not None:
            print(f"warden outbox requeue: no event {event_id} (no outbox at {path})",
                  file=sys.stderr)
            return 2
        print("requeued 0 dead letters (nothing has been queued yet)")
        return 0
    outbox = Outbox(path)
    try:
        if event_id is None:
            count = outbox.requeue_all_dead()
            print(f"requeued {count} dead letter{'' if count == 1 else 's'}")
            return 0
        record = outbox.record(event_id)
        if record is None:
            print(f"warden outbox requeue: no event {event_id} in {path}", file=sys.stderr)
            return 2
        if record.state is not EventState.DEAD:
            print(f"warden outbox requeue: {event_id} is {record.state}, not a dead letter",
                  file=sys.stderr)
            return 2
        outbox.requeue(event_id)
        print(f"requeued {event_id} ({record.session_id} #{record.seq}, {record.type});"
              " it goes ahead of newer events")
        return 0
    finally:
        outbox.close()


def _head(record: EventRecord, now: float) -> str:
    text = f"{record.id} ({record.session_id} #{record.seq}, {record.type})"
    if record.last_error:
        text += (f", {record.attempts} failed attempt{'' if record.attempts == 1 else 's'},"
                 f" last: {record.last_error}")
    if record.next_attempt_at is not None and record.next_attempt_at > now:
        text += f", next attempt in {_span(record.next_attempt_at - now)}"
    return text


def _dead(record: EventRecord) -> str:
    since = "" if record.settled_at is None else f", dead since {_iso(record.settled_at)}"
    attempts = f"{record.attempts} attempt{'' if record.attempts == 1 else 's'}"
    return (f"{record.id}  {record.session_id} #{record.seq}  {record.type}  "
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
