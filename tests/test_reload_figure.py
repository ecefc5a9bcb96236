"""The figure: a 30-session config reloaded over HTTP with 1 session added and 1 removed.

The tree, shards, supervisors, outbox, front and reload are real; the sessions are fakes whose
browser is a `sleep` process (tests.fleet_fakes), so the 29 pids prove the 29 were not touched.
30 real Chromiums (about 7 GiB PSS, a minute to launch on 2 cores) would measure the browsers'
launch, which a reload does not wait for; tests/test_reload_run.py proves the pids are kept with
real browsers under a real `warden run`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from runtime import ChildState
from tests.reload_harness import FleetRun


@pytest.fixture
def run(tmp_path: Path) -> Iterator[FleetRun]:
    fleet_run = FleetRun(tmp_path)
    yield fleet_run
    fleet_run.stop()


def test_30_sessions_reloaded_with_one_added_and_one_removed_keep_the_other_29_browsers(
    run: FleetRun,
) -> None:
    ids = [f"acct-{i}" for i in range(1, 31)]
    run.write(ids)
    run.start()
    assert run.drivers() == {"driver-1": ids[:16], "driver-2": ids[16:]}
    before = {s.id: s for s in run.statuses()}
    pids = run.pids()
    kept = [i for i in ids if i != "acct-7"]
    run.write([*kept, "acct-31"])

    began = time.monotonic()
    status, body = run.post("/reload")
    took = time.monotonic() - began

    assert status == 202, body
    assert (body["added"], body["removed"], body["restarted"]) == (["acct-31"], ["acct-7"], [])
    assert body["unchanged"] == kept
    assert run.drivers() == {"driver-1": [*ids[:6], *ids[7:16], "acct-31"],
                             "driver-2": ids[16:]}
    for session in kept:
        now = run.status(session)
        assert now.details["browser_pid"] == pids[session]
        assert psutil.pid_exists(pids[session])
        assert now.started_at == pytest.approx(before[session].started_at, abs=0.01)
        assert (now.state, now.restarts_total) == (ChildState.HEALTHY, 0)
    assert run.board.get("acct-7") is None and not psutil.pid_exists(pids["acct-7"])
    run.wait_state("acct-31", ChildState.HEALTHY)
    print(f"\nreload of 30 sessions, +1 -1, over HTTP: {took * 1000:.0f} ms "
          f"(29 kept their browser pids)")
    assert took < 30.0  # a hang, not a figure: the figure is printed (and in README)
