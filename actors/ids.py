"""Ids: a session id names one account everywhere (config, API paths, profiles, metrics,
webhooks); an incident id names what a session looked like at one restart decision."""

from __future__ import annotations

import re

__all__ = ["SESSION_ID_RULE", "incident_id", "is_incident_id", "is_session_id"]

SESSION_ID_RULE = "1-64 of A-Z a-z 0-9 _ -"
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_INCIDENT_ID = re.compile(r"inc_[0-9a-f]{12,32}")


def is_session_id(text: str) -> bool:
    """Whether `text` is a valid session id (whole match: `$` would let a final newline in)."""
    return _SESSION_ID.fullmatch(text) is not None


def incident_id(fault_id: str) -> str:
    """The incident of a restart decision (`FaultNote.fault_id`): sorts by time, as it does."""
    return f"inc_{fault_id}"


def is_incident_id(text: str) -> bool:
    """Whether `text` can name an incident (nothing else: no path can be built from it)."""
    return _INCIDENT_ID.fullmatch(text) is not None
