"""Today's practice, side by side: the common 5 min / 30 min health monitor and Warden's policy,
simulated on the same day of messages and faults.
"""

from bench.practice.chat import ChatApp, Connection, FaultRecord, RestartRecord, Symptom
from bench.practice.monitor import PracticeMonitor, PracticePolicy, run_practice
from bench.practice.scenario import Fault, FaultKind, Scenario, SessionPlan, make_scenario
from bench.practice.session_model import ModelSession, Step, StepOutcome
from bench.practice.warden_run import SESSIONS, WardenRun

__all__ = [
    "SESSIONS",
    "ChatApp",
    "Connection",
    "Fault",
    "FaultKind",
    "FaultRecord",
    "ModelSession",
    "PracticeMonitor",
    "PracticePolicy",
    "RestartRecord",
    "Scenario",
    "SessionPlan",
    "Step",
    "StepOutcome",
    "Symptom",
    "WardenRun",
    "make_scenario",
    "run_practice",
]
