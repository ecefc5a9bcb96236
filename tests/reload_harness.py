"""A Warden run in this process on fake sessions, its config file rewritten between reloads.

Everything is real but the page work: the config loader, the tree and its supervisors, the
fleet's shards, the outbox, the front and the reload. A fake session's browser is a `sleep`
process (see `tests.fleet_fakes`).
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime import ChildState, ChildStatus
from tests.fleet_fakes import FakeFleet
from tests.helpers import WAIT, wait_until
from warden.config import load_config
from warden.main import Warden

__all__ = ["FleetRun", "Session", "free_port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    url: str = ""
    policy: str = "default"
    adapter: str = "simulator"


class FleetRun:
    """One in-process Warden over fake sessions; `write()` the file, `start()`, `reload()`."""

    def __init__(self, tmp: Path, fleet: FakeFleet | None = None) -> None:
        self.tmp = tmp
        self.state = tmp / "state"
        self.file = tmp / "supervisor.yaml"
        self.http = free_port()
        self.fleet = fleet or FakeFleet()
        self.warden: Warden | None = None

    def write(self, sessions: Sequence[Session | str], *, per_driver: int = 16,
              policies: str = "", webhook: str = "", webhooks: str = "",
              top: str = "") -> None:
        """The config file: `sessions` (ids or `Session`s), YAML text for the policies
        (indented under `policies:`), the webhook section's body (or the `webhooks:` list's)
        and further top keys."""
        lines = [f"state_dir: {self.state}", "http:", f"  listen: 127.0.0.1:{self.http}",
                 "browser:", f"  sessions_per_driver: {per_driver}"]
        # Nobody listens on port 9: events wait in the outbox (see test_reload_webhook.py).
        if webhooks:
            lines += ["webhooks:", webhooks.rstrip("\n")]
        else:
            lines += ["webhook:", webhook or "  url: http://127.0.0.1:9/webhook"]
        if policies:
            lines += ["policies:", policies.rstrip("\n")]
        lines.append("sessions:" if sessions else "sessions: []")
        for item in sessions:
            s = Session(item) if isinstance(item, str) else item
            url = s.url or f"http://127.0.0.1:9/chat/{s.id}"
            lines += [f"  - id: {s.id}", f"    url: {url}", f"    policy: {s.policy}",
                      f"    adapter: {s.adapter}"]
        self.file.write_text("\n".join(lines) + "\n" + top)

    def start(self) -> Warden:
        config = load_config(self.file)
        self.warden = Warden(config, "/usr/bin/chromium", fleet_specs=self.fleet.specs)
        self.warden.start()
        assert self.wait(lambda: self.board.get("sessions") is not None
                         and len(self.statuses()) == len(config.sessions)
                         and all(s.state is ChildState.HEALTHY for s in self.statuses()))
        return self.warden

    def stop(self) -> None:
        for gate in self.fleet.stop_gates.values():
            gate.set()
        if self.warden is not None:
            self.warden.stop()
            self.warden = None

    @property
    def board(self) -> Any:
        assert self.warden is not None
        return self.warden.board

    # --- reading the tree ----------------------------------------------------------------------

    def statuses(self) -> tuple[ChildStatus, ...]:
        return tuple(self.board.of_kind("session"))

    def sessions(self) -> list[str]:
        return [s.id for s in self.statuses()]

    def status(self, session_id: str) -> ChildStatus:
        status = self.board.get(session_id)
        assert status is not None, f"no {session_id} on the board"
        return status

    def pid(self, session_id: str) -> int:
        return int(self.status(session_id).details["browser_pid"])

    def pids(self) -> dict[str, int]:
        return {s.id: int(s.details["browser_pid"]) for s in self.statuses()
                if s.details.get("browser_pid") is not None}

    def drivers(self) -> dict[str, list[str]]:
        """Each driver on the board and the sessions that depend on it, in board order."""
        shards: dict[str, list[str]] = {}
        for status in self.board.children("sessions"):
            if status.kind == "driver":
                shards[status.id] = []
        assert self.warden is not None and self.warden.reloader is not None
        for shard, members in self.warden.reloader._fleet.shards().items():
            assert shard in shards, f"{shard} is in the fleet but not on the board"
            shards[shard] = list(members)
        return shards

    def wait(self, predicate: Any, timeout: float = WAIT) -> bool:
        return wait_until(predicate, timeout)

    def wait_state(self, session_id: str, state: ChildState) -> None:
        assert self.wait(lambda: (s := self.board.get(session_id)) is not None
                         and s.state is state), f"{session_id} never {state}: " \
                                                f"{self.board.get(session_id)}"

    # --- the front -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http}"

    def post(self, path: str, token: str = "", body: bytes = b"") -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        request = urllib.request.Request(self.url + path, data=body, method="POST",
                                         headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=2 * WAIT) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, json.loads(exc.read())

    def get(self, path: str, token: str = "") -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        request = urllib.request.Request(self.url + path, headers=headers)
        with urllib.request.urlopen(request, timeout=WAIT) as response:
            return json.loads(response.read())
