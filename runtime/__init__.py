"""Warden's supervision machinery on pykka: supervisors, restart policy, timers, status.

It knows nothing of browsers, webhooks or HTTP; `actors/` builds on it.
"""

from runtime.app import Runtime
from runtime.backoff import Backoff, backoff_delay
from runtime.child import SupervisedActor
from runtime.clock import Clock, FakeClock, MonotonicClock
from runtime.context import ChildContext
from runtime.events import EventBus, LifecycleEvent
from runtime.intensity import RestartBudget, RestartDecision, decide_restart, in_window
from runtime.loop_thread import LoopThread
from runtime.membership import UnknownChild, UnknownSupervisor
from runtime.scheduler import Scheduler, Timer
from runtime.spec import ChildSpec, FaultNote, Liveness, SupervisorSpec
from runtime.status import ChildStatus, StatusBoard
from runtime.supervisor import Escalation, Supervisor
from runtime.vocabulary import ChildState, EventName, OnExhausted, Reason, Restart, Strategy

__all__ = [
    "Backoff",
    "ChildContext",
    "ChildSpec",
    "ChildState",
    "ChildStatus",
    "Clock",
    "Escalation",
    "EventBus",
    "EventName",
    "FakeClock",
    "FaultNote",
    "LifecycleEvent",
    "Liveness",
    "LoopThread",
    "MonotonicClock",
    "OnExhausted",
    "Reason",
    "Restart",
    "RestartBudget",
    "RestartDecision",
    "Runtime",
    "Scheduler",
    "StatusBoard",
    "Strategy",
    "SupervisedActor",
    "Supervisor",
    "SupervisorSpec",
    "Timer",
    "UnknownChild",
    "UnknownSupervisor",
    "backoff_delay",
    "decide_restart",
    "in_window",
]
