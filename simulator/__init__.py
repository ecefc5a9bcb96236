"""The simulator is a stand-in chat web app with fault injection, for demo, tests and benchmarks.

It behaves as WhatsApp Web does where Warden's promises depend on it: the page confirms each message
with a receipt as it enters the page's store (kept in IndexedDB) and is never sent it again;
messages wait on the server for a device that is away; a page's own message is acknowledged by
the server only after the page's store has it. `create_app()` builds the aiohttp app,
`serve(host, port)` runs it in the foreground (`warden sim`), `SimulatorServer` runs it on its own
thread inside another process.
"""

from __future__ import annotations

from simulator.app import SimulatorServer, create_app, serve
from simulator.chat import Ack, ChatSession
from simulator.fault import FaultMode, LeakRate
from simulator.login import ScanOutcome
from simulator.message import ChatMessage
from simulator.qr import QR_INTERVAL, LoginCode, QrRotation

__all__ = [
    "QR_INTERVAL",
    "Ack",
    "ChatMessage",
    "ChatSession",
    "FaultMode",
    "LeakRate",
    "LoginCode",
    "QrRotation",
    "ScanOutcome",
    "SimulatorServer",
    "create_app",
    "serve",
]
