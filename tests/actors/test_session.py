"""Browser sessions against real Chromium and the chat simulator: every way a session dies is
detected and recovered, with nothing lost and nothing left running."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
import pytest

from actors.adapters.simulator import SimulatorAdapter
from actors.browser import DEFAULT_ARGS, resolve_executable
from actors.fleet import fleet_children
from actors.launch import LaunchGate, Ticket
from actors.memory import MemorySampler, MemoryWatch
from actors.pages import Pages
from actors.policy import CanaryPolicy, Policy
from actors.session import BrowserSession, SessionDeps, SessionSettings
from actors.shard import Shard
from runtime import (
    Backoff,
    ChildSpec,
    EventBus,
    LifecycleEvent,
    RestartBudget,
    Runtime,
    StatusBoard,
    SupervisorSpec,
)
from simulator.app import SimulatorServer

pytestmark = pytest.mark.browser

CHROMIUM = resolve_executable("auto")
OUTAGE = 8.0  # seconds: eight canary periods of the FAST policy

# Fast enough for tests, same shape as the default policy.
FAST = Policy(
    heartbeat_interval=0.5,
    heartbeat_timeout=10.0,  # the default: a loaded 2-core machine can stall a probe for seconds
    canary=CanaryPolicy(interval=1.0, timeout=1.0, failures=2),
    activity_timeout=None,
    memory_limit=None,
    budget=RestartBudget(max_restarts=3, window=600.0,
                         backoff=Backoff(initial=0.2, factor=2.0, max=2.0, jitter=0.2)),
)


class Recorder:
    """Stands in for the outbox: records accepted events, knows each (session, message id)
    once as the outbox does; `refuse` makes every append fail (a full disk, say)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[tuple[str, str, dict[str, Any]]] = []
        self.refuse = False
        self.refused: list[str] = []  # message ids of the refused message.received appends

    def append(self, session_id: str, type: str, data: Mapping[str, Any],
               at: float | None = None) -> None:
        with self.lock:
            if self.refuse:
                if type == "message.received":
                    self.refused.append(data["message_id"])
                raise OSError(28, "No space left on device")
            if type == "message.received" and data["message_id"] in self._ids(session_id):
                return
            self.events.append((session_id, type, dict(data)))

    def _ids(self, session_id: str) -> set[str]:
        return {d["message_id"] for s, t, d in self.events
                if s == session_id and t == "message.received"}

    def message_high_water(self, session_id: str) -> float | None:
        with self.lock:
            times = [datetime.fromisoformat(d["timestamp"].replace("Z", "+00:00")).timestamp()
                     for s, t, d in self.events if s == session_id and t == "message.received"]
        return max(times, default=None)

    def known_messages(self, session_id: str, message_ids: Sequence[str]) -> set[str]:
        with self.lock:
            return self._ids(session_id) & set(message_ids)

    def bodies(self, session_id: str) -> list[str]:
        with self.lock:
            return [d["body"] for s, t, d in self.events
                    if s == session_id and t == "message.received"]

    def of_type(self, session_id: str, type: str) -> list[dict[str, Any]]:
        with self.lock:
            return [d for s, t, d in self.events if s == session_id and t == type]


@dataclass
class Harness:
    sim: SimulatorServer
    runtime: Runtime
    inbound: Recorder
    pages: Pages
    lifecycle: list[LifecycleEvent] = field(default_factory=list)

    def evaluate(self, session: str, script: str) -> Any:
        """Run `script` in the session's page (on its driver loop)."""
        return self.pages.call_blocking(session, lambda live: live.page.evaluate(script), 10)

    def status(self, session: str) -> Any:
        return self.runtime.board.get(session)

    def wait(self, predicate: Any, timeout: float = 30.0) -> None:
        if not self.runtime.board.wait_for(lambda b: predicate(), timeout):
            seen = [(s.id, s.state, s.restarts_total, s.last_restart_reason)
                    for s in self.runtime.board.children()]
            raise AssertionError(f"timed out after {timeout}s: {seen}")

    def healthy(self, session: str, restarts_total: int | None = None) -> None:
        def ok() -> bool:
            s = self.status(session)
            return (s is not None and s.state == "healthy"
                    and (restarts_total is None or s.restarts_total == restarts_total))
        self.wait(ok)

    def sim_call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            self.sim.url + path, method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def push(self, session: str, body: str) -> None:
        self.sim_call("POST", f"/sim/{session}/messages", {"from": "alice", "body": body})

    def fault(self, session: str, mode: str, sticky: bool = False) -> None:
        self.sim_call("POST", f"/sim/{session}/fault", {"mode": mode, "sticky": sticky})

    def restarts(self, session: str) -> list[LifecycleEvent]:
        return [e for e in self.lifecycle
                if e.child == session and e.name == "restart_scheduled"]


def session_children(sim: SimulatorServer, state: Path, sessions: dict[str, Policy],
                     inbound: Recorder, gate: LaunchGate | None = None,
                     start_timeout: float = 60.0, per_driver: int = 16,
                     settings: Mapping[str, Mapping[str, Any]] | None = None,
                     pages: Pages | None = None) -> tuple[ChildSpec, ...]:
    """A memory sampler, then per shard of `per_driver` sessions a driver followed by its
    sessions: the tree `warden run` builds, with test-sized timings. `settings` overrides
    fields of a session's settings, by session id."""
    watch = MemoryWatch()
    own = [replace(SessionSettings(
        id=session, url=f"{sim.url}/chat/{session}", adapter=SimulatorAdapter,
        adapter_name="simulator", policy=policy, profile_dir=state / "profiles" / session,
        executable=CHROMIUM, args=DEFAULT_ARGS), **(settings or {}).get(session, {}))
        for session, policy in sessions.items()]
    children = fleet_children(own, inbound, per_driver=per_driver, gate=gate or LaunchGate(2),
                              memory=watch, pages=pages)
    return (MemorySampler.child_spec(watch, interval=0.5, pss_spacing=0.5), *(
        replace(c, liveness=replace(c.liveness, start_timeout=start_timeout))
        if c.kind == "session" else c for c in children))


@pytest.fixture
def make_harness(tmp_path: Path) -> Iterator[Any]:
    started: list[Harness] = []

    def make(sessions: dict[str, Policy], **child: Any) -> Harness:
        sim = SimulatorServer("127.0.0.1", 0)
        sim.start()
        inbound, pages = Recorder(), Pages()
        events = EventBus()
        spec = SupervisorSpec("sessions", session_children(sim, tmp_path, sessions, inbound,
                                                           pages=pages, **child), tick=0.1)
        runtime = Runtime(spec, events=events, board=StatusBoard())
        harness = Harness(sim, runtime, inbound, pages)
        events.subscribe(harness.lifecycle.append)
        started.append(harness)
        runtime.start()
        return harness

    yield make
    for harness in started:
        harness.runtime.stop()
        harness.sim.stop()


def browser_processes() -> list[psutil.Process]:
    """Live (not zombie) Chromium and Playwright-driver processes that are ours."""
    out = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.status() != psutil.STATUS_ZOMBIE:
                out.append(proc)
        except psutil.NoSuchProcess:
            pass
    return out


def renderers_of(pid: int) -> list[int]:
    """Every renderer of a browser: the page's is among them (which one is not exposed)."""
    found = [p.pid for p in psutil.Process(pid).children(recursive=True)
             if "--type=renderer" in p.cmdline()]
    assert found, "no renderer found"
    return found


def test_inbound_messages_are_accepted_in_order(make_harness: Any) -> None:
    h = make_harness({"acct-1": FAST})
    h.healthy("acct-1")
    for i in range(5):
        h.push("acct-1", f"hello {i}")
    h.wait(lambda: len(h.inbound.bodies("acct-1")) == 5)
    assert h.inbound.bodies("acct-1") == [f"hello {i}" for i in range(5)]
    assert h.sim_call("GET", "/sim/acct-1")["received"] == 5
    h.wait(lambda: h.status("acct-1").totals.get("events") == 5)  # as next published
    assert h.status("acct-1").details["browser_pid"] is not None


def test_messages_the_outbox_could_not_take_are_read_again_from_the_app_in_order(
        make_harness: Any) -> None:
    """The page confirmed them to the app's server as they arrived: the server never sends them
    again, so the app's store is where they are found once the outbox takes appends again."""
    h = make_harness({"acct-1": FAST})
    h.healthy("acct-1")
    h.push("acct-1", "before")
    h.wait(lambda: h.inbound.bodies("acct-1") == ["before"])
    h.inbound.refuse = True
    for i in range(5):
        h.push("acct-1", f"while refused {i}")
    # The first is refused as it comes; the others are held back behind it in the app's store
    # (one still in the mailbox would go in live, not recovered).
    h.wait(lambda: h.inbound.refused and h.status("acct-1").totals.get("held", 0) == 4)
    assert h.status("acct-1").details["reconcile_owed_since"] is not None
    h.inbound.refuse = False
    for i in range(3):  # in the store before the first of them is handled: none overtakes it
        h.push("acct-1", f"after {i}")
    h.wait(lambda: len(h.inbound.bodies("acct-1")) == 9)
    assert h.inbound.bodies("acct-1") == [
        "before", *(f"while refused {i}" for i in range(5)), *(f"after {i}" for i in range(3))]
    # Those after too, when they came while the retry was not due: they waited in the store.
    recovered = [d["body"] for d in h.inbound.of_type("acct-1", "message.received")
                 if d.get("recovered")]
    assert recovered[:5] == [f"while refused {i}" for i in range(5)] and len(recovered) <= 8
    (report,) = h.inbound.of_type("acct-1", "session.reconciled")
    assert report["recovered"] == len(recovered) and report["scanned"] >= 5
    h.wait(lambda: h.status("acct-1").totals.get("reconciled") == len(recovered)
           and h.status("acct-1").details["reconcile_owed_since"] is None)
    assert h.status("acct-1").restarts_total == 0


def test_silent_session_is_restarted_by_the_canary_and_loses_nothing(make_harness: Any) -> None:
    h = make_harness({"acct-1": FAST})
    h.healthy("acct-1")
    h.fault("acct-1", "silent")
    h.push("acct-1", "sent during the silence")
    h.wait(lambda: h.status("acct-1").restarts_total == 1)
    assert [e.reason for e in h.restarts("acct-1")] == ["canary"]
    h.healthy("acct-1")
    h.wait(lambda: "sent during the silence" in h.inbound.bodies("acct-1"))


def test_hung_page_is_killed_and_replaced_on_missed_heartbeats(make_harness: Any) -> None:
    h = make_harness({"acct-1": replace(FAST, canary=None)})
    h.healthy("acct-1")
    old_pid = h.status("acct-1").details["browser_pid"]
    h.fault("acct-1", "hang")
    h.wait(lambda: h.status("acct-1").restarts_total == 1)
    assert [e.reason for e in h.restarts("acct-1")] == ["heartbeat"]
    h.healthy("acct-1")
    assert not psutil.pid_exists(old_pid) or psutil.Process(old_pid).status() == "zombie"
    assert h.status("acct-1").details["browser_pid"] != old_pid
    assert h.status("acct-1").abandoned_threads == 0


@pytest.mark.parametrize("victim", ["main", "renderer"])
def test_kill_9_of_the_browser_is_a_crash(make_harness: Any, victim: str) -> None:
    h = make_harness({"acct-1": FAST})
    h.healthy("acct-1")
    pid = h.status("acct-1").details["browser_pid"]
    for target in [pid] if victim == "main" else renderers_of(pid):
        os.kill(target, signal.SIGKILL)
    h.wait(lambda: h.status("acct-1").restarts_total == 1, timeout=10)
    assert [e.reason for e in h.restarts("acct-1")] == ["crash"]
    h.healthy("acct-1")
    h.push("acct-1", "after the crash")
    h.wait(lambda: "after the crash" in h.inbound.bodies("acct-1"))


def test_leaking_page_is_restarted_over_its_memory_limit(make_harness: Any) -> None:
    policy = replace(FAST, canary=None, memory_limit=700 * 2**20)
    h = make_harness({"acct-1": policy})
    h.healthy("acct-1")
    h.wait(lambda: h.status("acct-1").details.get("memory_bytes") is not None)
    assert h.status("acct-1").details["memory_bytes"] < policy.memory_limit
    h.fault("acct-1", "leak")
    h.wait(lambda: h.status("acct-1").restarts_total == 1, timeout=60)
    assert [e.reason for e in h.restarts("acct-1")] == ["memory"]
    h.healthy("acct-1")


def test_logout_needs_an_operator_not_a_restart(make_harness: Any) -> None:
    h = make_harness({"acct-1": FAST})
    h.healthy("acct-1")
    h.fault("acct-1", "logout")
    h.wait(lambda: h.status("acct-1").state == "auth_required")
    assert [e.name for e in h.lifecycle if e.name == "auth_required"] == ["auth_required"]
    h.sim_call("POST", "/sim/acct-1/login")
    h.healthy("acct-1")
    h.push("acct-1", "back again")
    h.wait(lambda: "back again" in h.inbound.bodies("acct-1"))
    assert h.status("acct-1").restarts_total == 0
    assert h.restarts("acct-1") == []


def test_an_outage_of_the_app_spends_no_budget_and_every_session_comes_back(
        make_harness: Any) -> None:
    """The app's server goes away for longer than many canary periods; one browser even crashes
    meanwhile and its restart finds no app to load. Each waits `offline`, spending nothing,
    and is healthy again once the app is back."""
    h = make_harness({"acct-1": FAST, "acct-2": FAST})
    h.healthy("acct-1")
    h.healthy("acct-2")
    port = h.sim.port
    h.sim.stop()
    for session in ("acct-1", "acct-2"):
        h.wait(lambda s=session: h.status(s).state == "offline", timeout=30)
    os.kill(h.status("acct-2").details["browser_pid"], signal.SIGKILL)
    h.wait(lambda: h.status("acct-2").restarts_total == 1)
    h.wait(lambda: h.status("acct-2").state == "offline", timeout=30)  # restarted: no app
    threading.Event().wait(OUTAGE)  # the outage lasts this long: canaries would fail 8 times
    assert [h.status(s).state for s in ("acct-1", "acct-2")] == ["offline", "offline"]
    h.sim = SimulatorServer("127.0.0.1", port)
    h.sim.start()
    h.healthy("acct-1", restarts_total=0)
    h.healthy("acct-2", restarts_total=1)
    assert [e.reason for e in h.restarts("acct-2")] == ["crash"]  # the crash, nothing else
    assert h.status("acct-2").restarts == 1 and h.status("acct-1").restarts == 0
    offline = [e for e in h.lifecycle if e.name == "child_offline"]
    assert sorted(e.child for e in offline) == ["acct-1", "acct-2", "acct-2"]  # once an outage
    for session in ("acct-1", "acct-2"):
        h.push(session, "the app is back")
        h.wait(lambda s=session: "the app is back" in h.inbound.bodies(s))


def test_sticky_silence_exhausts_the_budget_while_a_sibling_keeps_receiving(
        make_harness: Any) -> None:
    h = make_harness({"acct-1": FAST, "acct-2": FAST})
    h.healthy("acct-1")
    h.healthy("acct-2")
    h.fault("acct-1", "silent", sticky=True)
    h.wait(lambda: h.status("acct-1").state == "failed", timeout=90)
    *restarts, cooldown = h.restarts("acct-1")
    assert [e.reason for e in restarts] == ["canary"] * 3
    assert [e.attempt for e in restarts] == [1, 2, 3]
    assert (cooldown.attempt, cooldown.delay) == (0, FAST.budget.cooldown)  # tried again later
    assert [e.name for e in h.lifecycle if e.child == "acct-1"].count("reached_max_restarts") == 1
    h.push("acct-2", "sibling still hears")
    h.wait(lambda: "sibling still hears" in h.inbound.bodies("acct-2"))
    assert h.status("acct-2").restarts_total == 0
    # A manual start begins a fresh budget once the cause is gone.
    h.fault("acct-1", "none")
    h.runtime.start_child("acct-1")
    h.healthy("acct-1")
    assert h.status("acct-1").restarts == 0


def test_quiet_session_with_a_passing_canary_is_never_restarted(make_harness: Any) -> None:
    h = make_harness({"acct-1": replace(FAST, activity_timeout=8.0)})
    h.healthy("acct-1")
    echoes: list[float] = []

    def more_echoes() -> bool:
        last = h.status("acct-1").details.get("last_canary")
        if last is not None and (not echoes or last != echoes[-1]):
            echoes.append(last)
        return len(echoes) >= 12

    h.wait(more_echoes, timeout=60)  # twelve canary periods: longer than the activity timeout
    assert h.status("acct-1").restarts_total == 0
    assert h.restarts("acct-1") == []


def test_twenty_restart_cycles_leave_no_process_thread_or_lock(make_harness: Any,
                                                               tmp_path: Path) -> None:
    threads_before = set(threading.enumerate())
    h = make_harness({"acct-1": FAST})
    h.healthy("acct-1")
    for _ in range(20):
        before = h.status("acct-1").restarts_total
        h.runtime.restart("acct-1")
        h.wait(lambda before=before: (s := h.status("acct-1")).state == "healthy"
               and s.restarts_total > before)
    assert len(browser_processes()) <= 12  # one browser tree and its driver
    h.runtime.stop()
    assert h.runtime.board.wait_for(
        lambda b: all(s.state == "stopped" for s in b.children()), 10)
    deadline = time.monotonic() + 10
    while browser_processes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert browser_processes() == []
    assert not (tmp_path / "profiles" / "acct-1" / "SingletonLock").is_symlink()
    h.sim.stop()
    leftover = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
    assert leftover == []


def test_a_session_queued_behind_other_launches_never_launches_once_given_up(
        make_harness: Any, tmp_path: Path) -> None:
    gate = LaunchGate(1)
    gate.acquire(Ticket())  # another launch holds the only slot
    once = replace(FAST, budget=replace(FAST.budget, max_restarts=0))
    h = make_harness({"acct-1": once}, gate=gate, start_timeout=1.0)
    h.wait(lambda: (s := h.status("acct-1")) is not None and s.state == "failed")
    assert [e.name for e in h.lifecycle if e.name == "reached_max_restarts"] == [
        "reached_max_restarts"]
    assert h.status("acct-1").abandoned_threads == 0  # its thread left the queue and ended
    gate.release()
    assert [p for p in browser_processes() if "run-driver" not in " ".join(p.cmdline())] == []


def test_a_backlog_of_messages_heartbeats_while_it_is_being_accepted(tmp_path: Path) -> None:
    """Thousands of redelivered messages may queue the probe's answer behind them; each accepted
    message may carry a heartbeat (at most one per interval), so the session is not killed."""
    from actors.adapters.base import InboundMessage
    from runtime import FakeClock, Scheduler
    from runtime.context import ChildContext
    from runtime.messages import Heartbeat

    clock = FakeClock()
    told: list[object] = []
    ctx = ChildContext("acct-1", 1, told.append, clock, Scheduler(clock))
    settings = SessionSettings(
        id="acct-1", url="http://127.0.0.1:1/chat/acct-1", adapter=SimulatorAdapter,
        adapter_name="simulator", policy=FAST, profile_dir=tmp_path / "p", executable=CHROMIUM,
        args=DEFAULT_ARGS)
    deps = SessionDeps(Recorder(), Shard("driver-1"), LaunchGate(1))
    session = BrowserSession(ctx, settings, deps)  # not started: no browser needed
    for i in range(10):
        assert session.accept(InboundMessage(f"m{i}", "alice", f"backlog {i}", 1.8e9))
        clock.advance(0.2)  # 10 messages over 2 s, heartbeat interval 0.5 s
    beats = [m for m in told if isinstance(m, Heartbeat)]
    assert 3 <= len(beats) <= 5
