"""Messages are the tiny immutable facts that children and operators tell a supervisor."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field

from runtime.spec import ChildSpec
from runtime.vocabulary import Reason

__all__ = [
    "Activity",
    "AddChild",
    "AuthRequired",
    "ChildExited",
    "CooldownOver",
    "Healthy",
    "Heartbeat",
    "Offline",
    "RemoveChild",
    "ReplaceChild",
    "RestartChild",
    "RestartDue",
    "StartChild",
    "StopChild",
    "Terminated",
    "Tick",
    "Unhealthy",
]


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """The child's thread and its resources answered a probe just now."""

    child_id: str
    incarnation: int


@dataclass(frozen=True, slots=True)
class Activity:
    """The child saw real inbound work (an event from the outside world)."""

    child_id: str
    incarnation: int


@dataclass(frozen=True, slots=True)
class Unhealthy:
    """The child found itself unwell; with `restart` it asks to be replaced."""

    child_id: str
    incarnation: int
    reason: Reason
    restart: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Healthy:
    """A problem the child reported (unhealthy, auth required, offline) has cleared."""

    child_id: str
    incarnation: int


@dataclass(frozen=True, slots=True)
class AuthRequired:
    """The child needs an operator (e.g. a login); a restart would not help."""

    child_id: str
    incarnation: int
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Offline:
    """The child cannot reach its app (network or app down); a restart would not help."""

    child_id: str
    incarnation: int
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ChildExited:
    """The child's actor ended: `abnormal` after an exception, else a plain stop."""

    child_id: str
    incarnation: int
    abnormal: bool
    error: str = ""


@dataclass(frozen=True, slots=True)
class Tick:
    """The supervisor's own periodic timer: check deadlines, publish status."""


@dataclass(frozen=True, slots=True)
class RestartDue:
    """A backoff delay ran out for the batch `batch`."""

    batch: int


@dataclass(frozen=True, slots=True)
class CooldownOver:
    """The cooldown of a child that failed as incarnation `incarnation` ran out."""

    child_id: str
    incarnation: int


@dataclass(frozen=True, slots=True)
class Terminated:
    """The reaper finished stopping the children of batch `batch`."""

    batch: int
    abandoned: tuple[str, ...] = ()
    killed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RestartChild:
    """Operator: restart this child now, with a fresh restart budget."""

    child_id: str


@dataclass(frozen=True, slots=True)
class StopChild:
    """Operator: stop this child and keep it stopped."""

    child_id: str


@dataclass(frozen=True, slots=True)
class StartChild:
    """Operator: start a stopped or failed child with a fresh restart budget."""

    child_id: str


@dataclass(frozen=True, slots=True)
class AddChild:
    """Operator: add a child after the others and start it; `done` is answered once it shows."""

    spec: ChildSpec
    done: Future[None] = field(default_factory=Future, compare=False)


@dataclass(frozen=True, slots=True)
class RemoveChild:
    """Operator: stop a child (reported as stopped) and forget it; `done` once it is gone."""

    child_id: str
    done: Future[None] = field(default_factory=Future, compare=False)


@dataclass(frozen=True, slots=True)
class ReplaceChild:
    """Operator: restart the child `spec.id` from `spec`, with a fresh budget (reason `reload`).

    `done` is answered once it runs from the new spec, or once a stop kept it down first. With
    `keep_stopped`, a child an operator stopped stays stopped and starts from `spec` when started.
    """

    spec: ChildSpec
    done: Future[None] = field(default_factory=Future, compare=False)
    keep_stopped: bool = False
