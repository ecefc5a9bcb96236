"""A child context carries one incarnation's reports up and its kill hooks down."""

from __future__ import annotations

import pytest

from runtime import ChildContext, FakeClock, Reason, Scheduler
from runtime.messages import (
    Activity,
    AuthRequired,
    ChildExited,
    Healthy,
    Heartbeat,
    Offline,
    Unhealthy,
)


def context(sink: list[object]) -> ChildContext:
    return ChildContext("acct-1", 2, sink.append, FakeClock(), Scheduler(FakeClock()))


def test_reports_carry_the_child_and_its_incarnation() -> None:
    sent: list[object] = []
    ctx = context(sent)
    ctx.heartbeat()
    ctx.activity()
    ctx.unhealthy(Reason.MEMORY, restart=True, detail="612 MiB")
    ctx.healthy()
    ctx.auth_required("QR")
    ctx.offline("DNS")
    ctx.exited(abnormal=True, error="boom")
    ctx.exited(abnormal=False)
    assert sent == [
        Heartbeat("acct-1", 2), Activity("acct-1", 2),
        Unhealthy("acct-1", 2, Reason.MEMORY, True, "612 MiB"), Healthy("acct-1", 2),
        AuthRequired("acct-1", 2, "QR"), Offline("acct-1", 2, "DNS"),
        ChildExited("acct-1", 2, True, "boom"),
    ]


def test_reports_to_a_supervisor_that_is_gone_are_dropped() -> None:
    def gone(message: object) -> None:
        raise RuntimeError("actor dead")

    ctx = ChildContext("a", 1, gone, FakeClock(), Scheduler(FakeClock()))
    ctx.heartbeat()
    ctx.exited(abnormal=False)
    assert ctx.has_exited


def test_kill_hooks_all_run_even_when_one_fails(caplog: pytest.LogCaptureFixture) -> None:
    ctx = context([])
    ran: list[str] = []

    def broken() -> None:
        raise ProcessLookupError("gone already")

    ctx.add_kill_hook(lambda: ran.append("first"))
    ctx.add_kill_hook(broken)
    remove = ctx.add_kill_hook(lambda: ran.append("removed"))
    ctx.add_kill_hook(lambda: ran.append("last"))
    remove()
    remove()
    ctx.kill()
    assert ran == ["first", "last"]
    assert "gone already" in caplog.text


def test_published_details_merge_and_are_read_only() -> None:
    ctx = context([])
    ctx.publish(browser_pid=41, memory_bytes=1)
    before = ctx.details
    ctx.publish(memory_bytes=2)
    assert dict(ctx.details) == {"browser_pid": 41, "memory_bytes": 2}
    assert dict(before) == {"browser_pid": 41, "memory_bytes": 1}
    with pytest.raises(TypeError):
        ctx.details["x"] = 1  # type: ignore[index]


def test_counts_add_up_by_name_and_are_read_as_a_copy() -> None:
    ctx = context([])
    ctx.count("messages")
    ctx.count("events", 5)
    ctx.count("messages")
    counts = ctx.counts
    ctx.count("events")
    assert counts == {"messages": 2, "events": 5}
    assert ctx.messages == 2
