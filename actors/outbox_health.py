"""The outbox's health is whether an append can be committed now: the file at the outbox's path
is still the one opened, it takes writes, and its disk has room.

`Outbox.health()` returns an `OutboxHealth`, checked at most once a second (a stat, a statvfs,
and while appends fail, one probe write that needs new pages as an append does), so
`/healthz`, status views and metric scrapes may all ask it. `open_checked` opens a file only
when it is usable: a corrupted file, one from a newer Warden, or a missing file this state_dir
is known to have had are refused with one `OutboxUnusable` message, before anything else
starts. A state_dir knows it had an outbox by a
marker beside it (`outbox.sqlite3.id`) holding the id also stored in the file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from actors.outbox_schema import SchemaTooNew
from actors.outbox_store import FileIdentity, Store
from runtime.clock import Clock

__all__ = [
    "CHECK_EVERY",
    "MIN_FREE_BYTES",
    "HealthCheck",
    "OutboxHealth",
    "OutboxUnavailable",
    "OutboxUnusable",
    "check_outbox",
    "marker_path",
    "open_checked",
]

logger = logging.getLogger(__name__)

MIN_FREE_BYTES = 64 * 2**20  # under this much free disk an append may fail any moment
CHECK_EVERY = 1.0  # seconds a health reading is reused


class OutboxUnavailable(RuntimeError):
    """The outbox refuses appends now (its file was deleted or replaced while running)."""


class OutboxUnusable(RuntimeError):
    """The outbox file cannot be opened as it is; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class OutboxHealth:
    """The outbox as seen by the last check."""

    healthy: bool
    problems: tuple[str, ...]  # each a sentence for operators; empty when healthy
    free_bytes: int | None  # on the outbox's file system; None if it could not be read
    append_failures: int  # appends that failed since start: a count of events, never lowered
    last_failure: str | None  # the last failed write, while it has not been followed by a good one
    checked_at: float  # wall seconds


def marker_path(path: Path) -> Path:
    return path.with_name(path.name + ".id")


class HealthCheck:
    """Checks `store` on demand, at most once every `every` seconds of `clock`."""

    def __init__(self, store: Store, clock: Clock, *, min_free: int = MIN_FREE_BYTES,
                 every: float = CHECK_EVERY,
                 free_bytes: Callable[[Path], int] | None = None) -> None:
        self._store = store
        self._clock = clock
        self._min_free = min_free
        self._every = every
        self._free_bytes = free_bytes or _free_bytes
        self._lock = threading.Lock()
        self._last: OutboxHealth | None = None
        self._last_at = 0.0

    def now(self) -> OutboxHealth:
        with self._lock:
            at = self._clock.monotonic()
            if self._last is None or at - self._last_at >= self._every:
                before, self._last = self._last, self._check()
                self._last_at = at
                if before is None or before.problems != self._last.problems:
                    self._log(self._last)
            return self._last

    def _check(self) -> OutboxHealth:
        store = self._store
        problems = []
        if FileIdentity.of(store.path) != store.identity:
            problems.append(self.identity_problem())
        try:
            free: int | None = self._free_bytes(store.path.parent)
        except OSError as exc:
            free = None
            problems.append(f"cannot read the free space of {store.path.parent}: {exc.strerror}")
        if free is not None and free < self._min_free:
            problems.append(f"{free // 2**20} MiB free on {store.path.parent}, under the"
                            f" {self._min_free // 2**20} MiB an outbox needs to take appends")
        if store.failure is not None and not store.closed:
            # a probe: would an append's write go through now?
            with contextlib.suppress(sqlite3.Error), store.writing(durable=True) as conn:
                conn.execute("INSERT OR REPLACE INTO meta (key, value)"
                             " VALUES ('probe', randomblob(16384))")
                conn.execute("DELETE FROM meta WHERE key = 'probe'")
        failure = store.failure
        if failure is not None:
            problems.append(f"appends to {store.path} fail: {failure.error}")
        if store.keep_failure is not None:
            problems.append(f"delivery bookkeeping in {store.path} fails:"
                            f" {store.keep_failure.error}")
        return OutboxHealth(not problems, tuple(problems), free, store.append_failures,
                            None if failure is None else failure.error, self._clock.time())

    def identity_problem(self) -> str:
        path = self._store.path
        now = FileIdentity.of(path)
        what = "was deleted" if now is None else "was replaced by another file"
        return (f"{path} {what} while Warden runs; appends are refused, since events"
                " committed now would be lost at the next start. Put the file back, or"
                " restart Warden to begin a new outbox.")

    def _log(self, health: OutboxHealth) -> None:
        if health.healthy:
            logger.info("outbox %s is healthy again", self._store.path)
        else:
            logger.error("outbox %s is not healthy: %s", self._store.path,
                         "; ".join(health.problems))


def _free_bytes(directory: Path) -> int:
    stat = os.statvfs(directory)
    return stat.f_bavail * stat.f_frsize


def open_checked(path: Path, wall: Callable[[], float]) -> Store:
    """Open the outbox file at `path` (created if new), refusing it with `OutboxUnusable`
    when it is corrupted, from a newer Warden, or missing though this state_dir had one."""
    marker = marker_path(path)
    if not path.exists() and marker.exists():
        raise OutboxUnusable(
            f"{path} is missing, but this state_dir had an outbox ({marker} says so): its"
            " queued events would be lost. Restore the file from a backup, or delete"
            f" {marker} to start with an empty outbox.")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # new: 0700, it holds bodies
    try:
        store = Store(path, wall)
    except SchemaTooNew as exc:
        raise OutboxUnusable(f"{path}: {exc}; run that Warden, or move the file away") from None
    except sqlite3.DatabaseError as exc:
        raise OutboxUnusable(_corrupted(path, str(exc))) from None
    try:
        (verdict,) = store.read("PRAGMA quick_check(1)")[0]
        if verdict != "ok":
            raise OutboxUnusable(_corrupted(path, verdict))
        _mark(store, marker)
    except sqlite3.DatabaseError as exc:
        store.close()
        raise OutboxUnusable(_corrupted(path, str(exc))) from None
    except BaseException:
        store.close()
        raise
    return store


def check_outbox(path: Path, wall: Callable[[], float] = time.time) -> None:
    """Refuse an unusable outbox file (see `open_checked`) without keeping it open: what
    `warden run` can call first, before it starts anything."""
    open_checked(path, wall).close()


def _corrupted(path: Path, why: str) -> str:
    why = " ".join(why.replace("***", "").split())
    return (f"{path} is corrupted ({why}). Restore it from a backup, or move it (and its -wal"
            f" file) away to start with an empty outbox.")


def _mark(store: Store, marker: Path) -> None:
    """Make sure the file has an id and the marker beside it names it."""
    rows = store.read("SELECT value FROM meta WHERE key = 'file_id'")
    if rows:
        file_id = str(rows[0][0])
    else:
        file_id = uuid.uuid4().hex
        with store.writing(durable=True) as conn:
            conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('file_id', ?)",
                         (file_id,))
    try:
        known = marker.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        known = None
    if known == file_id:
        return
    if known is not None:
        logger.warning("%s is not the outbox this state_dir had (id %s, now %s); using it",
                       store.path, known, file_id)
    temporary = marker.with_name(marker.name + ".tmp")
    temporary.write_text(file_id + "\n", encoding="utf-8")
    os.replace(temporary, marker)
