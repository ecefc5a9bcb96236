"""Reload of a real `warden run`: SIGHUP, `warden reload` and POST /reload, with real signals,
real HTTP and, where the browsers are the point, real Chromium."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.test_run import WARDEN, Run, browsers_of, get, poll

TOKEN = "reload-Test-Token-0123456789"


class Served(Run):
    """One `warden run` of a config this test writes and rewrites, hearing systemd's socket."""

    def __init__(self, tmp: Path, sessions: Sequence[str], token: str = "") -> None:
        super().__init__(tmp, sessions, token=token, watchdog=False)

    def sessions(self) -> dict[str, dict[str, Any]]:
        return {s["id"]: s for s in self.get("/sessions")["sessions"]}

    def get(self, path: str) -> Any:
        if not self.token:
            return get(f"http://127.0.0.1:{self.http}{path}")
        request = urllib.request.Request(f"http://127.0.0.1:{self.http}{path}",
                                         headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def reload_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([WARDEN, "reload", "-c", str(self.config), *args],
                              capture_output=True, text=True, timeout=200,
                              env={k: v for k, v in os.environ.items()
                                   if k not in ("WARDEN_URL", "WARDEN_API_TOKEN")})

    def healthy(self, ids: Sequence[str]) -> bool:
        sessions = self.sessions()
        return set(sessions) == set(ids) and all(
            s["state"] == "healthy" and s["browser_pid"] for s in sessions.values())


@pytest.fixture
def served(tmp_path: Path) -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for run in started:
        run.close()


def serve(started: list[Served], tmp: Path, sessions: Sequence[str], token: str = "") -> Served:
    run = Served(tmp, sessions, token)
    started.append(run)
    poll(lambda: "READY=1" in run.states, 60, "READY=1")
    return run


def reload_lines(run: Served) -> list[str]:
    return [line for line in run.output().splitlines() if "reload" in line]


def test_sighup_reloads_instead_of_killing_warden_and_tells_systemd(
    served: list[Served], tmp_path: Path,
) -> None:
    run = serve(served, tmp_path, [])
    run.proc.send_signal(signal.SIGHUP)
    poll(lambda: any("reload of" in line for line in reload_lines(run)), 30, "the reload")
    assert run.proc.poll() is None
    assert "0 added, 0 removed, 0 restarted, 0 unchanged" in run.output()
    assert any(s.startswith("RELOADING=1\nMONOTONIC_USEC=") for s in run.states)
    assert run.states.index("READY=1") < len(run.states) - 1  # READY=1 again after reloading
    run.proc.send_signal(signal.SIGTERM)
    assert run.proc.wait(30) == 0, run.output()
    assert "Traceback" not in run.output()


def test_warden_reload_refuses_a_changed_state_dir_and_a_bomb_and_needs_the_token(
    served: list[Served], tmp_path: Path,
) -> None:
    run = serve(served, tmp_path, [], token=TOKEN)
    request = urllib.request.Request(f"http://127.0.0.1:{run.http}/reload", data=b"",
                                     method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401
    refused.value.close()

    run.write([], state_dir=tmp_path / "elsewhere")
    result = run.reload_cli()  # the token comes from the file
    assert result.returncode == 2, result
    assert re.search(rf"{re.escape(str(run.config))}:1: state_dir: cannot change while warden "
                     r"runs \(running: .*\): restart warden to apply it", result.stderr)
    assert f"{run.config}:1: state_dir" in run.output()  # and in the runtime's log

    run.write([])
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n"
        for i in range(8))
    began = time.monotonic()
    run.config.write_text(bomb)
    result = run.reload_cli("--url", f"http://127.0.0.1:{run.http}", "--token", TOKEN)
    assert result.returncode == 2 and "alias" in result.stderr, result  # refused here, at once
    request = urllib.request.Request(f"http://127.0.0.1:{run.http}/reload", data=b"",
                                     method="POST", headers={"Authorization": f"Bearer {TOKEN}"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == 400
    caught.value.close()
    assert time.monotonic() - began < 10
    assert run.proc.poll() is None and psutil.Process(run.proc.pid).memory_info().rss < 1 << 30


@pytest.mark.browser
def test_real_browsers_kept_by_a_reload_keep_their_pids_and_the_others_come_and_go(
    served: list[Served], tmp_path: Path,
) -> None:
    run = serve(served, tmp_path, ["acct-1", "acct-2", "acct-3"])
    poll(lambda: run.healthy(["acct-1", "acct-2", "acct-3"]), 120, "three healthy sessions")
    before = run.sessions()
    gone = [p for p in browsers_of(run.state) if "acct-3" in " ".join(p.cmdline())]
    assert gone

    run.write(["acct-1", "acct-2", "acct-4"])
    began = time.monotonic()
    run.proc.send_signal(signal.SIGHUP)
    poll(lambda: "acct-3" not in run.sessions() and "acct-4" in run.sessions(), 60,
         "acct-3 gone and acct-4 there")
    applied = time.monotonic() - began
    poll(lambda: run.healthy(["acct-1", "acct-2", "acct-4"]), 120, "acct-4 healthy")
    to_healthy = time.monotonic() - began
    after = run.sessions()
    for kept in ("acct-1", "acct-2"):
        assert after[kept]["browser_pid"] == before[kept]["browser_pid"]
        assert psutil.pid_exists(before[kept]["browser_pid"])
        assert after[kept]["uptime_seconds"] > before[kept]["uptime_seconds"]
        assert after[kept]["restarts_total"] == 0
    poll(lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in gone),
         10, "acct-3's browser gone")
    stopped = [e for e in run.get("/demo/webhook/events")["events"]
               if e["type"] == "session.stopped"]
    assert [e["session_id"] for e in stopped] == ["acct-3"]
    (line,) = [x for x in reload_lines(run) if "reload of" in x]
    print(f"\nSIGHUP, 3 real sessions, +1 -1: {line.rsplit('(', 1)[-1].rstrip(')')} in the "
          f"runtime, {applied:.2f}s to /sessions, {to_healthy:.2f}s to the new one healthy")

    run.write(["acct-1", "acct-2", "acct-4"],
              urls={"acct-2": f"http://127.0.0.1:{run.sim}/chat/acct-2b"})
    result = run.reload_cli()
    assert result.returncode == 0, result
    assert "0 added, 0 removed, 1 restarted, 2 unchanged" in result.stdout
    poll(lambda: run.healthy(["acct-1", "acct-2", "acct-4"])
         and run.sessions()["acct-2"]["browser_pid"] != before["acct-2"]["browser_pid"], 120,
         "acct-2 restarted")
    now = run.sessions()
    assert now["acct-2"]["last_restart_reason"] == "reload"
    assert now["acct-1"]["browser_pid"] == before["acct-1"]["browser_pid"]
    run.proc.send_signal(signal.SIGTERM)
    assert run.proc.wait(30) == 0, run.output()
    assert "Traceback" not in run.output()


@pytest.mark.browser
def test_a_sighup_while_warden_stops_is_refused_in_the_log_and_the_stop_completes(
    served: list[Served], tmp_path: Path,
) -> None:
    run = serve(served, tmp_path, ["acct-1"])
    poll(lambda: run.healthy(["acct-1"]), 120, "a healthy session")
    run.write([])
    run.proc.send_signal(signal.SIGTERM)
    poll(lambda: "SIGTERM: stopping" in run.output(), 10, "the stop")
    run.proc.send_signal(signal.SIGHUP)
    assert run.proc.wait(30) == 0, run.output()
    assert "reload: warden is stopping: the reload was refused" in run.output()
    assert "Traceback" not in run.output()
    assert not browsers_of(run.state)
