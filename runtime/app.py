"""The runtime owns one supervision tree: its clock, scheduler, event bus and status board."""

from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import Future
from typing import Any

import pykka

from runtime.clock import Clock, MonotonicClock
from runtime.context import ChildContext
from runtime.events import EventBus
from runtime.membership import UnknownChild, UnknownSupervisor
from runtime.messages import (
    AddChild,
    ChildExited,
    Heartbeat,
    RemoveChild,
    ReplaceChild,
    RestartChild,
    StartChild,
    StopChild,
)
from runtime.scheduler import Scheduler
from runtime.spec import ChildSpec, SupervisorSpec
from runtime.status import StatusBoard
from runtime.supervisor import Supervisor

__all__ = ["Runtime"]

logger = logging.getLogger(__name__)


class Runtime:
    """Starts a root supervisor and tells when it ends: exit code 0 after a stop, 1 after a failure.

    Everything shared by the tree is built here and injected, so a test can pass a `FakeClock`.
    """

    def __init__(
        self,
        root: SupervisorSpec,
        *,
        clock: Clock | None = None,
        events: EventBus | None = None,
        board: StatusBoard | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.spec = root
        self.clock = clock or MonotonicClock()
        self.events = events or EventBus()
        self.board = board or StatusBoard()
        self.scheduler = Scheduler(self.clock)
        self._rng = rng
        self._done = threading.Event()
        self._lock = threading.Lock()
        self.exit_code: int | None = None
        self.failure: str = ""
        self.root: pykka.ActorRef[Any] | None = None
        self.root_context: ChildContext | None = None  # the root's thread and message count
        self.last_root_heartbeat: float | None = None

    def start(self) -> Runtime:
        if self.root is not None:
            raise RuntimeError(f"runtime {self.spec.id!r} already started")
        self.scheduler.start()
        ctx = ChildContext(self.spec.id, 1, self._hear_root, self.clock, self.scheduler)
        self.root_context = ctx
        self.root = Supervisor.start(ctx, self.spec, self.events, self.board, self._rng)
        return self

    def _hear_root(self, message: object) -> None:
        if isinstance(message, Heartbeat):  # the root beats on every tick
            self.last_root_heartbeat = self.clock.monotonic()
        elif isinstance(message, ChildExited):
            with self._lock:
                if self.exit_code is None:
                    self.exit_code = 1 if message.abnormal else 0
                    self.failure = message.error
            if message.abnormal:
                logger.error("root supervisor failed: %s", message.error)
            self._done.set()

    @property
    def running(self) -> bool:
        return self.root is not None and not self._done.is_set()

    def responsive(self, within: float) -> bool:
        """The root runs and has heartbeated in the last `within` seconds (its ticks answer)."""
        beat = self.last_root_heartbeat
        return self.running and beat is not None and self.clock.monotonic() - beat <= within

    def wait(self, timeout: float | None = None) -> int | None:
        """Block until the root supervisor ends; its exit code, or None on timeout."""
        self._done.wait(timeout)
        return self.exit_code

    def stop(self, timeout: float = 30.0) -> int:
        """Stop the whole tree in reverse order; the exit code (1 if the root had failed)."""
        if self.root is not None:
            deadline = time.monotonic() + timeout  # real time: this waits on threads
            try:
                self.root.stop(block=True, timeout=timeout)
            except pykka.ActorDeadError:
                pass
            except pykka.Timeout:
                logger.error("root supervisor did not stop within %.0fs", timeout)
            self._done.wait(max(0.0, deadline - time.monotonic()))
        self.scheduler.stop()
        with self._lock:
            if self.exit_code is None:
                self.exit_code = 0
            return self.exit_code

    # --- manual control, addressed by child id from any thread ---------------------------------

    def restart(self, child_id: str) -> bool:
        return self._tell(child_id, RestartChild(child_id))

    def stop_child(self, child_id: str) -> bool:
        return self._tell(child_id, StopChild(child_id))

    def start_child(self, child_id: str) -> bool:
        return self._tell(child_id, StartChild(child_id))

    def _tell(self, child_id: str, message: object) -> bool:
        ref = self.board.supervisor_of(child_id)
        if ref is None:
            return False
        try:
            ref.tell(message)
        except pykka.ActorDeadError:
            return False
        return True

    # --- changing the tree while it runs, from any thread ----------------------------------------

    def add_child(self, supervisor_id: str, spec: ChildSpec) -> Future[None]:
        """Add `spec` as the last child of supervisor `supervisor_id` and start it.

        The future is done once the child has started and shows on the board. Raises
        `UnknownSupervisor` if no such supervisor runs, `ValueError` if the id is taken (the
        future fails with one if `spec.depends_on` names no child of that supervisor).
        """
        ref = self.board.supervisor(supervisor_id)
        if ref is None:
            raise UnknownSupervisor(f"no supervisor {supervisor_id!r} is running")
        taken = self.board.get(spec.id)
        if taken is not None:
            raise ValueError(f"child id {spec.id!r} is taken (under {taken.supervisor!r})")
        return self._send(ref, AddChild(spec))

    def remove_child(self, child_id: str) -> Future[None]:
        """Stop `child_id` (reported as stopped) and forget it: it leaves the status board.

        The future is done once it is gone. Raises `UnknownChild` for an unknown id.
        """
        return self._send(self._supervisor_of(child_id), RemoveChild(child_id))

    def replace_child(self, spec: ChildSpec, *, keep_stopped: bool = False) -> Future[None]:
        """Restart the child `spec.id` from `spec` at once, with a fresh budget (reason `reload`).

        The future is done once it runs from `spec` (or was stopped first: it starts from `spec`
        when next started). With `keep_stopped`, a child an operator stopped is not started: it
        starts from `spec` when next started. Raises `UnknownChild` for an unknown id.
        """
        return self._send(self._supervisor_of(spec.id),
                          ReplaceChild(spec, keep_stopped=keep_stopped))

    def _supervisor_of(self, child_id: str) -> Any:
        ref = self.board.supervisor_of(child_id)
        if ref is None:
            raise UnknownChild(f"no supervisor has a child {child_id!r}")
        return ref

    def _send(self, ref: Any, change: AddChild | RemoveChild | ReplaceChild) -> Future[None]:
        try:
            ref.tell(change)
        except pykka.ActorDeadError:
            change.done.set_exception(UnknownSupervisor(f"the supervisor {ref} has stopped"))
        return change.done
