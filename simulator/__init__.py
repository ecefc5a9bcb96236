"""The simulator is a stand-in chat web app with fault injection, for demo, tests and benchmarks.

`create_app()` builds the aiohttp app, `serve(host, port)` runs it in the foreground
(`warden sim`), `SimulatorServer` runs it on its own thread inside another process.
"""

from __future__ import annotations

from simulator.app import DEVICE_COOKIE, SimulatorServer, create_app, serve
from simulator.chat import ChatMessage, ChatSession, FaultMode, LeakRate

__all__ = [
    "DEVICE_COOKIE",
    "ChatMessage",
    "ChatSession",
    "FaultMode",
    "LeakRate",
    "SimulatorServer",
    "create_app",
    "serve",
]
