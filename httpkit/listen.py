"""A listen address is `HOST:PORT` (or `[V6]:PORT`); loopback ones need no token."""

from __future__ import annotations

import ipaddress
import re

__all__ = ["format_host", "is_loopback", "split_listen"]

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
