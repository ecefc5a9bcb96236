"""The soak's processes: the simulator and `warden run` as subprocesses in their own process
groups, a small HTTP client for both, and the census of the processes a runtime left behind.

Every process the runtime starts (drivers, Chromiums, their crashpad handlers) inherits a
marker variable from it, and every Chromium names its profile under the soak's `state_dir`:
that is how the soak tells its own processes from those of anything else on the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import psutil

__all__ = [
    "Http",
    "SimulatorProcess",
    "WardenProcess",
    "browsers",
    "free_port",
    "ours",
    "pss_bytes",
    "wait_for",
]


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
    """Poll `predicate` until it is true or `timeout` seconds pass; returns its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def free_port() -> int:
    """A port nothing listens on right now (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Http:
    """JSON over HTTP to one base URL; any failure (refused, timeout, 5xx) answers None."""

    def __init__(self, base: str, token: str = "", timeout: float = 5.0) -> None:
        self.base = base
        self.token = token
        self.timeout = timeout

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any] | None:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
                status: int = response.status
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, None
        except (OSError, ValueError):
            return None
        if not raw:
            return status, None
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def get(self, path: str) -> Any:
        answer = self.request("GET", path)
        return answer[1] if answer is not None and answer[0] == 200 else None

    def post(self, path: str, body: Any = None) -> int | None:
        answer = self.request("POST", path, {} if body is None else body)
        return None if answer is None else answer[0]


def _spawn(args: list[str], log: Path,
           env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True)


def _end(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGKILL the process group `proc` leads, and reap it."""
    if proc is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(30)


class SimulatorProcess:
    """`warden sim --listen 127.0.0.1:0` in its own session: it outlives kills of the runtime."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> SimulatorProcess:
        self.proc = _spawn([sys.executable, "-m", "warden", "sim", "--listen", "127.0.0.1:0"],
                           self.log)
        if not wait_for(self._listening, timeout, 0.05):
            raise RuntimeError(f"simulator did not listen within {timeout}s: "
                               f"{self.log.read_text(errors='replace')[-2000:]}")
        return self

    def _listening(self) -> bool:
        for line in self.log.read_text(errors="replace").splitlines():
            if "listening on http://" in line:
                self.port = int(line.split("listening on http://", 1)[1].split("/")[0]
                                .rsplit(":", 1)[1])
                return True
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"simulator exited with {self.proc.returncode}")
        return False

    def stop(self) -> None:
        _end(self.proc)
        self.proc = None


class WardenProcess:
    """`warden run -c CONFIG` as the leader of its own process group; started again after a kill.

    `incarnations` lists the wall time each one was started at."""

    def __init__(self, config: Path, logs: Path, env: dict[str, str], api: Http) -> None:
        self.config = config
        self.logs = logs
        self.env = env
        self.api = api
        self.proc: subprocess.Popen[bytes] | None = None
        self.incarnations: list[float] = []

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    @property
    def log(self) -> Path:
        return self.logs / f"warden-{len(self.incarnations)}.log"

    def start(self, timeout: float = 90.0) -> None:
        self.incarnations.append(time.time())
        self.proc = _spawn([sys.executable, "-m", "warden", "run", "-c", str(self.config)],
                           self.log, self.env)
        if not wait_for(self._up, timeout, 0.2):
            raise RuntimeError(f"warden run did not answer /healthz within {timeout}s; "
                               f"log {self.log}:\n{self.log_tail()}")

    def _up(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"warden run exited with {self.proc.returncode}:\n{self.log_tail()}")
        return bool(self.api.get("/healthz") == {"status": "ok"})

    def kill(self) -> None:
        """kill -9 of the whole process group (the runtime and its drivers; the browsers, in
        process groups of their own, are orphaned as after a crash of the host process)."""
        _end(self.proc)
        self.proc = None

    def terminate(self, timeout: float) -> int | None:
        """SIGTERM to the runtime alone, as an init system sends it; its exit code, or None."""
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self.proc = None  # reaped: its pid and group id may be reused
        return code

    def log_tail(self, chars: int = 4000) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-chars:]
        return ""


def _is_ours(proc: psutil.Process, marker: tuple[str, str], profiles: str) -> bool:
    try:
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        if any(arg.startswith("--user-data-dir=" + profiles) for arg in proc.cmdline()):
            return True
        return proc.environ().get(marker[0]) == marker[1]
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def ours(marker: tuple[str, str], profiles: Path,
         exclude: Iterable[int] = ()) -> list[psutil.Process]:
    """Live processes the runtime started: marked by its environment or using its profiles."""
    skip = {os.getpid(), *exclude}
    root = os.path.realpath(profiles)
    return [p for p in psutil.process_iter() if p.pid not in skip and _is_ours(p, marker, root)]


def browsers(profiles: Path) -> list[psutil.Process]:
    """Every Chromium process (main, zygotes, renderers, helpers) using a profile in `profiles`."""
    root = os.path.realpath(profiles)
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            if any(a.startswith("--user-data-dir=" + root) for a in proc.cmdline()):
                found.append(proc)
    return found


def pss_bytes(procs: Iterable[psutil.Process]) -> int:
    """Total proportional set size of `procs`, from `/proc/PID/smaps_rollup`."""
    total = 0
    for proc in procs:
        with contextlib.suppress(OSError), open(f"/proc/{proc.pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
    return total
