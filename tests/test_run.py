"""`warden run` as a real subprocess: systemd readiness, shutdown, forced shutdown, exit codes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import psutil
import pytest

WARDEN = str(Path(sys.executable).with_name("warden"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def poll(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def post(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read() or b"null")


def browsers_of(state: Path) -> list[psutil.Process]:
    """Live processes whose command line names a profile under `state` (Chromium trees)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and any(
                    str(state) in arg for arg in proc.info["cmdline"] or ()):
                found.append(proc)
        except psutil.Error:
            continue
    return found


class Run:
    """One `warden run` in its own process group, with a NOTIFY_SOCKET to hear systemd states
    (and, with `watchdog`, WATCHDOG_USEC set so that it pings)."""

    def __init__(self, tmp: Path, sessions: int | Sequence[str] = 2,
                 http_port: int | None = None, sim_port: int | None = None, token: str = "",
                 watchdog: bool = True) -> None:
        self.tmp = tmp
        self.state = tmp / "state"
        self.http = http_port or free_port()
        self.sim = sim_port or free_port()
        self.token = token
        self.config = tmp / "supervisor.yaml"
        self.write([f"acct-{i + 1}" for i in range(sessions)] if isinstance(sessions, int)
                   else sessions)
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(tmp / "notify.sock"))
        self.notify.settimeout(0.2)
        self.states: list[str] = []
        self.listening = True
        # systemd reads its socket all the time; a full queue would drop what comes next
        self.listener = threading.Thread(target=self._listen, daemon=True)
        self.listener.start()
        self.log = open(tmp / "run.log", "wb")  # noqa: SIM115 - closed in close()
        env = {**os.environ, "NOTIFY_SOCKET": str(tmp / "notify.sock")}
        if watchdog:
            env["WATCHDOG_USEC"] = "1000000"
        env.pop("WATCHDOG_PID", None)
        self.proc = subprocess.Popen([WARDEN, "run", "-c", str(self.config)], env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def write(self, sessions: Sequence[str], *, urls: dict[str, str] | None = None,
              state_dir: Path | None = None) -> None:
        """(Re)write the config file: `sessions` on the simulator unless `urls` names another."""
        urls = urls or {}
        items = "".join(
            f"  - id: {i}\n    url: {urls.get(i, f'http://127.0.0.1:{self.sim}/chat/{i}')}\n"
            for i in sessions) or "  []\n"
        token = f"  token: {self.token}\n" if self.token else ""
        self.config.write_text(
            f"state_dir: {state_dir or self.state}\n"
            f"http:\n  listen: 127.0.0.1:{self.http}\n{token}"
            f"webhook:\n  url: http://127.0.0.1:{self.http}/demo/webhook\n"
            f"sessions:\n{items}"
            f"simulator:\n  listen: 127.0.0.1:{self.sim}\n")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http}"

    def _listen(self) -> None:
        while self.listening:
            try:
                self.states.append(self.notify.recv(200).decode())
            except (TimeoutError, BlockingIOError):
                continue
            except OSError:
                return

    def heard(self, state: str) -> bool:
        return state in self.states

    def output(self) -> str:
        return (self.tmp / "run.log").read_text(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        for proc in browsers_of(self.state):
            with contextlib.suppress(psutil.Error):  # it may have ended meanwhile
                proc.kill()
        self.listening = False
        self.listener.join(5)
        self.notify.close()
        self.log.close()


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[Callable[..., Run]]:
    started: list[Run] = []

    def start(**kwargs: Any) -> Run:
        run = Run(tmp_path / f"run{len(started)}", **kwargs)
        started.append(run)
        return run

    for i in range(3):
        (tmp_path / f"run{i}").mkdir()
    yield start
    for run in started:
        run.close()


@pytest.mark.browser
def test_sigterm_stops_everything_and_keeps_the_outbox(runs: Callable[..., Run]) -> None:
    run = runs()
    poll(lambda: run.heard("READY=1"), 60, "READY=1")
    poll(lambda: run.heard("WATCHDOG=1"), 10, "WATCHDOG=1")
    poll(lambda: all(s["state"] == "healthy" for s in get(f"{run.url}/sessions")["sessions"]),
         60, "healthy sessions")
    assert get(f"{run.url}/healthz") == {"status": "ok"}
    post(f"http://127.0.0.1:{run.sim}/sim/acct-1/messages", {"from": "alice", "body": "kept"})
    poll(lambda: any(e.get("type") == "message.received"
                     for e in get(f"{run.url}/demo/webhook/events")["events"]),
         30, "the message at the sink")
    assert browsers_of(run.state)
    assert stat.S_IMODE((run.state / "profiles" / "acct-1").stat().st_mode) == 0o700

    run.proc.send_signal(signal.SIGTERM)
    assert run.proc.wait(30) == 0, run.output()
    assert "Traceback" not in run.output()
    poll(lambda: not browsers_of(run.state), 10, "no browser left")
    with sqlite3.connect(run.state / "outbox.sqlite3") as db:
        (integrity,) = db.execute("PRAGMA integrity_check").fetchone()
        types = {t for (t,) in db.execute("SELECT type FROM events")}
    assert integrity == "ok"
    assert {"session.started", "message.received", "session.stopped"} <= types
    poll(lambda: run.heard("STOPPING=1"), 5, "STOPPING=1")


@pytest.mark.browser
def test_a_second_signal_forces_the_exit_and_kills_the_browsers(runs: Callable[..., Run]) -> None:
    run = runs()
    poll(lambda: all(s["state"] == "healthy" for s in get(f"{run.url}/sessions")["sessions"]),
         60, "healthy sessions")
    run.proc.send_signal(signal.SIGINT)
    run.proc.send_signal(signal.SIGINT)
    assert run.proc.wait(30) in (0, 1)
    poll(lambda: not browsers_of(run.state), 10, "no browser left")


@pytest.mark.parametrize("which", ["http", "simulator"])
def test_a_taken_listen_address_exits_2_at_once_before_any_browser(
        runs: Callable[..., Run], which: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        began = time.monotonic()
        run = runs(sessions=1, **{"http_port" if which == "http" else "sim_port": port})
        assert run.proc.wait(60) == 2, run.output()
        took = time.monotonic() - began
    assert f"{which}.listen: cannot listen on 127.0.0.1:{port}: address already in use" in (
        run.output())
    assert "Traceback" not in run.output() and "warden running" not in run.output()
    assert not run.heard("READY=1") and not browsers_of(run.state)
    assert not (run.state / "profiles").exists()  # no session ever started
    assert took < 20, took


def test_what_warden_creates_is_readable_by_it_alone(runs: Callable[..., Run]) -> None:
    run = runs(sessions=0)
    poll(lambda: run.heard("READY=1"), 60, "READY=1")
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in (
        run.state, run.state / "outbox.sqlite3", run.state / "warden.lock")}
    assert modes == {"state": 0o700, "outbox.sqlite3": 0o600, "warden.lock": 0o600}
    run.proc.send_signal(signal.SIGTERM)
    assert run.proc.wait(30) == 0, run.output()


def test_a_state_dir_left_open_to_others_is_closed(runs: Callable[..., Run],
                                                   tmp_path: Path) -> None:
    state = tmp_path / "run0" / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    run = runs(sessions=0)
    poll(lambda: run.heard("READY=1"), 60, "READY=1")
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert "readable by others (mode 755): now 0700" in run.output()


def test_a_bad_config_exits_2_naming_the_line(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("http:\n  listen: 0.0.0.0:8080\n")
    result = subprocess.run([WARDEN, "run", "-c", str(config)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert f"{config}:2: http.listen:" in result.stderr and "token" in result.stderr


def test_a_second_runtime_on_the_same_state_dir_is_refused(runs: Callable[..., Run]) -> None:
    run = runs(sessions=0)
    poll(lambda: run.heard("READY=1"), 60, "READY=1")
    second = subprocess.run([WARDEN, "run", "-c", str(run.config)], capture_output=True,
                            text=True, timeout=60)
    assert second.returncode == 2
    assert f"in use by warden pid {run.proc.pid}" in second.stderr
    assert run.proc.poll() is None  # the first one is untouched


@pytest.mark.parametrize(("args", "says"), [
    (["run", "--log-level", "chatty"], "invalid choice: 'CHATTY'"),
    (["sim", "--listen", "0.0.0.0:0"], "loopback only"),
    (["sim", "--listen", "nowhere"], "expected HOST:PORT"),
])
def test_bad_command_line_input_exits_2_with_a_message(args: list[str], says: str) -> None:
    result = subprocess.run([WARDEN, *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert says in result.stderr and "Traceback" not in result.stderr
