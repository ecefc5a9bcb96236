"""The outbox store is the open outbox file: its connections, the locks that serialize them, and
what the last writes to it came to.

Appends commit on their own connection with synchronous=FULL; delivery bookkeeping on a second
one with synchronous=NORMAL (losing such a mark to a power cut only means an event is delivered
again, which the contract allows). Both share one write lock, so the process never waits on
SQLite's own busy sleeps. Readers use a third connection and never wait for a writer (WAL); a
fourth copies the WAL into the database (`checkpoint`) beside them.

Every write reports how it went (`wrote`, `write_failed`), so the outbox's health knows whether
the file still takes writes; the file's identity (device, inode) is taken at open, so a file
deleted or replaced under a running process is noticed.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from actors.outbox_schema import connect, ensure_schema, transaction

__all__ = ["FileIdentity", "OutboxClosed", "Store", "WriteFailure"]

T = TypeVar("T")


class OutboxClosed(RuntimeError):
    """The outbox was closed; nothing more can be appended."""


@dataclass(frozen=True, slots=True)
class FileIdentity:
    device: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> FileIdentity | None:
        """The identity of the file at `path` now; None if there is none."""
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            return None
        return cls(stat.st_dev, stat.st_ino)


@dataclass(frozen=True, slots=True)
class WriteFailure:
    error: str
    at: float  # wall seconds


class Store:
    """The three connections to `path`, opened (and the schema brought up to date) at once."""

    def __init__(self, path: Path, wall: Callable[[], float]) -> None:
        self.path = path
        self._wall = wall
        opened: list[sqlite3.Connection] = []
        try:
            opened.append(connect(path, synchronous="FULL"))
            ensure_schema(opened[0])
            for _ in range(3):
                opened.append(connect(path, synchronous="NORMAL"))
        except BaseException:
            for conn in opened:
                conn.close()
            raise
        self.appender, self.keeper, self.reader, self._checkpointer = opened
        self._checkpoint_lock = threading.Lock()
        self.identity = FileIdentity.of(path)
        self.write_lock = threading.Lock()  # one writer at a time, across both connections
        self._turns = threading.Condition()  # appends go before bookkeeping waiting for the lock
        self._appends_waiting = 0
        self._appends_served = 0  # appends that got the lock after waiting for it
        self.read_lock = threading.Lock()
        self.closed = False
        self._state_lock = threading.Lock()
        # The last durable write (an append, a requeue) failed, and how; cleared by one that
        # goes through. Bookkeeping writes are tracked apart: they may work when appends fail.
        self.failure: WriteFailure | None = None
        self.keep_failure: WriteFailure | None = None
        self.append_failures = 0  # appends that failed since open (a count of events)

    # --- writes ---------------------------------------------------------------------------------

    @contextmanager
    def append_turn(self) -> Iterator[None]:
        """Hold the write lock for an append, ahead of any bookkeeping waiting for it."""
        with self._turns:
            self._appends_waiting += 1
        try:
            self.write_lock.acquire()
        finally:
            with self._turns:
                self._appends_waiting -= 1
                self._appends_served += 1
                self._turns.notify_all()
        try:
            yield
        finally:
            self.write_lock.release()

    @contextmanager
    def writing(self, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """A write transaction on the appender (`durable`) or keeper connection, under the
        write lock; its outcome is noted for the health check. Bookkeeping lets appends that
        wait for the lock go first: Python's locks are not fair, and a prune running batch
        after batch took the lock again before a waiting append got it (appends' p99 while
        200,000 rows were pruned: 37-204 ms without this, 5-9 ms with it; the prune_stall
        figures of bench/bench_webhook.py, two runs each, 2 shared cores)."""
        if not durable:  # after the appends waiting now, not after every later one
            with self._turns:
                turn = self._appends_served + self._appends_waiting
                self._turns.wait_for(lambda: self._appends_served >= turn, timeout=1.0)
        with self.write_lock:
            self.check_open()
            try:
                with transaction(self.appender if durable else self.keeper) as conn:
                    yield conn
            except sqlite3.Error as exc:
                self.write_failed(exc, durable)
                raise
        self.wrote(durable)

    def keep(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> int:
        """One bookkeeping statement in its own transaction; returns the rows it changed."""
        with self.writing() as conn:
            return conn.execute(sql, params).rowcount

    def wrote(self, durable: bool) -> None:
        if (self.failure if durable else self.keep_failure) is not None:
            with self._state_lock:
                if durable:
                    self.failure = None
                else:
                    self.keep_failure = None

    def write_failed(self, exc: BaseException, durable: bool) -> None:
        failure = WriteFailure(f"{type(exc).__name__}: {exc}", self._wall())
        with self._state_lock:
            if durable:
                self.failure = failure
            else:
                self.keep_failure = failure

    def count_append_failures(self, n: int) -> None:
        with self._state_lock:
            self.append_failures += n

    # --- reads ----------------------------------------------------------------------------------

    def read(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[Any]:
        with self.read_lock:
            self.check_open()
            return self.reader.execute(sql, params).fetchall()

    def read_with(self, read: Callable[[sqlite3.Connection], T]) -> T:
        """Several reads that must see one snapshot, in one read transaction."""
        with self.read_lock:
            self.check_open()
            self.reader.execute("BEGIN")
            try:
                return read(self.reader)
            finally:
                self.reader.execute("COMMIT")

    def checkpoint(self) -> bool:
        """Copy what the WAL holds into the database (PASSIVE: it waits for no reader and no
        writer, and holds no lock of ours), unless another thread is at it; True if it ran.

        SQLite's own checkpoints run inside whichever commit crosses 1,000 WAL pages, with our
        write lock held, so an append could wait for a copy of thousands of pages."""
        if not self._checkpoint_lock.acquire(blocking=False):
            return False
        try:
            if self.closed:
                return False
            self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
            return True
        finally:
            self._checkpoint_lock.release()

    # --- life -----------------------------------------------------------------------------------

    def check_open(self) -> None:
        if self.closed:
            raise OutboxClosed(f"outbox {self.path} is closed")

    def close(self) -> None:
        with self.write_lock, self.read_lock, self._checkpoint_lock:
            self.closed = True
            for conn in (self.appender, self.keeper, self.reader, self._checkpointer):
                conn.close()
