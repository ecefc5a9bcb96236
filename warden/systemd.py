"""systemd notification: READY=1 once the tree runs, WATCHDOG=1 while the root runs.

The protocol is one datagram to $NOTIFY_SOCKET (sd_notify(3)); without that variable it is a no-op.
"""

from __future__ import annotations

import os
import socket

__all__ = ["notify", "watchdog_interval"]


def notify(state: str, environ: dict[str, str] | None = None) -> bool:
    """Send `state` (e.g. "READY=1") to systemd; False when not run by systemd."""
    env = os.environ if environ is None else environ
    address = env.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # an abstract socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        # Never block the runtime on its supervisor: a datagram send waits while the reader's
        # queue is full (10 datagrams by default), so a listener that stops reading would
        # freeze the main loop at the next watchdog ping.
        sock.setblocking(False)
        try:
            sock.connect(address)
            sock.send(state.encode())
        except OSError:
            return False
    return True


def watchdog_interval(environ: dict[str, str] | None = None) -> float | None:
    """Seconds between WATCHDOG=1 pings (half of WatchdogSec), or None when not asked for."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC")
    pid = env.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2_000_000
