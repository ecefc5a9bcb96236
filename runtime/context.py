"""A child context is one incarnation's line to its supervisor and the supervisor's handle on it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from runtime.clock import Clock
from runtime.messages import (
    Activity,
    AuthRequired,
    ChildExited,
    Healthy,
    Heartbeat,
    Offline,
    Unhealthy,
)
from runtime.scheduler import Scheduler
from runtime.vocabulary import Reason

__all__ = ["ChildContext"]

logger = logging.getLogger(__name__)


class ChildContext:
    """Given to a child when it starts. Every method is safe from any thread.

    The child reports through it (heartbeat, activity, health, its end); the supervisor and
    its reaper use it to see the child's thread and to run its kill hooks.
    """

    def __init__(
        self,
        child_id: str,
        incarnation: int,
        notify: Callable[[object], None],
        clock: Clock,
        scheduler: Scheduler,
    ) -> None:
        self.child_id = child_id
        self.incarnation = incarnation
        self.clock = clock
        self.scheduler = scheduler
        self._notify = notify
        self._lock = threading.Lock()
        self._exited = False
        self._kill_hooks: list[Callable[[], object]] = []
        self._details: MappingProxyType[str, Any] = MappingProxyType({})
        self.thread: threading.Thread | None = None
        self._counts: dict[str, int] = {}
        self._counted: Mapping[str, int] | None = MappingProxyType({})  # None: counts changed

    # --- reports, from the child -------------------------------------------------------------

    def heartbeat(self) -> None:
        self._tell(Heartbeat(self.child_id, self.incarnation))

    def activity(self) -> None:
        self._tell(Activity(self.child_id, self.incarnation))

    def unhealthy(self, reason: Reason, *, restart: bool, detail: str = "") -> None:
        self._tell(Unhealthy(self.child_id, self.incarnation, reason, restart, detail))

    def healthy(self) -> None:
        self._tell(Healthy(self.child_id, self.incarnation))

    def auth_required(self, detail: str = "") -> None:
        self._tell(AuthRequired(self.child_id, self.incarnation, detail))

    def offline(self, detail: str = "") -> None:
        """It cannot reach its app; `healthy()` once it can. Spends no restart budget."""
        self._tell(Offline(self.child_id, self.incarnation, detail))

    def exited(self, *, abnormal: bool, error: str = "") -> None:
        """Report the end of this incarnation; only the first report counts."""
        with self._lock:
            if self._exited:
                return
            self._exited = True
        self._tell(ChildExited(self.child_id, self.incarnation, abnormal, error))

    @property
    def has_exited(self) -> bool:
        return self._exited

    def publish(self, **details: Any) -> None:
        """Merge `details` (e.g. a browser pid, memory) into what the status board shows."""
        with self._lock:
            self._details = MappingProxyType({**self._details, **details})

    @property
    def details(self) -> MappingProxyType[str, Any]:
        return self._details

    def count(self, name: str, n: int = 1) -> None:
        """Add `n` to this incarnation's count of `name` (messages handled, events seen...).

        The supervisor banks an incarnation's counts when it ends, so the totals it shows
        never go back when the child restarts.
        """
        with self._lock:
            self._counts[name] = self._counts.get(name, 0) + n
            self._counted = None

    @property
    def counts(self) -> Mapping[str, int]:
        """This incarnation's counts as they are now: the same object until one changes."""
        counted = self._counted
        if counted is None:
            with self._lock:
                counted = self._counted = MappingProxyType(dict(self._counts))
        return counted

    @property
    def messages(self) -> int:
        """Messages this incarnation's actor has handled (its count of `messages`)."""
        return self._counts.get("messages", 0)

    # --- freeing a hung child, from the supervisor's side ---------------------------------------

    def add_kill_hook(self, hook: Callable[[], object]) -> Callable[[], None]:
        """Register `hook` to free this child from outside its thread; returns a remover."""
        with self._lock:
            self._kill_hooks.append(hook)

        def remove() -> None:
            with self._lock:
                if hook in self._kill_hooks:
                    self._kill_hooks.remove(hook)

        return remove

    def kill(self) -> None:
        """Run every kill hook; one that fails is logged and the rest still run."""
        with self._lock:
            hooks = list(self._kill_hooks)
        for hook in hooks:
            try:
                hook()
            except Exception:
                logger.exception("kill hook %r of %s failed", hook, self.child_id)

    def _tell(self, message: object) -> None:
        try:
            self._notify(message)
        except Exception:  # the supervisor is gone: nobody is listening any more
            logger.debug("no supervisor for %s to hear %r", self.child_id, message)
