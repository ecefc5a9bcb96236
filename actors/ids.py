"""A session id names one account everywhere: config, API paths, profiles, metrics, webhooks."""

from __future__ import annotations

import re

__all__ = ["SESSION_ID_RULE", "is_session_id"]

SESSION_ID_RULE = "1-64 of A-Z a-z 0-9 _ -"
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def is_session_id(text: str) -> bool:
    """Whether `text` is a valid session id (whole match: `$` would let a final newline in)."""
    return _SESSION_ID.fullmatch(text) is not None
