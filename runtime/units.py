"""Units are durations (`250ms`, `5s`, `10m`, `2h`) and sizes (`500MiB`, `1GiB`) in config."""

from __future__ import annotations

import re

__all__ = ["format_duration", "parse_duration", "parse_size"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB|kB|KB|MB|GB|TB)\s*$")
_SIZE_UNITS = {
    "B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40,
    "kB": 10**3, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
}


def parse_duration(text: object) -> float:
    """Seconds in `text`; raises ValueError saying what a duration looks like."""
    if isinstance(text, bool) or not isinstance(text, str):
        hint = f" (did you mean '{text}s'?)" if isinstance(text, int | float) else ""
        raise ValueError(f"expected a duration such as 250ms, 5s, 10m or 2h, got {text!r}{hint}")
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"expected a duration such as 250ms, 5s, 10m or 2h, got {text!r}")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def parse_size(text: object) -> int:
    """Bytes in `text`; raises ValueError saying what a size looks like."""
    if isinstance(text, bool) or not isinstance(text, str):
        raise ValueError(f"expected a size such as 500MiB or 1GiB, got {text!r}")
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"expected a size such as 500MiB or 1GiB, got {text!r}")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])


def format_duration(seconds: float) -> str:
    for unit, size in (("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{round(seconds * 1000)}ms"
