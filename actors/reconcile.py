"""Reconciliation finds what the app's store holds that the outbox does not: the messages a page
took while nobody listened (the runtime killed, the browser killed right after its receipts).

The app never sends a message again once its page has it, so after every start of a session,
and whenever it leaves `unhealthy` or `auth_required`, the session reads the store's messages
newer than its high-water mark (the newest message already committed, minus a margin for
messages that arrive out of order) and appends the ones the outbox lacks, in the app's order.
Appending is idempotent: the outbox knows each (session, message id).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from actors.adapters.base import InboundMessage

__all__ = ["BATCH", "MARGIN", "Ledger", "Reconciled", "StoreUnreadable", "missing",
           "next_since", "reconcile", "since"]

logger = logging.getLogger(__name__)

MARGIN = 600.0  # seconds below the high-water mark read again: late, out-of-order messages
BATCH = 2000  # messages read from the page per call: a long history is read in slices


def since(high_water: float | None, now: float) -> float:
    """App time to read the store from. With nothing committed yet (a new session, or one whose
    rows were all purged) only the last `MARGIN` seconds: a profile's older history is not
    news, and a new deployment must not replay it."""
    return (now if high_water is None else high_water) - MARGIN


def missing(history: Sequence[InboundMessage], known: set[str]) -> list[InboundMessage]:
    """The messages of `history` (the app's order) the outbox does not know, each once."""
    seen = set(known)
    out = []
    for message in history:
        if message.id not in seen:
            seen.add(message.id)
            out.append(message)
    return out


class StoreUnreadable(RuntimeError):
    """The app's store could not be read (a hung or closed page): reconcile later."""


class Ledger(Protocol):
    """What reconciliation asks of the outbox."""

    def message_high_water(self, session_id: str) -> float | None: ...
    def known_messages(self, session_id: str, message_ids: Sequence[str]) -> set[str]: ...


@dataclass(frozen=True, slots=True)
class Reconciled:
    recovered: int  # messages appended from the app's store
    scanned: int  # messages read from it
    since: float  # app time read from
    complete: bool  # False when the store could not be read to its end


def reconcile(session_id: str, ledger: Ledger, read: Callable[[float, int], Sequence[
        InboundMessage]], append: Callable[[InboundMessage], None], *,
        now: float) -> Reconciled:
    """Read the store in slices from the high-water mark and `append` (in the app's order) what
    the ledger lacks. An outbox that cannot be read or written raises; a store that cannot be
    read ends it early."""
    start = since(ledger.message_high_water(session_id), now)
    scanned = recovered = 0
    seen: set[str] = set()  # slices overlap at their edges
    cursor: float | None = start
    while cursor is not None:
        try:
            batch = read(cursor, BATCH)
        except StoreUnreadable as exc:
            logger.warning("session %s: the app's store could not be read: %s", session_id, exc)
            return Reconciled(recovered, scanned, start, complete=False)
        fresh = [m for m in batch if m.id not in seen]
        scanned += len(fresh)
        known = ledger.known_messages(session_id, [m.id for m in fresh])
        for message in missing(fresh, known):
            append(message)
            recovered += 1
        seen.update(m.id for m in batch)
        cursor = next_since(batch, BATCH, cursor)
    return Reconciled(recovered, scanned, start, complete=True)


def next_since(batch: Sequence[InboundMessage], limit: int, current: float) -> float | None:
    """Where the next slice starts, or None when this one was the last. A slice ends at the
    newest timestamp it holds; the next starts just below it (the ids already seen are skipped),
    and a slice whose messages all share one timestamp is the last (it cannot move on)."""
    if len(batch) < limit:
        return None
    newest = max(m.timestamp for m in batch)
    start = newest - 1e-6
    return None if start <= current else start
