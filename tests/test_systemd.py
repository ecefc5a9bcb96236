"""systemd notifications reach a real datagram socket, and are skipped without one."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from warden import systemd


def test_notify_sends_the_state_to_notify_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        server.settimeout(5)
        assert systemd.notify("READY=1", {"NOTIFY_SOCKET": path})
        assert server.recv(100) == b"READY=1"


def test_notify_never_blocks_on_a_listener_that_stopped_reading(tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        sent = [systemd.notify("WATCHDOG=1", {"NOTIFY_SOCKET": path}) for _ in range(50)]
    assert sent[0] is True
    assert sent[-1] is False  # the queue is full: dropped, not waited for


def test_notify_without_systemd_is_a_no_op() -> None:
    assert systemd.notify("READY=1", {}) is False
    assert systemd.notify("READY=1", {"NOTIFY_SOCKET": "/nonexistent/sock"}) is False


def test_watchdog_interval_is_half_of_watchdog_usec_for_this_process() -> None:
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert systemd.watchdog_interval(
        {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}) == 15.0
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert systemd.watchdog_interval({}) is None
