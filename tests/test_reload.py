"""A reload applies the config file anew: added sessions start, removed ones go, changed ones
restart with reason `reload`, and the others keep their browser, uptime and restart budget.

In this process, on fake sessions whose browsers are `sleep` processes (tests.fleet_fakes);
`tests/test_reload_run.py` does it to a real `warden run` with real browsers and signals.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from runtime import ChildState, Reason
from tests.reload_harness import FleetRun, Session
from warden.reload import ReloadRefused

S = ChildState


@pytest.fixture
def run(tmp_path: Path) -> Iterator[FleetRun]:
    fleet_run = FleetRun(tmp_path)
    yield fleet_run
    fleet_run.stop()


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_reload_adds_removes_restarts_and_leaves_every_other_session_alone(
    run: FleetRun,
) -> None:
    run.write(["acct-1", "acct-2", "acct-3", "acct-4"], per_driver=2)
    warden = run.start()
    assert run.drivers() == {"driver-1": ["acct-1", "acct-2"], "driver-2": ["acct-3", "acct-4"]}
    before = {s.id: s for s in run.statuses()}
    pids = run.pids()
    run.write(["acct-1", Session("acct-3", url="http://127.0.0.1:9/chat/moved"), "acct-4",
               "acct-5"], per_driver=2)

    result = warden.reload()

    assert (result.added, result.removed, result.restarted, result.unchanged) == (
        ("acct-5",), ("acct-2",), ("acct-3",), ("acct-1", "acct-4"))
    assert set(run.sessions()) == {"acct-1", "acct-3", "acct-4", "acct-5"}  # no wait needed
    assert run.drivers() == {"driver-1": ["acct-1", "acct-5"], "driver-2": ["acct-3", "acct-4"]}
    for kept in ("acct-1", "acct-4"):
        now = run.status(kept)
        assert now.details["browser_pid"] == pids[kept] and alive(pids[kept])
        assert now.started_at == pytest.approx(before[kept].started_at, abs=0.01)
        assert (now.restarts_total, now.last_restart_reason) == (0, None)
    assert not alive(pids["acct-2"])
    run.wait_state("acct-3", S.HEALTHY)
    changed = run.status("acct-3")
    assert changed.details["url"] == "http://127.0.0.1:9/chat/moved"
    assert changed.details["browser_pid"] != pids["acct-3"] and not alive(pids["acct-3"])
    assert (changed.last_restart_reason, changed.restarts) == (Reason.RELOAD, 0)
    run.wait_state("acct-5", S.HEALTHY)
    with sqlite3.connect(run.state / "outbox.sqlite3") as db:
        stopped = [s for (s,) in db.execute(
            "SELECT session_id FROM events WHERE type = 'session.stopped'")]
    assert stopped == ["acct-2"]


def test_a_reload_of_the_same_file_changes_nothing(run: FleetRun) -> None:
    run.write(["acct-1", "acct-2"])
    warden = run.start()
    pids = run.pids()
    result = warden.reload()
    assert (result.added, result.removed, result.restarted) == ((), (), ())
    assert result.unchanged == ("acct-1", "acct-2")
    assert run.pids() == pids


POLICIES = """\
  fast:
    heartbeat: {interval: 1s, timeout: 5s}
  same-as-fast:
    heartbeat: {interval: 1s, timeout: 5s}
"""


def test_a_changed_policy_restarts_every_session_using_it_and_a_new_name_alone_does_not(
    run: FleetRun,
) -> None:
    run.write([Session("a", policy="fast"), Session("b", policy="fast"), Session("c")],
              policies=POLICIES)
    warden = run.start()
    pids = run.pids()
    run.write([Session("a", policy="fast"), Session("b", policy="same-as-fast"), Session("c")],
              policies=POLICIES)
    assert warden.reload().unchanged == ("a", "b", "c")
    run.write([Session("a", policy="fast"), Session("b", policy="same-as-fast"), Session("c")],
              policies=POLICIES.replace("timeout: 5s}\n  same", "timeout: 6s}\n  same"))
    result = warden.reload()
    assert (result.restarted, result.unchanged) == (("a",), ("b", "c"))
    assert run.pids()["b"] == pids["b"] and run.pids()["c"] == pids["c"]
    assert run.status("a").last_restart_reason is Reason.RELOAD


def test_browser_args_are_every_sessions_settings(run: FleetRun) -> None:
    run.write(["acct-1", "acct-2"])
    warden = run.start()
    run.file.write_text(run.file.read_text().replace(
        "browser:\n", "browser:\n  args: [--lang=de]\n"))
    assert warden.reload().restarted == ("acct-1", "acct-2")


def test_a_shard_left_empty_loses_its_driver_and_a_full_fleet_gets_a_new_one(
    run: FleetRun,
) -> None:
    run.write(["acct-1", "acct-2", "acct-3"], per_driver=2)
    warden = run.start()
    assert run.drivers() == {"driver-1": ["acct-1", "acct-2"], "driver-2": ["acct-3"]}
    run.write(["acct-1", "acct-2"], per_driver=2)
    assert warden.reload().removed == ("acct-3",)
    assert run.drivers() == {"driver-1": ["acct-1", "acct-2"]}
    assert run.board.get("driver-2") is None
    run.write(["acct-1", "acct-2", "acct-4", "acct-5", "acct-6"], per_driver=2)
    assert warden.reload().added == ("acct-4", "acct-5", "acct-6")
    assert run.drivers() == {"driver-1": ["acct-1", "acct-2"], "driver-3": ["acct-4", "acct-5"],
                             "driver-4": ["acct-6"]}
    for session in ("acct-4", "acct-5", "acct-6"):
        run.wait_state(session, S.HEALTHY)
    assert [s.id for s in run.board.children("sessions")] == [
        "driver-1", "acct-1", "acct-2", "driver-3", "acct-4", "acct-5", "driver-4", "acct-6"]


def test_sessions_per_driver_applies_to_sessions_placed_from_then_on(run: FleetRun) -> None:
    run.write(["acct-1", "acct-2", "acct-3"], per_driver=4)
    warden = run.start()
    pids = run.pids()
    run.write(["acct-1", "acct-2", "acct-3", "acct-4"], per_driver=2)
    result = warden.reload()
    assert (result.added, result.unchanged) == (("acct-4",), ("acct-1", "acct-2", "acct-3"))
    assert run.drivers() == {"driver-1": ["acct-1", "acct-2", "acct-3"], "driver-2": ["acct-4"]}
    assert all(run.pids()[i] == pid for i, pid in pids.items())


def test_a_fleet_with_no_sessions_gets_its_first_driver_on_reload(run: FleetRun) -> None:
    run.write([])
    warden = run.start()
    run.write(["acct-1"])
    assert warden.reload().added == ("acct-1",)
    run.wait_state("acct-1", S.HEALTHY)
    assert run.drivers() == {"driver-1": ["acct-1"]}


def test_a_session_stopped_by_hand_whose_settings_changed_stays_stopped(run: FleetRun) -> None:
    run.write(["acct-1", "acct-2"])
    warden = run.start()
    warden.stop_child("acct-1")
    run.wait_state("acct-1", S.STOPPED)
    run.write([Session("acct-1", url="http://127.0.0.1:9/chat/new"), "acct-2"])
    assert warden.reload().restarted == ("acct-1",)
    assert run.status("acct-1").state is S.STOPPED
    warden.start_child("acct-1")
    run.wait_state("acct-1", S.HEALTHY)
    assert run.status("acct-1").details["url"] == "http://127.0.0.1:9/chat/new"


GIVE_UP = """\
  fragile:
    restart: {max_restarts: 0, cooldown: 10m}
"""


def test_a_failed_session_whose_settings_changed_starts_at_once_with_a_fresh_budget(
    run: FleetRun,
) -> None:
    run.write([Session("acct-1", policy="fragile")], policies=GIVE_UP)
    warden = run.start()
    run.fleet.crash("acct-1")
    run.wait_state("acct-1", S.FAILED)
    run.write([Session("acct-1", url="http://127.0.0.1:9/chat/fixed", policy="fragile")],
              policies=GIVE_UP)
    assert warden.reload().restarted == ("acct-1",)
    run.wait_state("acct-1", S.HEALTHY)
    assert run.status("acct-1").details["url"] == "http://127.0.0.1:9/chat/fixed"
    assert run.status("acct-1").last_restart_reason is Reason.RELOAD


# --- refused: nothing changes ---------------------------------------------------------------------


def refused(run: FleetRun) -> ReloadRefused:
    assert run.warden is not None
    with pytest.raises(ReloadRefused) as caught:
        run.warden.reload()
    return caught.value


def test_an_invalid_file_changes_nothing_and_says_where(run: FleetRun) -> None:
    run.write(["acct-1", "acct-2"])
    run.start()
    pids = run.pids()
    run.write(["acct-1", "acct-3"], policies="  broken:\n    heartbeat: {interval: 2}\n")
    error = refused(run)
    assert "is not valid: nothing was changed" in error.message
    assert error.errors == (f"{run.file}:10: policies.broken.heartbeat.interval: expected a "
                            "duration such as 250ms, 5s, 10m or 2h, got 2 (did you mean '2s'?)",)
    assert run.pids() == pids


@pytest.mark.parametrize(("key", "old", "new"), [
    ("state_dir", "state_dir: {state}", "state_dir: {state}-elsewhere"),
    ("http.listen", "listen: 127.0.0.1:{http}", "listen: 127.0.0.1:{other}"),
    ("simulator.listen", "", "simulator:\n  listen: 127.0.0.1:{other}\n"),
])
def test_a_key_only_a_restart_can_change_refuses_the_whole_reload(
    run: FleetRun, key: str, old: str, new: str,
) -> None:
    run.write(["acct-1"])
    run.start()
    pid = run.pid("acct-1")
    run.write(["acct-1", "acct-2"])  # a change that could be applied, and the one that cannot
    values = {"state": run.state, "http": run.http, "other": run.http + 1}
    text = run.file.read_text()
    run.file.write_text(text.replace(old.format(**values), new.format(**values)) if old
                        else text + new.format(**values))
    error = refused(run)
    assert "cannot be applied while warden runs: nothing was changed" in error.message
    (line,) = error.errors
    assert line.startswith(f"{run.file}:") and f": {key}: cannot change while warden runs" in line
    assert line.endswith("restart warden to apply it")
    assert run.sessions() == ["acct-1"] and run.pid("acct-1") == pid


def test_a_changed_token_is_refused_without_being_shown(run: FleetRun) -> None:
    run.write(["acct-1"], top="")
    text = run.file.read_text()
    run.file.write_text(text.replace("http:\n", "http:\n  token: first-Tok3n-for-tests\n"))
    run.start()
    run.file.write_text(text.replace("http:\n", "http:\n  token: second-Tok3n-for-tests\n"))
    (line,) = refused(run).errors
    assert line == (f"{run.file}:3: http.token: cannot change while warden runs: restart "
                    "warden to apply it")


def test_a_file_that_cannot_be_read_any_more_changes_nothing(run: FleetRun) -> None:
    run.write(["acct-1"])
    run.start()
    run.file.unlink()
    (line,) = refused(run).errors
    assert line == f"{run.file}:0: (top): cannot read: No such file or directory"
    run.file.mkdir()
    (line,) = refused(run).errors
    assert line == f"{run.file}:0: (top): cannot read: Is a directory"
    assert run.sessions() == ["acct-1"]


def test_an_alias_bomb_is_refused_fast_by_the_loader_run_and_check_use(run: FleetRun) -> None:
    run.write(["acct-1"])
    warden = run.start()
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n"
        for i in range(8))
    run.file.write_text(bomb)
    with pytest.raises(ReloadRefused) as caught:
        warden.reload()
    assert any("alias" in line for line in caught.value.errors), caught.value.errors
    assert run.sessions() == ["acct-1"]


def test_a_missing_executable_refuses_the_reload(run: FleetRun) -> None:
    run.write(["acct-1"])
    run.start()
    run.file.write_text(run.file.read_text().replace(
        "browser:\n", "browser:\n  executable: /nonexistent/chromium\n"))
    (line,) = refused(run).errors
    assert line == (f"{run.file}:5: browser.executable: /nonexistent/chromium is not an "
                    "executable file")
