"""Remote login and incidents, under `warden run` with 10 simulator sessions: time from the app
logging out to the QR code being served, from a scan to healthy, screenshot latency (one at a
time, and 10 sessions at once), and the capture time of an incident for a healthy page (a manual
restart) and for a hung one (a heartbeat restart; its screenshot times out at 2 s).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bench.bench_fleet import free_port, stop
from bench.common import median, percentile
from simulator import SimulatorServer

SESSIONS = 10
QUICK = os.environ.get("WARDEN_BENCH_QUICK") == "1"


def call(method: str, url: str, body: Any = None) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as answer:
        return answer.code, answer.read()
    except OSError:  # not listening yet
        return 0, b""


def until(predicate: Any, timeout: float = 120.0) -> float:
    """Seconds until `predicate()` holds, sampling every 10 ms."""
    started = time.perf_counter()
    while not predicate():
        if time.perf_counter() - started > timeout:
            raise TimeoutError("gave up waiting")
        time.sleep(0.01)
    return time.perf_counter() - started


def main() -> dict[str, Any]:
    rounds = 2 if QUICK else 5
    out: dict[str, Any] = {"sessions": SESSIONS}
    with SimulatorServer() as sim, tempfile.TemporaryDirectory(prefix="warden-login-") as d:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        config = Path(d) / "w.yaml"
        config.write_text(
            f"state_dir: {d}/var\nhttp: {{listen: 127.0.0.1:{port}}}\n"
            f"webhook: {{url: {base}/demo/webhook}}\nsessions:\n" + "".join(
                f"  - {{id: acct-{i}, url: '{sim.url}/chat/acct-{i}'}}\n"
                for i in range(1, SESSIONS + 1)), encoding="utf-8")
        process = subprocess.Popen([sys.executable, "-m", "warden", "run", "-c", str(config),
                                    "--log-level", "WARNING"], stderr=subprocess.DEVNULL)
        try:
            def state(session: str) -> str:
                status, body = call("GET", f"{base}/sessions/{session}")
                return str(json.loads(body)["state"]) if status == 200 else ""

            until(lambda: all(state(f"acct-{i}") == "healthy"
                              for i in range(1, SESSIONS + 1)), 600)
            to_qr, to_healthy = [], []
            for _ in range(rounds):
                t0 = time.perf_counter()
                call("POST", f"{sim.url}/sim/acct-1/fault", {"mode": "logout"})
                until(lambda: call("GET", f"{base}/sessions/acct-1/qr?format=json")[0] == 200)
                to_qr.append(time.perf_counter() - t0)
                code = json.loads(call("GET", f"{sim.url}/sim/acct-1")[1])["qr"]
                t0 = time.perf_counter()
                call("POST", f"{sim.url}/sim/acct-1/scan", {"qr": code})
                until(lambda: state("acct-1") == "healthy")
                to_healthy.append(time.perf_counter() - t0)
            out["logout_to_qr_served_median_s"] = round(median(to_qr), 2)
            out["scan_to_healthy_median_s"] = round(median(to_healthy), 2)

            def shot(session: str) -> float:
                t0 = time.perf_counter()
                status, _ = call("GET", f"{base}/sessions/{session}/screenshot")
                assert status == 200, status
                return (time.perf_counter() - t0) * 1000

            one = [shot(f"acct-{1 + n % SESSIONS}") for n in range(50 if not QUICK else 20)]
            with concurrent.futures.ThreadPoolExecutor(SESSIONS) as pool:
                together = list(pool.map(shot, [f"acct-{1 + n % SESSIONS}"
                                                for n in range(10 * SESSIONS)]))
            out["screenshot_one_at_a_time_p50_ms"] = round(percentile(one, 50), 1)
            out["screenshot_one_at_a_time_p99_ms"] = round(percentile(one, 99), 1)
            out["screenshot_10_at_once_p50_ms"] = round(percentile(together, 50), 1)
            out["screenshot_10_at_once_p99_ms"] = round(percentile(together, 99), 1)

            def incidents(session: str) -> list[dict[str, Any]]:
                return list(json.loads(call("GET", f"{base}/sessions/{session}/incidents")[1])
                            ["incidents"])

            healthy = []
            for _ in range(rounds):
                before = len(incidents("acct-2"))
                call("POST", f"{base}/sessions/acct-2/restart")
                until(lambda before=before: len(incidents("acct-2")) > before)
                healthy.append(incidents("acct-2")[0]["capture_seconds"])
                until(lambda: state("acct-2") == "healthy")
            hung = []
            for _ in range(max(1, rounds - 2)):
                before = len(incidents("acct-3"))
                call("POST", f"{sim.url}/sim/acct-3/fault", {"mode": "hang"})
                until(lambda before=before: len(incidents("acct-3")) > before)
                hung.append(incidents("acct-3")[0]["capture_seconds"])
                until(lambda: state("acct-3") == "healthy")
            out["incident_capture_healthy_median_s"] = round(median(healthy), 3)
            out["incident_capture_hung_median_s"] = round(median(hung), 3)
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            stop(process)
    for key, value in out.items():
        print(f"{key:40} {value}")
    return out


if __name__ == "__main__":
    main()
