"""A listen address is `HOST:PORT` (or `[V6]:PORT`); loopback ones need no token."""

from __future__ import annotations

import ipaddress
import os
import re
import socket

__all__ = ["ListenError", "bind_listen", "format_host", "is_loopback", "split_listen"]

BACKLOG = 128


class ListenError(OSError):
    """The address cannot be listened on; the message names the address and the cause."""

_LISTEN = re.compile(r"(?:\[([^\]]+)\]|([^:\[\]]+)):(\d{1,5})")


def split_listen(text: str) -> tuple[str, int]:
    """`HOST:PORT` or `[V6]:PORT` into its parts; raises ValueError saying what is wrong."""
    match = _LISTEN.fullmatch(text.strip())
    if not match:
        raise ValueError(f"expected HOST:PORT such as 127.0.0.1:3001, got {text!r}")
    port = int(match.group(3))
    if port > 65535:
        raise ValueError(f"port {port} is out of range 0-65535")
    return match.group(1) or match.group(2), port


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def format_host(host: str) -> str:
    """`host` as it stands in a URL: IPv6 addresses in brackets."""
    return f"[{host}]" if ":" in host else host


def bind_listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host:port` (port 0: any free one), made before anything else
    starts so that a taken address fails at once. Raises ListenError saying which and why."""
    where = f"{format_host(host)}:{port}"
    try:
        family, _, _, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.create_server(address, family=family, backlog=BACKLOG)
    except OSError as exc:
        why = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ListenError(f"cannot listen on {where}: {why[:1].lower()}{why[1:]}") from None
    sock.setblocking(False)
    return sock
