"""`warden run`: one Warden process — outbox, simulator, supervision tree, signals, systemd.

SIGTERM or SIGINT stops the tree in reverse order and exits 0 (1 if the root had failed);
a second signal kills the browsers and exits at once.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from prometheus_client import CollectorRegistry

from actors.browser import ExecutableNotFound, kill_leftovers, resolve_executable
from actors.front import FrontDeps
from actors.intake import Intake
from actors.lifecycle import LifecycleWebhooks
from actors.outbox import FILE_NAME, Outbox
from actors.outbox_health import OutboxUnusable
from actors.webhooks import Webhooks
from runtime import EventBus, Runtime, StatusBoard
from warden import systemd
from warden.config import Config, ConfigError, load_config
from warden.logs import configure_logging
from warden.metrics import Metrics
from warden.tree import TreeParts, build_tree

__all__ = ["Warden", "run"]

logger = logging.getLogger("warden")

ROOT_RESPONSIVE = 10.0  # seconds: twenty root ticks


class AlreadyRunning(RuntimeError):
    """Another `warden run` holds the state_dir."""


def lock_state_dir(state_dir: Path) -> TextIO:
    """Hold an exclusive lock on `state_dir/warden.lock` for this process's life.

    Two runtimes on one state_dir would kill each other's browsers as leftovers and deliver
    one outbox twice out of order. The lock goes with the process, even after kill -9.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    handle = open(state_dir / "warden.lock", "a+")  # noqa: SIM115 - held until exit
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise AlreadyRunning(f"{state_dir} is in use by warden pid {holder}") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


class Warden:
    """Everything one `warden run` owns, started in dependency order and stopped in reverse."""

    def __init__(self, config: Config, executable: str) -> None:
        self.config = config
        self.executable = executable
        self.events = EventBus()
        self.board = StatusBoard()
        self.registry = CollectorRegistry()
        self.runtime: Runtime | None = None
        self.outbox: Outbox | None = None
        self.intake: Intake | None = None
        self.simulator: Any = None
        self.lock: TextIO | None = None

    def start(self) -> Runtime:
        config = self.config
        self.lock = lock_state_dir(config.state_dir)
        kill_leftovers(config.state_dir / "profiles")
        # Refuses a corrupted file, or a missing one this state_dir had, before any browser.
        self.outbox = outbox = Outbox(config.state_dir / FILE_NAME,
                                      routes=[e.route() for e in config.webhooks])
        webhooks = Webhooks(outbox, config.webhooks)
        for endpoint, pending in webhooks.unconfigured().items():
            logger.warning("the outbox holds %d pending events for endpoint %r, which is not"
                           " configured: they are kept until it is", pending, endpoint)
        self.intake = intake = Intake(outbox)
        if config.simulator is not None:
            from simulator.app import SimulatorServer

            self.simulator = SimulatorServer(config.simulator.host, config.simulator.port)
            self.simulator.start()
            logger.info("simulator listening on %s", self.simulator.url)
        metrics = Metrics(self.registry, board=self.board, events=self.events, webhooks=webhooks)
        self.events.subscribe(LifecycleWebhooks(intake))
        deps = FrontDeps.build(sink_secret=config.webhook.secret, board=self.board,
                               events=self.events, control=self, webhooks=webhooks,
                               registry=self.registry, root_running=self.running)
        spec = build_tree(config, TreeParts(
            executable=self.executable, inbound=intake, events=self.events, board=self.board,
            outbox=outbox, observer=metrics, front=deps))
        self.runtime = Runtime(spec, events=self.events, board=self.board).start()
        return self.runtime

    def running(self) -> bool:
        return self.runtime is not None and self.runtime.running

    # control, for the HTTP front: by session id, answered at once
    def restart(self, child_id: str) -> bool:
        return self.runtime is not None and self.runtime.restart(child_id)

    def stop_child(self, child_id: str) -> bool:
        return self.runtime is not None and self.runtime.stop_child(child_id)

    def start_child(self, child_id: str) -> bool:
        return self.runtime is not None and self.runtime.start_child(child_id)

    def stop(self) -> int:
        code = self.runtime.stop() if self.runtime is not None else 0
        if self.intake is not None:
            self.intake.close()
        if self.outbox is not None:
            self.outbox.close()
        if self.simulator is not None:
            self.simulator.stop()
        if self.lock is not None:
            self.lock.close()
        return code

    def kill_browsers(self) -> None:
        kill_leftovers(self.config.state_dir / "profiles")


def run(config_path: str, *, log_format: str = "text", log_level: str = "INFO") -> int:
    configure_logging(log_format, log_level)
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        return 2
    try:
        executable = resolve_executable(config.browser.executable) if config.sessions else ""
    except ExecutableNotFound as exc:
        print(f"{config_path}: {exc}", file=sys.stderr)
        return 2

    stop = threading.Event()
    signals = 0
    warden = Warden(config, executable)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            logger.info("%s: stopping (send it again to force)", signal.Signals(signum).name)
            stop.set()
        else:
            logger.warning("second signal: killing browsers and exiting now")
            warden.kill_browsers()
            os._exit(1)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        runtime = warden.start()
    except AlreadyRunning as exc:
        print(f"{config_path}: {exc}", file=sys.stderr)
        return 2
    except OutboxUnusable as exc:
        warden.stop()
        print(f"{config_path}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        logger.exception("could not start: %s", exc)
        warden.stop()
        return 1
    logger.info("warden running: %d sessions, http://%s:%d/", len(config.sessions),
                config.http.host, config.http.port)
    systemd.notify("READY=1")
    ping = systemd.watchdog_interval()
    while not stop.wait(ping or 1.0):
        if not runtime.running:
            break
        # Only while the root's own timer answers: a deadlocked tree goes unpinged and
        # systemd restarts the process (WatchdogSec= in deploy/warden.service).
        if ping is not None and runtime.responsive(within=ROOT_RESPONSIVE):
            systemd.notify("WATCHDOG=1")
    systemd.notify("STOPPING=1")
    code = warden.stop()
    logger.info("warden stopped (exit %d)", code)
    return code
