"""Changes are what a new config asks of a running Warden: sessions to add, remove or restart,
and keys that only a restart of the process can change.

Pure functions of the running state and the new config. A session is changed when any of its
own settings differ (adapter, url, policy values, and what every session shares: the browser's
executable and arguments); a policy's name alone is not a setting.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from actors.session import SessionSettings
from runtime.yamlsource import Problem
from warden.config import Config

__all__ = ["FIXED_KEYS", "SessionChanges", "fixed_key_problems", "session_changes"]


@dataclass(frozen=True, slots=True)
class SessionChanges:
    """Sessions by what becomes of them, each list in config order (removed: running order)."""

    added: tuple[SessionSettings, ...]
    removed: tuple[str, ...]
    changed: tuple[SessionSettings, ...]
    unchanged: tuple[str, ...]

    @property
    def none(self) -> bool:
        return not (self.added or self.removed or self.changed)


def session_changes(running: Mapping[str, SessionSettings],
                    wanted: Sequence[SessionSettings]) -> SessionChanges:
    """What turns the sessions `running` (by id) into the sessions `wanted`."""
    ids = {s.id for s in wanted}
    return SessionChanges(
        added=tuple(s for s in wanted if s.id not in running),
        removed=tuple(i for i in running if i not in ids),
        changed=tuple(s for s in wanted if s.id in running and running[s.id] != s),
        unchanged=tuple(s.id for s in wanted if running.get(s.id) == s),
    )


def _listen(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True, slots=True)
class _Fixed:
    path: str
    value: Callable[[Config], object]
    shown: bool = True  # False for a secret: the message never prints it


# What the process holds from its start: the state directory (its lock, the outbox, profiles),
# sockets bound before anything started, and the front's own token and rules, which the front
# answering the reload checks.
FIXED_KEYS = (
    _Fixed("state_dir", lambda c: str(c.state_dir)),
    _Fixed("http.listen", lambda c: _listen(c.http.host, c.http.port)),
    _Fixed("http.token", lambda c: c.http.token, shown=False),
    _Fixed("http.metrics_public", lambda c: c.http.metrics_public),
    _Fixed("simulator.listen", lambda c: None if c.simulator is None
           else _listen(c.simulator.host, c.simulator.port)),
)


def fixed_key_problems(running: Config, new: Config) -> list[Problem]:
    """A located problem for each key `new` changes that cannot change while Warden runs."""
    problems = []
    for key in FIXED_KEYS:
        before, after = key.value(running), key.value(new)
        if before == after:
            continue
        shown = (f" (running: {_text(before)}; in the file: {_text(after)})" if key.shown
                 else "")
        problems.append(Problem(new.line(key.path), key.path,
                                f"cannot change while warden runs{shown}: restart warden "
                                "to apply it"))
    return problems


def _text(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
