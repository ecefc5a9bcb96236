"""An incident is what a session looked like when its supervisor decided to restart it: a
screenshot of its page, the page's last console lines, its recent lifecycle events, its
processes' figures, and when it last heartbeat, saw activity and passed its canary.

What people reporting a stuck session are asked for is lost with the browser; this keeps it.
The recorder runs on the supervisor's reaper thread, before the browser is killed, and never
for long: the screenshot gets 2 s (a hung page gives none), the rest is read from memory and
/proc. Incidents are JSON files under `state_dir/incidents/<session>/`, the newest 20 kept.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

import psutil

from actors.ids import incident_id, is_incident_id
from actors.memory import anonymous_bytes, pss_bytes
from actors.pages import Pages
from actors.recent import RecentEvents
from actors.views import Board, event_json, iso
from runtime import Clock, FaultNote, MonotonicClock

__all__ = ["CAPTURE_TIMEOUT", "KEEP", "IncidentRecorder", "IncidentStore"]

logger = logging.getLogger(__name__)

CAPTURE_TIMEOUT = 2.0  # seconds a screenshot may take: a restart is never delayed longer
KEEP = 20  # incidents kept per session
EVENTS = 20  # lifecycle events of the session in an incident

class IncidentStore:
    """Incident files on disk; safe from any thread (each write is a rename)."""

    def __init__(self, root: Path, keep: int = KEEP) -> None:
        self.root = root
        self.keep = keep
        self._lock = threading.Lock()

    def save(self, incident: dict[str, Any], screenshot: bytes | None) -> None:
        folder = self.root / str(incident["session_id"])
        folder.mkdir(parents=True, exist_ok=True)
        name = str(incident["id"])
        with self._lock:
            if screenshot is not None:
                _write(folder / f"{name}.png", screenshot)
            _write(folder / f"{name}.json", json.dumps(incident, indent=1).encode())
            for old in sorted(folder.glob("inc_*.json"))[:-self.keep or None]:
                old.unlink(missing_ok=True)
                old.with_suffix(".png").unlink(missing_ok=True)

    def of_session(self, session_id: str) -> list[dict[str, Any]]:
        """The session's incidents, newest first."""
        folder = self.root / session_id
        if not folder.is_dir():
            return []
        found = []
        for path in sorted(folder.glob("inc_*.json"), reverse=True):
            loaded = _read(path)
            if loaded is not None:
                found.append(loaded)
        return found

    def get(self, incident: str) -> dict[str, Any] | None:
        path = self._find(incident, ".json")
        return None if path is None else _read(path)

    def screenshot(self, incident: str) -> bytes | None:
        path = self._find(incident, ".png")
        return None if path is None else path.read_bytes()

    def _find(self, incident: str, suffix: str) -> Path | None:
        """The file of `incident` (an id checked by the caller: no path can be built from it)."""
        if not is_incident_id(incident) or not self.root.is_dir():
            return None
        for folder in self.root.iterdir():
            path = folder / f"{incident}{suffix}"
            if path.is_file():
                return path
        return None


class IncidentRecorder:
    """Records the incident of a session's fault; its `record` is a session spec's `on_fault`."""

    def __init__(self, store: IncidentStore, pages: Pages, board: Board, events: RecentEvents,
                 clock: Clock | None = None) -> None:
        self.store = store
        self.pages = pages
        self.board = board
        self.events = events
        self.clock = clock or MonotonicClock()

    def record(self, note: FaultNote) -> None:
        started = time.monotonic()
        status = self.board.get(note.child_id)
        live = self.pages.get(note.child_id)
        screenshot = None
        if live is not None:
            try:  # the page's own loop, a strict deadline: a hung page gives no picture
                future = live.driver.submit(live.page.screenshot(type="png"), CAPTURE_TIMEOUT)
                screenshot = future.result(CAPTURE_TIMEOUT)
            except (FutureTimeout, Exception) as exc:
                logger.info("session %s: no screenshot for its incident: %r", note.child_id, exc)
        details = status.details if status is not None else {}
        incident = {
            "id": incident_id(note.fault_id),
            "session_id": note.child_id,
            "reason": str(note.reason),
            "detail": note.detail,
            "at": iso(self.clock.time()),
            "state_before": None if status is None else str(status.state),
            "screenshot": screenshot is not None,
            "console": list(live.console) if live is not None else [],
            "events": [event_json(e) for e in self.events.latest()
                       if e.child == note.child_id][:EVENTS],
            "process": _process([p.pid for p in live.tree.processes()] if live else []),
            "last_heartbeat": None if status is None else iso(status.last_heartbeat),
            "last_activity": None if status is None else iso(status.last_activity),
            "last_canary": iso(details.get("last_canary")),
            "capture_seconds": 0.0,
        }
        incident["capture_seconds"] = round(time.monotonic() - started, 3)
        try:
            self.store.save(incident, screenshot)
        except OSError as exc:
            logger.error("session %s: incident %s could not be written: %s", note.child_id,
                         incident["id"], exc)


def _process(pids: Sequence[int]) -> dict[str, Any]:
    cpu = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
            cpu += times.user + times.system
        except psutil.Error:
            continue
    return {"pids": list(pids), "rss_anon_bytes": anonymous_bytes(pids),
            "pss_bytes": pss_bytes(pids), "cpu_seconds": round(cpu, 2)}


def _write(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as f:
        f.write(data)
    os.replace(partial, path)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        loaded = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None
