"""Reconciliation reads from the high-water mark minus a margin, appends only what the outbox
lacks in the app's order, and walks a long history in slices."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from actors.adapters.base import InboundMessage
from actors.outbox import Outbox
from actors.reconcile import (
    BATCH,
    MARGIN,
    Reconciled,
    StoreUnreadable,
    missing,
    next_since,
    reconcile,
    since,
)


def msg(n: int, t: float) -> InboundMessage:
    return InboundMessage(id=f"m{n}", sender="a", body=str(n), timestamp=t)


def test_the_store_is_read_from_the_high_water_mark_less_a_margin() -> None:
    assert since(1_000_000.0, now=2_000_000.0) == 1_000_000.0 - MARGIN
    assert since(None, now=2_000_000.0) == 2_000_000.0 - MARGIN  # old history is not news


def test_missing_keeps_the_app_s_order_and_each_message_once() -> None:
    history = [msg(1, 10), msg(2, 11), msg(1, 10), msg(3, 12), msg(4, 13)]
    assert [m.id for m in missing(history, {"m2"})] == ["m1", "m3", "m4"]


def test_a_long_history_is_read_in_slices_that_end_when_short_or_stuck() -> None:
    full = [msg(n, 100.0 + n) for n in range(BATCH)]
    start = next_since(full, BATCH, 0.0)
    assert start is not None and 100.0 + BATCH - 2 < start < 100.0 + BATCH - 1
    assert next_since(full[:10], BATCH, 0.0) is None
    same = [msg(n, 500.0) for n in range(BATCH)]
    assert next_since(same, BATCH, 500.0 - 1e-6) is None  # cannot move on: the last slice


def test_the_outbox_knows_its_high_water_mark_and_which_messages_it_holds(
        tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    try:
        assert outbox.message_high_water("acct-1") is None
        for n, stamp in ((1, "2026-11-30T10:00:00.000Z"), (2, "2026-11-30T10:00:05.500Z")):
            outbox.append("acct-1", "message.received",
                          {"message_id": f"m{n}", "from": "a", "body": str(n),
                           "timestamp": stamp})
        outbox.append("acct-1", "session.started", {})
        outbox.append("acct-2", "message.received", {"message_id": "m9", "from": "a",
                                                     "body": "x",
                                                     "timestamp": "2026-11-30T11:00:00.000Z"})
        assert outbox.message_high_water("acct-1") == 1796032805.5
        ids = [f"m{n}" for n in range(1200)]
        assert outbox.known_messages("acct-1", ids) == {"m1", "m2"}
        assert outbox.known_messages("acct-2", ["m1", "m9"]) == {"m9"}
    finally:
        outbox.close()


class Ledger:
    def __init__(self, known: set[str], high_water: float | None) -> None:
        self.known, self.high_water = set(known), high_water

    def message_high_water(self, session_id: str) -> float | None:
        return self.high_water

    def known_messages(self, session_id: str, message_ids: Sequence[str]) -> set[str]:
        return self.known & set(message_ids)


def store_of(messages: list[InboundMessage], fail_after: int | None = None) -> Any:
    calls: list[float] = []

    def read(start: float, limit: int) -> list[InboundMessage]:
        calls.append(start)
        if fail_after is not None and len(calls) > fail_after:
            raise StoreUnreadable("page closed")
        return [m for m in messages if m.timestamp > start][:limit]

    read.calls = calls  # type: ignore[attr-defined]
    return read


def test_reconcile_appends_what_the_ledger_lacks_in_order_across_slices() -> None:
    messages = [msg(n, 1000.0 + n) for n in range(2 * BATCH + 10)]
    ledger = Ledger({f"m{n}" for n in range(0, 2 * BATCH + 10, 3)}, high_water=1000.0 + MARGIN)
    appended: list[str] = []
    read = store_of(messages)
    done = reconcile("s", ledger, read, lambda m: appended.append(m.id), now=9e9)
    read_once = [m for m in messages if m.timestamp > 1000.0]
    expected = [m.id for m in read_once if m.id not in ledger.known]
    assert appended == expected  # each once, though the slices overlap at their edges
    assert done == Reconciled(len(expected), len(read_once), 1000.0, complete=True)
    assert len(read.calls) == 3


def test_a_store_that_cannot_be_read_ends_it_early_and_an_outbox_failure_raises() -> None:
    messages = [msg(n, 1000.0 + n) for n in range(BATCH + 5)]
    appended: list[str] = []
    done = reconcile("s", Ledger(set(), 1000.0 + MARGIN), store_of(messages, fail_after=1),
                     lambda m: appended.append(m.id), now=9e9)
    assert (done.complete, done.recovered, len(appended)) == (False, BATCH, BATCH)

    def full_disk(message: InboundMessage) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        reconcile("s", Ledger(set(), None), store_of([msg(1, 9e9)]), full_disk, now=9e9)
