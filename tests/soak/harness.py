"""The soak harness runs Warden end to end under random faults and proves it kept its promises:
every message delivered, every event signed and in sequence, every fault met by the right
restart, no session failed, a clean exit, nothing left running, memory flat.

    simulator (subprocess)  <- pusher: 2 messages/s to every session
        ^ pages
    warden run (subprocess, own process group; killed -9 and started again)
        | signed webhooks
    receiver (this process: verifies, records, goes down)   <- injector: a fault every few s

Everything started is stopped in a `finally`, even when a check fails.
"""

from __future__ import annotations

import base64
import contextlib
import os
import random
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from prometheus_client.parser import text_string_to_metric_families

from tests.soak.injector import Injector, Pacing
from tests.soak.processes import Http, SimulatorProcess, WardenProcess, free_port, ours, wait_for
from tests.soak.receiver import WebhookReceiver
from tests.soak.report import Report, analyse
from tests.soak.verdicts import metrics_mismatch
from tests.soak.workload import MemorySampler, Pusher

__all__ = ["SoakSettings", "run_soak", "soak_settings"]

MARKER = "WARDEN_SOAK_RUN"


@dataclass(frozen=True, slots=True)
class SoakSettings:
    seconds: float
    seed: int
    sessions: int = 5
    rate: float = 2.0  # messages a second, per session
    pacing: Pacing = field(default_factory=Pacing)
    start_timeout: float = 120.0  # all sessions healthy after the first start
    settle_timeout: float = 240.0  # after the faults: everything delivered, all healthy
    sample_interval: float = 10.0


def soak_settings(default_seconds: float, **overrides: object) -> SoakSettings:
    """Settings from the environment: WARDEN_SOAK_SECONDS and WARDEN_SOAK_SEED."""
    seconds = float(os.environ.get("WARDEN_SOAK_SECONDS", default_seconds))
    seed = int(os.environ.get("WARDEN_SOAK_SEED", secrets.randbelow(2**31)))
    return SoakSettings(seconds=seconds, seed=seed, **overrides)  # type: ignore[arg-type]


def write_config(path: Path, *, state: Path, port: int, token: str, hook: str, secret: str,
                 sim: str, sessions: tuple[str, ...]) -> Path:
    lines = [
        f"state_dir: {state}",
        "http:",
        f"  listen: 127.0.0.1:{port}",
        f"  token: {token}",
        "  metrics_public: true",
        "browser:",
        "  executable: auto",
        "webhook:",
        f"  url: {hook}",
        f"  secret: {secret}",
        "  timeout: 5s",
        "  retry:",
        "    schedule: [0s, 1s, 2s, 5s, 10s, 10s, 10s, 10s, 10s, 10s]",
        "    jitter: 0.2",
        "policies:",
        "  soak:",
        "    heartbeat: {interval: 1s, timeout: 5s}",
        "    canary: {interval: 2s, timeout: 2s, failures: 2}",
        "    activity: {timeout: 10m}",
        "    memory: {limit: 600MiB}",
        "    restart:",
        "      max_restarts: 20",
        "      window: 1m",
        "      backoff: {initial: 250ms, factor: 2, max: 4s, jitter: 0.2}",
        "      reset_after: 30s",
        "    on_exhausted: give_up",
        "sessions:",
        *(f"  - {{id: {s}, adapter: simulator, url: '{sim}/chat/{s}', policy: soak}}"
          for s in sessions),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_soak(tmp: Path, settings: SoakSettings) -> Report:
    """Run one soak in `tmp`; returns its report (the caller asserts on `problems`)."""
    print(f"\nsoak: seed {settings.seed} (WARDEN_SOAK_SEED={settings.seed} repeats the faults), "
          f"{settings.seconds:g}s, {settings.sessions} sessions, logs in {tmp}", flush=True)
    rng = random.Random(settings.seed)
    sessions = tuple(f"soak-{n}" for n in range(1, settings.sessions + 1))
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    token = secrets.token_urlsafe(16)
    marker = (MARKER, secrets.token_hex(8))
    state, profiles = tmp / "state", tmp / "state" / "profiles"
    report = Report(seed=settings.seed, seconds=settings.seconds)
    receiver = WebhookReceiver(secret)
    sim = SimulatorProcess(tmp / "simulator.log")
    warden: WardenProcess | None = None
    pusher: Pusher | None = None
    sampler: MemorySampler | None = None
    try:
        receiver.start()
        sim.start()
        port = free_port()
        config = write_config(tmp / "soak.yaml", state=state, port=port, token=token,
                              hook=receiver.url, secret=secret, sim=sim.url, sessions=sessions)
        api = Http(f"http://127.0.0.1:{port}", token)
        warden = WardenProcess(config, tmp, {**os.environ, marker[0]: marker[1]}, api)
        warden.start()
        if not wait_for(lambda: _unhealthy(api) == [], settings.start_timeout, 0.5):
            raise AssertionError(f"sessions not healthy after start: {_unhealthy(api)}\n"
                                 f"{warden.log_tail()}")
        sim_api = Http(sim.url)
        pusher = Pusher(sim_api, sessions, settings.rate).start()
        sampler = MemorySampler(warden, profiles, settings.sample_interval).start()
        injector = Injector(rng, sessions, sim_api, warden, receiver, profiles, settings.pacing)
        injector.run(settings.seconds)
        pusher.stop()
        injector.finish(settings.pacing.watch)
        settled = wait_for(lambda: _settled(api, receiver, pusher), settings.settle_timeout, 1.0)
        if not settled:
            report.other_problems.append(f"not settled within {settings.settle_timeout:g}s: "
                                         f"{_settled_why(api, receiver, pusher)}")
        report.unhealthy_at_end = _unhealthy(api)
        since = warden.incarnations[-1]
        mismatch: list[str] = []

        def metrics_agree() -> bool:
            nonlocal mismatch
            mismatch = metrics_mismatch(_restart_metrics(api), receiver.events(), since)
            return not mismatch

        wait_for(metrics_agree, 30.0, 1.0)
        report.metrics_mismatch = mismatch
        sampler.stop()
        stopping = time.monotonic()
        report.exit_code = warden.terminate(90.0)
        report.stop_seconds = time.monotonic() - stopping
        if report.exit_code is None:
            report.other_problems.append(f"warden run still running 90s after SIGTERM:\n"
                                         f"{warden.log_tail()}")
        wait_for(lambda: not ours(marker, profiles), 15.0, 0.5)
        report.leftovers = [_describe(p) for p in ours(marker, profiles)]
        report.counts = {**receiver.counts(), "pushes refused": pusher.refused}
        report.other_problems += injector.problems
        analyse(report, pusher.pushed(), receiver.events(), injector.injections,
                sampler.samples, warden.incarnations)
        print(report.table(), flush=True)
        return report
    finally:
        for worker in (pusher, sampler):
            if worker is not None:
                worker.stop()
        if warden is not None:
            warden.kill()
        _kill_ours(marker, profiles)
        sim.stop()
        receiver.close()


def _unhealthy(api: Http) -> list[str]:
    answer = api.get("/sessions")
    if not answer:
        return ["(no answer from /sessions)"]
    return [f"{s['id']}={s['state']}" for s in answer["sessions"] if s["state"] != "healthy"]


def _settled_why(api: Http, receiver: WebhookReceiver, pusher: Pusher) -> list[str]:
    why = _unhealthy(api)
    missing = {p.id for p in pusher.pushed()} - receiver.message_ids()
    if missing:
        why.append(f"{len(missing)} messages not delivered")
    webhook = api.get("/webhook")
    if not webhook or webhook.get("pending"):
        why.append(f"outbox pending: {None if not webhook else webhook.get('pending')}")
    return why


def _settled(api: Http, receiver: WebhookReceiver, pusher: Pusher) -> bool:
    return not _settled_why(api, receiver, pusher)


def _restart_metrics(api: Http) -> Mapping[tuple[str, str], float]:
    answer = api.request("GET", "/metrics")
    if answer is None or answer[0] != 200 or not isinstance(answer[1], str):
        return {}
    counted: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(answer[1]):
        for sample in family.samples:
            if sample.name == "warden_session_restarts_total":
                counted[(sample.labels["session"], sample.labels["reason"])] = sample.value
    return counted


def _describe(proc: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        return f"{proc.pid} {' '.join(proc.cmdline())[:120]}"
    return str(proc.pid)


def _kill_ours(marker: tuple[str, str], profiles: Path) -> None:
    """Last resort in the `finally`: SIGKILL whatever the runtime started and left."""
    for proc in ours(marker, profiles):
        with contextlib.suppress(Exception):
            proc.kill()
    with contextlib.suppress(Exception):
        wait_for(lambda: not ours(marker, profiles), 10.0, 0.2)
