"""The closed vocabularies shared by config, logs, metrics labels, the HTTP API and webhooks."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ChildState", "EventName", "OnExhausted", "Reason", "Restart", "Strategy"]


class Restart(StrEnum):
    """When a child that ended is started again (OTP's restart types)."""

    PERMANENT = "permanent"  # always
    TRANSIENT = "transient"  # only after an abnormal end
    TEMPORARY = "temporary"  # never


class Strategy(StrEnum):
    """Which siblings are restarted with a failed child (OTP's strategies)."""

    ONE_FOR_ONE = "one_for_one"
    REST_FOR_ONE = "rest_for_one"
    ONE_FOR_ALL = "one_for_all"


class OnExhausted(StrEnum):
    """What a supervisor does when a child has used its restart budget."""

    GIVE_UP = "give_up"  # the child stays `failed` for its cooldown, or until a manual start
    ESCALATE = "escalate"  # the supervisor itself fails; its parent decides


class Reason(StrEnum):
    """Why a child was restarted."""

    CRASH = "crash"
    HEARTBEAT = "heartbeat"
    CANARY = "canary"
    ACTIVITY = "activity"
    MEMORY = "memory"
    MANUAL = "manual"
    RELOAD = "reload"  # restarted with a new spec


class ChildState(StrEnum):
    """Where a child is in its life, as shown to operators."""

    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    RESTARTING = "restarting"
    BACKOFF = "backoff"
    AUTH_REQUIRED = "auth_required"
    OFFLINE = "offline"  # it cannot reach its app (network or app down)
    FAILED = "failed"
    STOPPED = "stopped"


class EventName(StrEnum):
    """Lifecycle events, as logged, counted and turned into webhooks."""

    CHILD_STARTED = "child_started"  # a new incarnation was started
    CHILD_HEALTHY = "child_healthy"  # first heartbeat of an incarnation
    CHILD_UNHEALTHY = "child_unhealthy"  # the child reported a non-fatal problem
    CHILD_EXITED = "child_exited"  # an incarnation ended by itself
    RESTART_SCHEDULED = "restart_scheduled"  # a restart was decided; backoff begins
    CHILD_RESTARTED = "child_restarted"  # the restart was carried out
    CHILD_RECOVERED = "child_recovered"  # healthy again after a restart
    CHILD_CLEARED = "child_cleared"  # a reported problem (unhealthy, auth, offline) cleared
    REACHED_MAX_RESTARTS = "reached_max_restarts"  # budget exhausted
    AUTH_REQUIRED = "auth_required"  # needs an operator, not a restart
    CHILD_OFFLINE = "child_offline"  # cannot reach its app; waits for it, not a restart
    CHILD_STOPPED = "child_stopped"  # stopped on request
    CHILD_KILLED = "child_killed"  # did not stop in time: its kill hooks ran
    CHILD_ABANDONED = "child_abandoned"  # its thread did not exit even after the kill
    SUPERVISOR_ESCALATED = "supervisor_escalated"  # gave up and failed upwards
