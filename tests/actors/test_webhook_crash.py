"""After kill -9 of the runtime at any moment, a restart delivers every accepted event.

A subprocess floods the outbox while delivering and prints each id once `append()` returned;
it is SIGKILLed mid-flood (twice, the second time while it is also working off the backlog
the first one left), then a fresh subprocess on the same state_dir only delivers. The receiver
must have every printed id, each session's seq without a gap, and any duplicate must carry
the same webhook-id and the same bytes.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from tests.actors.webhook_flood import SECRET
from tests.actors.webhook_receiver import Receiver, Reply

HELPER = Path(__file__).with_name("webhook_flood.py")


class Flood:
    """One helper subprocess, its stdout read line by line on a thread."""

    def __init__(self, state_dir: Path, url: str, mode: str) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen([sys.executable, str(HELPER), str(state_dir), url, mode],
                                     stdout=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._read, name="flood-stdout")
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.endswith("\n"):  # a line cut by the kill was never fully printed
                with self._cond:
                    self.lines.append(line.strip())
                    self._cond.notify_all()

    def wait_lines(self, count: int, timeout: float = 30.0) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.lines) >= count, timeout), self.lines[-3:]

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.finish()

    def finish(self, timeout: float = 60.0) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(timeout)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return code

    def accepted(self) -> list[tuple[str, str, int]]:
        return [(f[1], f[2], int(f[3])) for f in (line.split() for line in self.lines)
                if len(f) == 4 and f[0] == "accepted"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(default=Reply(204, delay=0.001))  # slower than the flood: a backlog builds
    yield r
    r.close()


def test_kill_9_mid_flood_loses_no_accepted_event(tmp_path: Path, receiver: Receiver) -> None:
    rng = random.Random()
    accepted: list[tuple[str, str, int]] = []
    for _ in range(2):
        flood = Flood(tmp_path, receiver.url, "flood")
        try:
            flood.wait_lines(rng.randint(100, 600))
            delivered_before = len(receiver.delivered())
            assert receiver.wait_for(lambda r, n=delivered_before: len(r.delivered()) > n)
        finally:
            flood.kill()
        accepted += flood.accepted()

    final = Flood(tmp_path, receiver.url, "deliver")
    assert final.finish() == 0, final.lines
    assert final.lines == ["drained"]

    received = receiver.delivered()
    by_id: dict[str, set[bytes]] = defaultdict(set)
    for request in received:
        Webhook(SECRET).verify(request.body, dict(request.headers), json_parse=False)
        assert request.headers["webhook-id"] == request.event["id"]
        by_id[request.event["id"]].add(request.body)
    assert all(len(bodies) == 1 for bodies in by_id.values())  # a duplicate is the same event
    missing = [event_id for event_id, _, _ in accepted if event_id not in by_id]
    assert not missing, f"{len(missing)} of {len(accepted)} accepted events never arrived"

    seqs: dict[str, set[int]] = defaultdict(set)
    for request in received:
        seqs[request.event["session_id"]].add(request.event["seq"])
    for session, got in seqs.items():
        assert got == set(range(1, max(got) + 1)), f"gap in {session}"
    for event_id, session, seq in accepted:
        assert seq in seqs[session], event_id

