"""Membership changes add, remove and replace the children of a running supervisor.

Each change arrives as a message carrying a future. The supervisor applies it on its own
thread and answers the future only once the change shows on the status board, so a caller
that waited can act on what it reads there (restart the child it added, say).
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any, Protocol

from runtime.messages import AddChild, RemoveChild, ReplaceChild
from runtime.policy import Fault, fresh_restart
from runtime.restarts import Restarts
from runtime.roster import Roster
from runtime.spec import ChildSpec
from runtime.status import StatusBoard
from runtime.vocabulary import ChildState, Reason

__all__ = ["Membership", "UnknownChild", "UnknownSupervisor"]

_DOWN = (ChildState.STOPPED, ChildState.FAILED)


class UnknownChild(LookupError):
    """No running supervisor has a child of that id (or it is being removed)."""


class UnknownSupervisor(LookupError):
    """No supervisor of that id is running."""


class _Inbox(Protocol):
    def empty(self) -> bool: ...
    def get(self) -> Any: ...
    def put(self, item: Any) -> None: ...


# What a change's future is answered with once the board shows it: None, or the error.
_Answer = tuple["Future[None]", BaseException | None]


class Membership:
    """The changes to one supervisor's children under way, and the answers they are owed."""

    def __init__(self, owner: str, roster: Roster, restarts: Restarts, board: StatusBoard) -> None:
        self.owner = owner
        self.roster = roster
        self.restarts = restarts
        self.board = board
        self._removals: dict[str, list[Future[None]]] = {}
        self._reloads: list[tuple[str, int, Future[None]]] = []  # child, incarnation at request
        self._answers: list[_Answer] = []

    def removing(self, child_id: str) -> bool:
        return child_id in self._removals

    @property
    def pending(self) -> bool:
        return bool(self._removals or self._reloads or self._answers)

    # --- the changes -----------------------------------------------------------------------------

    def change(self, message: AddChild | RemoveChild | ReplaceChild, now: float) -> None:
        """Begin the change `message` asks for; its answer is owed from now on."""
        match message:
            case AddChild(spec=spec, done=done):
                self.add(spec, done, now)
            case RemoveChild(child_id=child_id, done=done):
                self.remove(child_id, done)
            case ReplaceChild(spec=spec, done=done, keep_stopped=keep_stopped):
                self.reload(spec, done, now, keep_stopped=keep_stopped)

    def add(self, spec: ChildSpec, done: Future[None], now: float) -> None:
        """Start `spec` as the last child."""
        if not done.set_running_or_notify_cancel():
            return  # the caller cancelled it before it was read
        if spec.id in self.roster:
            error = ValueError(f"supervisor {self.owner!r} already has a child {spec.id!r}")
            self._answers.append((done, error))
            return
        if spec.depends_on is not None and (spec.depends_on not in self.roster
                                            or self.removing(spec.depends_on)):
            error = ValueError(f"{spec.id} depends on {spec.depends_on!r}, which supervisor "
                               f"{self.owner!r} does not have")
            self._answers.append((done, error))
            return
        self.restarts.start(self.roster.add(spec), now)
        self._answers.append((done, None))

    def remove(self, child_id: str, done: Future[None]) -> None:
        """Stop `child_id` for good; it is forgotten once it is down."""
        if not done.set_running_or_notify_cancel():
            return
        child = self.roster.get(child_id)
        if child is None:
            self._answers.append((done, self._unknown(child_id)))
            return
        self._removals.setdefault(child_id, []).append(done)
        child.stop_requested()
        self.restarts.keep_down(child)

    def reload(self, spec: ChildSpec, done: Future[None], now: float, *,
               keep_stopped: bool = False) -> None:
        """Restart the child `spec.id` from `spec` at once, its budget fresh; with
        `keep_stopped`, a stopped child only takes `spec` for its next start."""
        if not done.set_running_or_notify_cancel():
            return
        child = self.roster.get(spec.id)
        if child is None or self.removing(spec.id):
            self._answers.append((done, self._unknown(spec.id)))
            return
        child.respecified(spec)
        if keep_stopped and child.state is ChildState.STOPPED:
            self._answers.append((done, None))
            return
        self._reloads.append((spec.id, child.incarnation, done))
        fault = Fault(child.incarnation, Reason.RELOAD)
        view = self.roster.view(child)
        self.restarts.carry_out(child, fault, fresh_restart(view, self.roster.views()), now)

    # --- after each message ----------------------------------------------------------------------

    def settle(self) -> bool:
        """Forget removed children that are down, find changes done; True if answers are due.

        The caller publishes the board and then calls `answer`.
        """
        for child_id in [i for i, _ in self._removals.items() if self.roster[i].state in _DOWN]:
            self.restarts.forget(self.roster[child_id])
            self.roster.remove(child_id)
            self.board.forget(child_id)  # if it was a supervisor, its own children go with it
            self._answers.extend((done, None) for done in self._removals.pop(child_id))
        reloading = []
        for child_id, incarnation, done in self._reloads:
            child = self.roster.get(child_id)
            if child is None:
                self._answers.append((done, self._unknown(child_id)))
            elif child.incarnation > incarnation or child.state is ChildState.STOPPED:
                self._answers.append((done, None))
            else:
                reloading.append((child_id, incarnation, done))
        self._reloads = reloading
        return bool(self._answers)

    def answer(self) -> None:
        answers, self._answers = self._answers, []
        for done, error in answers:
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)

    def refuse_all(self, inbox: _Inbox) -> None:
        """The supervisor stops: answer every change under way or still queued with an error."""
        error = RuntimeError(f"supervisor {self.owner!r} stopped before the change was made")
        owed = [done for dones in self._removals.values() for done in dones]
        owed += [done for _, _, done in self._reloads]
        self._removals, self._reloads = {}, []
        kept = []
        while not inbox.empty():
            envelope = inbox.get()
            message = getattr(envelope, "message", None)  # pykka wraps each message
            if isinstance(message, AddChild | RemoveChild | ReplaceChild):
                if message.done.set_running_or_notify_cancel():
                    owed.append(message.done)
            else:
                kept.append(envelope)  # pykka answers the asks among them itself
        for envelope in kept:
            inbox.put(envelope)
        self.answer()
        for done in owed:
            done.set_exception(error)

    def _unknown(self, child_id: str) -> UnknownChild:
        return UnknownChild(f"supervisor {self.owner!r} has no child {child_id!r}")
