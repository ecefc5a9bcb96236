"""A fault injector hits a running Warden with one random fault every few seconds and writes down
what it did, when, and to which session, so the soak can hold the runtime to account.

Faults come from a shuffled deck (every kind once per round, order from a seeded RNG) so that
even a short soak sees each kind. A session fault only goes to a session that is healthy and
has shown the restart of its previous fault; the runtime kill keeps a minimum gap.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import psutil

from tests.soak.processes import Http, WardenProcess, browsers, wait_for
from tests.soak.receiver import Down, WebhookReceiver

__all__ = ["EXPECTED_REASON", "Fault", "Injection", "Injector", "Pacing"]


class Fault(StrEnum):
    SILENT = "silent"  # simulator: the socket stays open, nothing arrives
    HANG = "hang"  # simulator: the page's JS busy-loops
    LEAK = "leak"  # simulator: the page grows memory fast
    BROWSER_KILL = "browser_kill"  # kill -9 of the browser's main process
    RENDERER_KILL = "renderer_kill"  # kill -9 of every renderer of the browser
    LOGOUT = "logout"  # simulator: login screen, then login again a few seconds later
    MANUAL = "manual"  # POST /sessions/{id}/restart
    RECEIVER_DOWN = "receiver_down"  # the webhook receiver refuses or answers 503 for a while
    RUNTIME_KILL = "runtime_kill"  # kill -9 of `warden run`'s process group, then start it again


# The restart reason each session fault must lead to; the others spend no restart.
EXPECTED_REASON = {
    Fault.SILENT: "canary",
    Fault.HANG: "heartbeat",
    Fault.LEAK: "memory",
    Fault.BROWSER_KILL: "crash",
    Fault.RENDERER_KILL: "crash",
    Fault.MANUAL: "manual",
}
SESSION_FAULTS = frozenset({*EXPECTED_REASON, Fault.LOGOUT})


@dataclass(slots=True)
class Injection:
    """One injected fault; `until` is set when a fault with a duration ends."""

    at: float  # wall seconds, taken just before the fault was applied
    fault: Fault
    session: str | None
    detail: str = ""
    until: float | None = None


@dataclass(frozen=True, slots=True)
class Pacing:
    gap: tuple[float, float] = (2.5, 6.0)  # seconds between two faults
    logout: tuple[float, float] = (3.0, 8.0)  # how long a session stays logged out
    receiver_down: tuple[float, float] = (3.0, 10.0)
    runtime_down: tuple[float, float] = (0.0, 2.0)  # between the kill and the new start
    runtime_kill_gap: float = 40.0  # at least this long between two runtime kills
    watch: float = 90.0  # a session fault not followed by a restart frees its session after this


@dataclass(slots=True)
class _Watch:
    restarts_total: int
    incarnation: int
    until: float


@dataclass(slots=True)
class _Undo:
    due: float
    action: Callable[[], None]
    injection: Injection


@dataclass
class Injector:
    rng: random.Random
    sessions: tuple[str, ...]
    sim: Http
    warden: WardenProcess
    receiver: WebhookReceiver
    profiles: Path
    pacing: Pacing = field(default_factory=Pacing)
    log: Callable[[str], None] = print
    injections: list[Injection] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    _deck: list[Fault] = field(default_factory=list)
    _undo: list[_Undo] = field(default_factory=list)
    _watch: dict[str, _Watch] = field(default_factory=dict)
    _logged_out: set[str] = field(default_factory=set)
    _last_runtime_kill: float = 0.0
    _t0: float = field(default_factory=time.time)

    def run(self, seconds: float) -> None:
        """Inject faults for `seconds`; faults with a duration may still be on at the end."""
        end = time.monotonic() + seconds
        next_fault = time.monotonic() + self.rng.uniform(*self.pacing.gap)
        while (now := time.monotonic()) < end:
            self._run_due_undos()
            if now >= next_fault:
                next_fault = now + (self.rng.uniform(*self.pacing.gap) if self._inject_one()
                                    else 1.0)
            wake = min([next_fault, end, *(u.due for u in self._undo)])
            time.sleep(max(0.0, min(wake - time.monotonic(), 1.0)))  # pacing, not a wait

    def finish(self, timeout: float) -> None:
        """Let every session fault show its restart (or its watch run out), then end them all:
        clearing a fault the runtime has not caught yet would hide it."""
        wait_for(lambda: self._refresh() is not None and not self._watch, timeout, 0.5)
        self.clear()

    def clear(self) -> None:
        """End every fault: receiver up, sessions logged in, faults off."""
        for undo in self._undo:
            undo.action()
        self._undo.clear()
        self.receiver.come_up()
        for session in self.sessions:
            self.sim.post(f"/sim/{session}/fault", {"mode": "none"})
            self.sim.post(f"/sim/{session}/login")

    # --- choosing -----------------------------------------------------------------------------

    def _inject_one(self) -> bool:
        """Inject the first fault of the deck that can go now. A card held back (the runtime
        kill's gap, the receiver already down) lets the next round's cards be dealt behind it
        rather than stall the deck."""
        free = self._free_sessions()
        for _ in range(2):
            for i, fault in enumerate(self._deck):
                if self._can_inject(fault, free):
                    del self._deck[i]
                    self._inject(fault,
                                 self.rng.choice(free) if fault in SESSION_FAULTS else None)
                    return True
            if len(self._deck) >= len(Fault):
                return False
            round_ = list(Fault)
            self.rng.shuffle(round_)
            self._deck += round_
        return False

    def _can_inject(self, fault: Fault, free: list[str]) -> bool:
        if fault in SESSION_FAULTS:
            return bool(free)
        if fault is Fault.RECEIVER_DOWN:
            return self.receiver.down is None
        return (not self._watch  # a kill now would swallow a fault still to be caught
                and time.monotonic() - self._last_runtime_kill >= self.pacing.runtime_kill_gap)

    def _refresh(self) -> list[dict[str, Any]] | None:
        """The sessions as the runtime shows them; ends the watches their restarts resolved."""
        answer = self.warden.api.get("/sessions")
        if not answer:
            return None
        now, incarnation = time.monotonic(), len(self.warden.incarnations)
        sessions: list[dict[str, Any]] = answer["sessions"]
        for s in sessions:
            watch = self._watch.get(s["id"])
            if watch is not None and (s["restarts_total"] > watch.restarts_total
                                      or incarnation != watch.incarnation or now > watch.until):
                del self._watch[s["id"]]
        return sessions

    def _free_sessions(self) -> list[str]:
        return sorted(s["id"] for s in self._refresh() or ()
                      if s["state"] == "healthy" and s["id"] not in self._watch
                      and s["id"] not in self._logged_out)

    # --- injecting ----------------------------------------------------------------------------

    def _inject(self, fault: Fault, session: str | None) -> None:
        if session is not None and fault is not Fault.LOGOUT:
            status = self.warden.api.get(f"/sessions/{session}") or {}
            self._watch[session] = _Watch(int(status.get("restarts_total", 0)),
                                          len(self.warden.incarnations),
                                          time.monotonic() + self.pacing.watch)
        injection = Injection(time.time(), fault, session)
        applied = True
        match fault:
            case Fault.SILENT | Fault.HANG | Fault.LEAK:
                applied = self.sim.post(f"/sim/{session}/fault", {"mode": str(fault)}) == 200
            case Fault.BROWSER_KILL | Fault.RENDERER_KILL:
                applied, injection.detail = self._kill_browser(session, fault)
            case Fault.MANUAL:
                status = self.warden.api.post(f"/sessions/{session}/restart")
                applied, injection.detail = status == 202, f"HTTP {status}"
            case Fault.LOGOUT:
                self._logout(injection)
            case Fault.RECEIVER_DOWN:
                self._receiver_down(injection)
            case Fault.RUNTIME_KILL:
                self._kill_runtime(injection)
        where = f" {session}" if session else ""
        line = f"[{injection.at - self._t0:7.1f}s] {fault}{where} {injection.detail}".rstrip()
        if applied:
            self.injections.append(injection)
        else:  # not the runtime's doing: nothing to hold it to
            self._watch.pop(session or "", None)
            line += " (not applied)"
        self.log(line)

    def _kill_browser(self, session: str | None, fault: Fault) -> tuple[bool, str]:
        """kill -9 of the session's browser (or of its renderers); only ever of a process
        that uses one of the soak's profiles."""
        status = self.warden.api.get(f"/sessions/{session}") or {}
        pid = status.get("browser_pid")
        mine = {p.pid: p for p in browsers(self.profiles)}
        if pid not in mine:
            return False, f"no browser of ours at pid {pid}"
        main = mine[pid]
        try:
            if fault is Fault.BROWSER_KILL:
                main.kill()
                return True, f"pid {pid}"
            renderers = [p for p in main.children(recursive=True)
                         if "--type=renderer" in p.cmdline()]
            for renderer in renderers:
                renderer.kill()
            return bool(renderers), f"{len(renderers)} renderers of pid {pid}"
        except psutil.Error as exc:
            return False, f"pid {pid}: {exc!r}"

    def _logout(self, injection: Injection) -> None:
        session = injection.session
        assert session is not None
        self.sim.post(f"/sim/{session}/fault", {"mode": "logout"})
        self._logged_out.add(session)

        def login() -> None:
            self.sim.post(f"/sim/{session}/login")
            self._logged_out.discard(session)
            injection.until = time.time()

        self._later(self.rng.uniform(*self.pacing.logout), login, injection)

    def _receiver_down(self, injection: Injection) -> None:
        how = self.rng.choice(list(Down))
        injection.detail = str(how)
        self.receiver.go_down(how)

        def up() -> None:
            self.receiver.come_up()
            injection.until = time.time()

        self._later(self.rng.uniform(*self.pacing.receiver_down), up, injection)

    def _kill_runtime(self, injection: Injection) -> None:
        self._last_runtime_kill = time.monotonic()
        self.warden.kill()
        orphans = browsers(self.profiles)
        time.sleep(self.rng.uniform(*self.pacing.runtime_down))  # the runtime stays down a while
        alive = sum(map(_alive, orphans))
        injection.detail = (f"{len(orphans)} browser processes orphaned, {alive} still alive "
                            f"at the next start")
        self.warden.start()
        injection.until = time.time()
        if not wait_for(lambda: not any(_alive(p) for p in orphans), 60.0):
            left = [p.pid for p in orphans if _alive(p)]
            self.problems.append(f"runtime restart left orphaned browsers alive: {left}")

    def _later(self, delay: float, action: Callable[[], None], injection: Injection) -> None:
        self._undo.append(_Undo(time.monotonic() + delay, action, injection))

    def _run_due_undos(self) -> None:
        now = time.monotonic()
        due = [u for u in self._undo if u.due <= now]
        self._undo = [u for u in self._undo if u.due > now]
        for undo in due:
            undo.action()


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
