"""A reaper ends a batch of children on a thread of its own, then tells their supervisor.

Ending a child can take twice its shutdown timeout (ask, wait, kill, wait), so a supervisor
never does it on its own thread: it hands the incarnations over and hears `Terminated`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from runtime.messages import Terminated
from runtime.shutdown import Outcome, Victim, shut_down
from runtime.spec import FaultNote

__all__ = ["Reaper"]

logger = logging.getLogger(__name__)

# A victim, whether it is asked to stop first, and the fault that stops it (if any).
Reaped = tuple[Victim, bool, FaultNote | None]


class Reaper:
    """The reaper threads of one supervisor; `reap` is called on the supervisor's thread."""

    def __init__(self, owner: str, tell: Callable[[object], None]) -> None:
        self.owner = owner
        self.tell = tell  # into the supervisor's inbox, from the reaper thread
        self._threads: list[threading.Thread] = []

    def reap(self, batch: int, victims: Sequence[Reaped]) -> None:
        """End `victims` in the order given (asked first when their flag says so; their spec's
        `on_fault` hook hears the fault first), then report."""
        thread = threading.Thread(target=self._run, args=(batch, list(victims)), daemon=True,
                                  name=f"warden-reaper-{self.owner}-{batch}")
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()

    def _run(self, batch: int, victims: list[Reaped]) -> None:
        killed: list[str] = []
        abandoned: list[str] = []
        for (ref, ctx, spec), graceful, note in victims:
            if note is not None and spec.on_fault is not None:
                try:
                    spec.on_fault(note)
                except Exception:
                    logger.exception("the fault hook of %s failed", spec.id)
            outcome = shut_down(ref, ctx, spec, graceful=graceful)
            if outcome is Outcome.KILLED:
                killed.append(spec.id)
            elif outcome is Outcome.ABANDONED:
                abandoned.append(spec.id)
        self.tell(Terminated(batch, tuple(abandoned), tuple(killed)))

    def join(self) -> None:
        """Wait for every reaper; each ends within its children's shutdown timeouts."""
        for thread in self._threads:
            thread.join()
