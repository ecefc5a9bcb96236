"""A reload during a restart storm, two reloads at once, and a reload while Warden stops: each
has one outcome, the same every time."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runtime import ChildState, Reason
from tests.helpers import WAIT, wait_until
from tests.reload_harness import FleetRun, Session
from warden.reload import Reloaded, ReloadError, ReloadUnavailable

S = ChildState

SLOW = """\
  slow:
    restart:
      backoff: {initial: 10m, max: 10m, jitter: 0}
"""


@pytest.fixture
def run(tmp_path: Path) -> Iterator[FleetRun]:
    fleet_run = FleetRun(tmp_path)
    yield fleet_run
    fleet_run.stop()


class InThread:
    """A call on a thread of its own, its result or error kept."""

    def __init__(self, call: Callable[[], Reloaded]) -> None:
        self.result: Reloaded | None = None
        self.error: ReloadError | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(call,))
        self.thread.start()

    def _run(self, call: Callable[[], Reloaded]) -> None:
        try:
            self.result = call()
        except ReloadError as exc:
            self.error = exc
        finally:
            self.done.set()

    def join(self) -> None:
        assert self.done.wait(2 * WAIT)
        self.thread.join()


def test_during_a_restart_storm_only_what_changed_is_touched(run: FleetRun) -> None:
    ids = ("kept", "changed", "removed", "calm")
    run.write([Session(i, policy="slow") for i in ids], policies=SLOW)
    warden = run.start()
    calm = run.pid("calm")
    for session in ids[:3]:
        run.fleet.crash(session)
        run.wait_state(session, S.BACKOFF)
    run.write([Session("kept", policy="slow"),
               Session("changed", url="http://127.0.0.1:9/chat/new", policy="slow"),
               Session("calm", policy="slow")], policies=SLOW)

    result = warden.reload()

    assert (result.removed, result.restarted, result.unchanged) == (
        ("removed",), ("changed",), ("kept", "calm"))
    kept = run.status("kept")  # still waiting out its 10 minutes, its budget spent as it was
    assert (kept.state, kept.restarts, kept.last_restart_reason) == (S.BACKOFF, 1, Reason.CRASH)
    run.wait_state("changed", S.HEALTHY)  # at once, not after its backoff
    changed = run.status("changed")
    assert (changed.restarts, changed.last_restart_reason) == (0, Reason.RELOAD)
    assert changed.details["url"] == "http://127.0.0.1:9/chat/new"
    assert run.board.get("removed") is None
    assert run.pid("calm") == calm


def test_a_session_still_stopping_when_its_settings_change_restarts_from_them_once_down(
    run: FleetRun,
) -> None:
    run.write([Session("a", policy="slow"), Session("b", policy="slow")], policies=SLOW)
    warden = run.start()
    gate = run.fleet.hold_stop("a")
    warden.restart("a")
    assert run.fleet.stopping.acquire(timeout=WAIT)
    run.wait_state("a", S.RESTARTING)
    run.write([Session("a", url="http://127.0.0.1:9/chat/new", policy="slow"),
               Session("b", policy="slow")], policies=SLOW)
    reload = InThread(warden.reload)
    assert not reload.done.wait(0.2)  # it waits for `a` to be down and started again
    gate.set()
    reload.join()
    assert reload.result is not None and reload.result.restarted == ("a",)
    run.wait_state("a", S.HEALTHY)
    assert run.status("a").details["url"] == "http://127.0.0.1:9/chat/new"
    assert run.status("a").last_restart_reason is Reason.RELOAD


def test_two_reloads_at_once_are_applied_one_after_the_other_the_second_reading_the_file_anew(
    run: FleetRun,
) -> None:
    run.write(["a", "b", "c"])
    warden = run.start()
    gate = run.fleet.hold_stop("a")
    run.write(["b", "c"])
    first = InThread(warden.reload)
    assert run.fleet.stopping.acquire(timeout=WAIT)  # the first one waits for `a` to stop
    run.write(["b", "c", "d"])
    second = InThread(warden.reload)
    assert not second.done.wait(0.2)
    assert run.board.get("d") is None
    gate.set()
    first.join()
    second.join()
    assert first.result is not None and second.result is not None
    assert (first.result.added, first.result.removed) == ((), ("a",))
    assert (second.result.added, second.result.removed) == (("d",), ())
    assert second.result.unchanged == ("b", "c")
    assert run.sessions() == ["b", "c", "d"]


def test_a_reload_once_warden_is_stopping_is_refused_and_changes_nothing(run: FleetRun) -> None:
    run.write(["a", "b"])
    warden = run.start()
    pids = run.pids()
    run.write(["b", "c"])
    warden.closing()
    with pytest.raises(ReloadUnavailable, match="warden is stopping: the reload was refused"):
        warden.reload()
    status, body = run.post("/reload")
    assert (status, body["error"]) == (503, "warden is stopping: the reload was refused")
    assert run.sessions() == ["a", "b"] and run.pids() == pids


def test_a_reload_cut_short_by_the_stop_says_so_and_the_stop_completes(run: FleetRun) -> None:
    run.write(["a", "b"])
    warden = run.start()
    gate = run.fleet.hold_stop("a")
    run.write(["b", "c"])
    reload = InThread(warden.reload)
    assert run.fleet.stopping.acquire(timeout=WAIT)
    stopped: list[int] = []
    stopping = threading.Thread(target=lambda: stopped.append(warden.stop()))
    stopping.start()
    assert warden.reloader is not None
    assert wait_until(lambda: warden.reloader is not None and warden.reloader._closed)
    gate.set()
    reload.join()
    stopping.join(2 * WAIT)
    run.warden = None
    assert isinstance(reload.error, ReloadUnavailable), reload.error
    assert reload.error.message == "warden began stopping while the reload was applied"
    assert stopped == [0]


def test_a_change_not_shown_in_time_is_named_and_still_carried_out(run: FleetRun) -> None:
    run.write(["a", "b"])
    warden = run.start()
    assert warden.reloader is not None
    warden.reloader._timeout = 0.3
    gate = run.fleet.hold_stop("a")
    run.write(["b"])
    status, body = run.post("/reload")
    assert (status, body) == (500, {"error": "1 of the changes were not made in time",
                                    "errors": ["a: not done after 0.3s (still under way)"]})
    gate.set()
    assert run.wait(lambda: run.board.get("a") is None)
    run.write(["b", "c"])
    result = warden.reload()
    assert (result.added, result.removed, result.unchanged) == (("c",), (), ("b",))
