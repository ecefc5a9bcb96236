"""`warden run`: one Warden process — outbox, simulator, supervision tree, signals, systemd.

SIGTERM or SIGINT stops the tree in reverse order and exits 0 (1 if the root had failed);
a second signal kills the browsers and exits at once. SIGHUP re-reads the config file and
applies what changed (`warden.reload`). Before anything starts, the state
directory is locked and both listen addresses are bound: a taken one exits 2 at once, naming
the address and the cause, before any browser is launched. Files it creates are its own
(umask 077): the outbox holds message bodies.
"""

from __future__ import annotations

import fcntl
import logging
import os
import resource
import signal
import socket
import stat
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from prometheus_client import CollectorRegistry

from actors.browser import ExecutableNotFound, kill_leftovers, resolve_executable
from actors.fleet import FleetSpecs
from actors.front import FrontDeps
from actors.incidents import IncidentRecorder, IncidentStore
from actors.intake import Intake
from actors.lifecycle import LifecycleWebhooks
from actors.outbox import FILE_NAME, Outbox
from actors.outbox_health import OutboxUnusable
from actors.pages import Pages
from actors.recent import RecentEvents
from actors.webhooks import Webhooks
from httpkit import ListenError, bind_listen
from runtime import EventBus, Runtime, StatusBoard
from warden import systemd
from warden.config import Config, ConfigError, load_config
from warden.hangup import Hangups
from warden.logs import configure_logging
from warden.metrics import Metrics
from warden.reload import Reloaded, Reloader, ReloadUnavailable, http_answer
from warden.tree import TreeParts, build_tree, sessions_fleet
from warden.webhook_reload import WebhookRenewal

__all__ = ["Warden", "run"]

logger = logging.getLogger("warden")

ROOT_RESPONSIVE = 10.0  # seconds: twenty root ticks
FD_LIMIT = 65536  # browsers, drivers and two HTTP servers; systemd's default hard limit is higher


class AlreadyRunning(RuntimeError):
    """Another `warden run` holds the state_dir."""


def lock_state_dir(state_dir: Path) -> TextIO:
    """Hold an exclusive lock on `state_dir/warden.lock` for this process's life.

    Two runtimes on one state_dir would kill each other's browsers as leftovers and deliver
    one outbox twice out of order. The lock goes with the process, even after kill -9.
    """
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    _own_only(state_dir)
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


def _own_only(state_dir: Path) -> None:
    """Close a state_dir an earlier version left readable to others (message bodies, profiles)."""
    info = state_dir.stat()
    if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) & 0o077:
        state_dir.chmod(0o700)
        logger.warning("%s was readable by others (mode %o): now 0700", state_dir,
                       stat.S_IMODE(info.st_mode))


def raise_fd_limit(wanted: int = FD_LIMIT) -> int:
    """Raise the soft file-descriptor limit toward the hard one (a shell's 1024 is soon spent
    by browsers); the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


class Warden:
    """Everything one `warden run` owns, started in dependency order and stopped in reverse."""

    def __init__(self, config: Config, executable: str, *,
                 fleet_specs: FleetSpecs | None = None) -> None:
        self.config = config
        self.executable = executable
        self.fleet_specs = fleet_specs  # None: real drivers and browser sessions
        self.reloader: Reloader | None = None
        self._closing = False
        self.events = EventBus()
        self.board = StatusBoard()
        self.registry = CollectorRegistry()
        self.runtime: Runtime | None = None
        self.outbox: Outbox | None = None
        self.intake: Intake | None = None
        self.simulator: Any = None
        self.lock: TextIO | None = None
        self.listener: socket.socket | None = None

    def start(self) -> Runtime:
        """Lock, bind, then start; AlreadyRunning or ListenError before anything launched."""
        config = self.config
        self.lock = lock_state_dir(config.state_dir)
        try:
            self.listener = bind_listen(config.http.host, config.http.port)
        except ListenError as exc:
            raise ListenError(f"http.listen: {exc}") from None
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
            try:
                self.simulator.start()
            except ListenError as exc:
                self.simulator = None
                raise ListenError(f"simulator.listen: {exc}") from None
            logger.info("simulator listening on %s", self.simulator.url)
        kill_leftovers(config.state_dir / "profiles")
        metrics = Metrics(self.registry, board=self.board, events=self.events, webhooks=webhooks)
        self.events.subscribe(LifecycleWebhooks(intake))
        recent, pages = RecentEvents(), Pages()
        recent.attach(self.events)
        store = IncidentStore(config.state_dir / "incidents")
        deps = FrontDeps.build(sink_secret=config.webhook.secret, board=self.board,
                               events=self.events, control=self, webhooks=webhooks,
                               registry=self.registry, root_running=self.running,
                               listener=self.listener, auth_failed=metrics.auth_failed,
                               recent=recent, pages=pages, incidents=store,
                               reload=self.reload_answer)
        fleet = sessions_fleet(config, intake, self.fleet_specs, pages=pages,
                               incidents=IncidentRecorder(store, pages, self.board, recent))
        spec = build_tree(config, TreeParts(
            executable=self.executable, inbound=intake, events=self.events, board=self.board,
            outbox=outbox, observer=metrics, front=deps, fleet=fleet))
        runtime = Runtime(spec, events=self.events, board=self.board)
        self.reloader = Reloader(config, runtime, fleet, executable=self.executable,
                                 webhooks=WebhookRenewal(runtime, webhooks, metrics, deps.sink),
                                 notify=systemd.notify)
        if self._closing:
            self.reloader.close()
        self.runtime = runtime.start()
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

    # reload, from the front, SIGHUP or a test: any thread
    def reload(self) -> Reloaded:
        if self.reloader is None:
            raise ReloadUnavailable("warden is starting: the reload was refused")
        return self.reloader.reload()

    def reload_answer(self) -> tuple[int, dict[str, Any]]:
        return http_answer(self.reload)

    def closing(self) -> None:
        """Refuse reloads from now on: it is stopping (safe in a signal handler)."""
        self._closing = True
        if self.reloader is not None:
            self.reloader.close()

    def stop(self) -> int:
        self.closing()
        code = self.runtime.stop() if self.runtime is not None else 0
        if self.intake is not None:
            self.intake.close()
        if self.outbox is not None:
            self.outbox.close()
        if self.simulator is not None:
            self.simulator.stop()
        if self.listener is not None:
            self.listener.close()
        if self.lock is not None:
            self.lock.close()
        return code

    def kill_browsers(self) -> None:
        kill_leftovers(self.config.state_dir / "profiles")


def run(config_path: str, *, log_format: str = "text", log_level: str = "INFO") -> int:
    configure_logging(log_format, log_level)
    os.umask(0o077)  # the outbox (message bodies), profiles and incidents are ours alone
    raise_fd_limit()
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

    hangups = Hangups(warden.reload)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            logger.info("%s: stopping (send it again to force)", signal.Signals(signum).name)
            warden.closing()
            stop.set()
        else:
            logger.warning("second signal: killing browsers and exiting now")
            warden.kill_browsers()
            os._exit(1)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # Its default action ends the process: `systemctl reload` or a closed terminal would kill it.
    signal.signal(signal.SIGHUP, lambda signum, frame: hangups.request())
    try:
        runtime = warden.start()
    except (AlreadyRunning, ListenError) as exc:
        print(f"{config_path}: {exc}", file=sys.stderr)
        warden.stop()
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
    hangups.start()  # a SIGHUP that came during the start is applied now
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
    hangups.stop()
    logger.info("warden stopped (exit %d)", code)
    return code
