"""A shard's driver is a supervised child: its death or hang restarts exactly the sessions of its
shard, and pages that hang, even all at once or while opening, cost timeouts, never threads."""

from __future__ import annotations

import os
import signal
from dataclasses import replace
from typing import Any

import psutil
import pytest

from actors.driver import Driver
from tests.actors.test_session import FAST, Harness, browser_processes, make_harness

__all__ = ["make_harness"]  # the fixture, shared with the session tests

pytestmark = pytest.mark.browser

NO_CANARY = replace(FAST, canary=None)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def up(h: Harness, *sessions: str) -> dict[str, int]:
    """Wait for `sessions` to be healthy; their browser pids."""
    for session in sessions:
        h.healthy(session)
    return {s: h.status(s).details["browser_pid"] for s in sessions}


def reasons(h: Harness, session: str) -> list[str]:
    return [str(e.reason) for e in h.restarts(session)]


def test_a_driver_starts_answers_pings_and_leaves_nothing_when_stopped() -> None:
    driver = Driver("test-driver").start()
    try:
        assert driver.alive() and driver.pid is not None
        driver.run(driver.ping(), 10)
        pid = driver.pid
    finally:
        driver.stop()
    assert not driver.alive() and gone(pid)


def test_kill_9_of_a_driver_restarts_exactly_the_sessions_of_its_shard(make_harness: Any) -> None:
    h = make_harness({"acct-1": FAST, "acct-2": FAST, "acct-3": FAST}, per_driver=2)
    pids = up(h, "acct-1", "acct-2", "acct-3")
    os.kill(h.status("driver-1").details["driver_pid"], signal.SIGKILL)
    h.wait(lambda: h.status("driver-1").restarts_total == 1, timeout=10)
    h.healthy("acct-1", restarts_total=1)
    h.healthy("acct-2", restarts_total=1)
    assert reasons(h, "driver-1") == reasons(h, "acct-1") == reasons(h, "acct-2") == ["crash"]
    assert [h.status(s).restarts for s in ("acct-1", "acct-2")] == [0, 0]  # no budget spent
    assert all(gone(pids[s]) for s in ("acct-1", "acct-2"))
    assert h.status("acct-3").details["browser_pid"] == pids["acct-3"]
    assert h.status("acct-3").restarts_total == 0 and h.status("driver-2").restarts_total == 0
    h.push("acct-1", "after the driver came back")
    h.wait(lambda: "after the driver came back" in h.inbound.bodies("acct-1"))


def test_a_hung_driver_is_killed_and_its_shard_restarted(make_harness: Any) -> None:
    h = make_harness({"acct-1": NO_CANARY, "acct-2": NO_CANARY}, per_driver=1)
    pids = up(h, "acct-1", "acct-2")
    stuck = h.status("driver-1").details["driver_pid"]
    os.kill(stuck, signal.SIGSTOP)  # alive, answering nothing
    try:
        h.wait(lambda: h.status("driver-1").restarts_total == 1, timeout=30)
    finally:
        if not gone(stuck):
            os.kill(stuck, signal.SIGCONT)
    h.healthy("acct-1", restarts_total=1)
    assert reasons(h, "driver-1")[0] == "heartbeat"
    assert gone(stuck) and gone(pids["acct-1"])
    assert h.status("acct-2").details["browser_pid"] == pids["acct-2"]
    assert h.status("acct-2").restarts_total == 0


def test_every_page_of_a_shard_hanging_at_once_costs_timeouts_not_threads(
        make_harness: Any) -> None:
    h = make_harness({"acct-1": NO_CANARY, "acct-2": NO_CANARY})
    pids = up(h, "acct-1", "acct-2")
    driver_pid = h.status("driver-1").details["driver_pid"]
    for session in ("acct-1", "acct-2"):
        h.fault(session, "hang")
    for session in ("acct-1", "acct-2"):
        h.wait(lambda s=session: h.status(s).restarts_total == 1, timeout=30)
        h.healthy(session, restarts_total=1)
        assert reasons(h, session) == ["heartbeat"]
        assert gone(pids[session])
        assert h.status(session).abandoned_threads == 0
    assert h.status("driver-1").restarts_total == 0  # the driver itself never stopped answering
    assert h.status("driver-1").details["driver_pid"] == driver_pid


def test_a_page_that_hangs_while_opening_is_given_up_by_its_policy(make_harness: Any) -> None:
    once = replace(NO_CANARY, budget=replace(FAST.budget, max_restarts=1, cooldown=None))
    hanging = "data:text/html,<script>for(;;){}</script>"
    h = make_harness({"acct-1": FAST, "acct-2": once},
                     settings={"acct-2": {"url": hanging, "launch_timeout": 3.0,
                                          "load_timeout": 3.0}})
    pids = up(h, "acct-1")
    h.wait(lambda: h.status("acct-2").state == "failed", timeout=60)
    assert reasons(h, "acct-2") == ["crash"]
    assert "Timeout" in h.restarts("acct-2")[0].detail
    assert h.status("acct-2").abandoned_threads == 0
    assert not [p for p in browser_processes() if "profiles/acct-2" in " ".join(p.cmdline())]
    assert h.status("acct-1").details["browser_pid"] == pids["acct-1"]
    assert h.status("acct-1").restarts_total == 0
