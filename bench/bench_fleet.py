"""Fleet benchmark: what N idle sessions cost under `warden run`, beside the same N chat pages
opened bare from one Playwright driver, measured side by side in one run.

For each N: time for the fleet to come up (process start -> every page ready / every session
healthy), then, after the fleet has settled, CPU (% of one core) over an idle minute and PSS per
session of each whole process tree (Python, drivers, browsers), and restarts seen.
`python -m bench fleet 8 16` picks the sizes (default 8, 16, 32); `nocanary` among them (`fleet
8 nocanary`) also runs warden with the canary off, to show what the canary's round trips cost
in the browsers. WARDEN_BENCH_QUICK=1 idles for 20 s instead of 60 s.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

from simulator.app import SimulatorServer

QUICK = os.environ.get("WARDEN_BENCH_QUICK") == "1"
IDLE = 20.0 if QUICK else 60.0
SETTLE = 10.0  # seconds after coming up before measuring: start-up work dies down
MiB = 2**20


def tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def kind_of(proc: psutil.Process) -> str:
    """python, driver (Playwright's Node process) or browser (Chromium)."""
    line = " ".join(proc.cmdline())
    return "driver" if "run-driver" in line else "browser" if "chrom" in line else "python"


def cpu_seconds(procs: list[psutil.Process]) -> dict[int, tuple[str, float]]:
    out = {}
    for proc in procs:
        try:
            times = proc.cpu_times()
            out[proc.pid] = (kind_of(proc), times.user + times.system)
        except psutil.Error:
            continue
    return out


def pss(procs: list[psutil.Process]) -> dict[str, float]:
    """PSS by kind of process."""
    kinds = {"python": 0.0, "driver": 0.0, "browser": 0.0}
    for proc in procs:
        try:
            kinds[kind_of(proc)] += proc.memory_full_info().pss
        except psutil.Error:
            continue
    return kinds


def idle_figures(root: psutil.Process, n: int) -> dict[str, Any]:
    time.sleep(SETTLE)
    procs = tree(root)
    before, t0 = cpu_seconds(procs), time.monotonic()
    time.sleep(IDLE)
    after, elapsed = cpu_seconds(procs), time.monotonic() - t0
    used = {"python": 0.0, "driver": 0.0, "browser": 0.0}
    for pid, (kind, seconds) in after.items():
        if pid in before:
            used[kind] += seconds - before[pid][1]
    memory = pss(tree(root))
    return {
        "cpu_pct": round(100 * sum(used.values()) / elapsed, 1),
        **{f"cpu_{kind}_pct": round(100 * value / elapsed, 1) for kind, value in used.items()},
        "pss_per_session_MiB": round(sum(memory.values()) / n / MiB, 1),
        "pss_python_MiB": round(memory["python"] / MiB, 1),
        "pss_drivers_MiB": round(memory["driver"] / MiB, 1),
        "pss_browsers_per_session_MiB": round(memory["browser"] / n / MiB, 1),
        "processes": len(procs),
    }


def stop(process: subprocess.Popen[Any]) -> None:
    """SIGTERM (warden's clean stop; the bare script just dies), then SIGKILL the tree."""
    root = psutil.Process(process.pid)
    procs = tree(root)
    process.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(60)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(procs, timeout=10)


def bare(n: int, sim: SimulatorServer, state: Path) -> dict[str, Any]:
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.fleet_bare", str(n), sim.url, str(state)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("up "):
            raise RuntimeError(f"bare fleet of {n} did not come up: {line!r}")
        up = time.monotonic() - started
        return {"up_s": round(up, 1), **idle_figures(psutil.Process(process.pid), n),
                "restarts": 0}
    finally:
        stop(process)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sessions(port: int) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/sessions", timeout=5) as answer:
        return list(json.load(answer)["sessions"])


def warden(n: int, sim: SimulatorServer, state: Path, *, canary: bool = True) -> dict[str, Any]:
    port = free_port()
    state.mkdir(parents=True, exist_ok=True)
    config = state / "fleet.yaml"
    lines = [
        f"state_dir: {state / 'var'}",
        f"http: {{listen: 127.0.0.1:{port}}}",
        f"webhook: {{url: http://127.0.0.1:{port}/demo/webhook}}",
        "sessions:",
    ]
    if not canary:
        lines[3:3] = ["policies: {default: {canary: off}}"]
    for i in range(n):
        lines += [f"  - id: acct-{i + 1}", f"    url: {sim.url}/chat/acct-{i + 1}"]
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "warden", "run", "-c", str(config),
                                "--log-level", "WARNING"], stderr=subprocess.DEVNULL)
    try:
        deadline = started + 900
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"warden run exited with {process.returncode}")
            try:
                seen = sessions(port)
            except OSError:
                seen = []
            if len(seen) == n and all(s["state"] == "healthy" for s in seen):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"fleet of {n} not healthy after 900 s: {seen}")
            time.sleep(0.2)
        up = time.monotonic() - started
        figures = idle_figures(psutil.Process(process.pid), n)
        figures["restarts"] = sum(s["restarts_total"] for s in sessions(port))
        return {"up_s": round(up, 1), **figures}
    finally:
        stop(process)


def main(*sizes: str) -> dict[str, Any]:
    rows = []
    without_canary = "nocanary" in sizes
    for n in [int(s) for s in sizes if s != "nocanary"] or [8, 16, 32]:
        with SimulatorServer() as sim, tempfile.TemporaryDirectory(prefix="warden-fleet-") as d:
            base = bare(n, sim, Path(d) / "bare")
            ours = warden(n, sim, Path(d) / "warden")
            quiet = warden(n, sim, Path(d) / "quiet", canary=False) if without_canary else None
        row = {
            "N": n,
            "bare up s": base["up_s"], "warden up s": ours["up_s"],
            "up ratio": round(ours["up_s"] / base["up_s"], 2),
            "bare CPU %": base["cpu_pct"], "warden CPU %": ours["cpu_pct"],
            "CPU ratio": round(ours["cpu_pct"] / max(base["cpu_pct"], 0.1), 2),
            "warden CPU python/driver/browsers %": "/".join(
                str(ours[f"cpu_{k}_pct"]) for k in ("python", "driver", "browser")),
            "bare CPU python/driver/browsers %": "/".join(
                str(base[f"cpu_{k}_pct"]) for k in ("python", "driver", "browser")),
            "bare PSS/session MiB": base["pss_per_session_MiB"],
            "warden PSS/session MiB": ours["pss_per_session_MiB"],
            "PSS ratio": round(ours["pss_per_session_MiB"] / base["pss_per_session_MiB"], 2),
            "warden python MiB": ours["pss_python_MiB"],
            "warden drivers MiB": ours["pss_drivers_MiB"],
            "restarts": ours["restarts"],
        }
        if quiet is not None:
            row["canary off: CPU %"] = quiet["cpu_pct"]
            row["canary off: CPU ratio"] = round(quiet["cpu_pct"] / max(base["cpu_pct"], 0.1), 2)
            row["canary off: python/driver/browsers %"] = "/".join(
                str(quiet[f"cpu_{k}_pct"]) for k in ("python", "driver", "browser"))
        rows.append(row)
        print(rows[-1], flush=True)
    return {"fleet": rows}


if __name__ == "__main__":
    main(*sys.argv[1:])
