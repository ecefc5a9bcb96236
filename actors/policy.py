"""A session policy says how a session is watched: heartbeat, canary, activity, memory, restarts."""

from __future__ import annotations

from dataclasses import dataclass, field

from runtime import RestartBudget

__all__ = ["CanaryPolicy", "Policy"]


@dataclass(frozen=True, slots=True)
class CanaryPolicy:
    interval: float = 10.0
    timeout: float = 5.0
    failures: int = 2


@dataclass(frozen=True, slots=True)
class Policy:
    heartbeat_interval: float = 2.0
    heartbeat_timeout: float = 10.0
    canary: CanaryPolicy | None = field(default_factory=CanaryPolicy)
    activity_timeout: float | None = 1800.0
    memory_limit: int | None = 500 * 2**20
    budget: RestartBudget = field(default_factory=RestartBudget)
