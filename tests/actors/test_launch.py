"""The launch gate serves launches in arrival order, a few at a time, and lets a stopped one go."""

from __future__ import annotations

import threading

import pytest

from actors.launch import LaunchCancelled, LaunchGate, Ticket
from tests.helpers import wait_until


def queue_up(gate: LaunchGate, name: str, order: list[str]) -> tuple[threading.Thread, Ticket]:
    ticket = Ticket()

    def launch() -> None:
        try:
            gate.acquire(ticket)
        except LaunchCancelled:
            order.append(f"{name} cancelled")
            return
        order.append(name)

    thread = threading.Thread(target=launch, name=f"launch-{name}")
    thread.start()
    return thread, ticket


def test_waiters_get_their_slot_in_the_order_they_came() -> None:
    gate = LaunchGate(1)
    gate.acquire(Ticket())
    order: list[str] = []
    threads = []
    for name in "abcde":
        threads.append(queue_up(gate, name, order)[0])
        queued = len(threads)
        wait_until(lambda queued=queued: gate.waiting == queued, 5)
    for _ in "abcde":
        done = len(order)
        gate.release()
        wait_until(lambda done=done: len(order) == done + 1, 5)
    for thread in threads:
        thread.join(5)
    assert order == list("abcde")


def test_a_cancelled_waiter_leaves_the_queue_and_a_cancelled_ticket_never_gets_in() -> None:
    gate = LaunchGate(1)
    gate.acquire(Ticket())
    order: list[str] = []
    a, ticket_a = queue_up(gate, "a", order)
    wait_until(lambda: gate.waiting == 1, 5)
    b, _ = queue_up(gate, "b", order)
    wait_until(lambda: gate.waiting == 2, 5)
    ticket_a.cancel()
    a.join(5)
    gate.release()
    b.join(5)
    assert order == ["a cancelled", "b"]
    cancelled = Ticket()
    cancelled.cancel()
    with pytest.raises(LaunchCancelled):
        gate.acquire(cancelled)


def test_slots_are_shared_out_and_come_back() -> None:
    gate = LaunchGate(2)
    gate.acquire(Ticket())
    gate.acquire(Ticket())
    order: list[str] = []
    c, _ = queue_up(gate, "c", order)
    wait_until(lambda: gate.waiting == 1, 5)
    gate.release()
    c.join(5)
    gate.release()
    gate.release()
    gate.acquire(Ticket())
    gate.acquire(Ticket())  # both slots free again: no wait
    assert order == ["c"]
