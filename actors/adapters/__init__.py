"""Adapters teach a browser session one web app: how to hear its events, probe it, run a canary."""

from __future__ import annotations

import importlib

from actors.adapters.base import Adapter, AuthState, InboundMessage, SessionSink

__all__ = [
    "BUILTIN_ADAPTERS",
    "Adapter",
    "AuthState",
    "InboundMessage",
    "SessionSink",
    "load_adapter",
]

# Built-in adapters by config name, imported only when used (they import Playwright).
BUILTIN_ADAPTERS = {
    "simulator": "actors.adapters.simulator:SimulatorAdapter",
    "whatsapp": "actors.adapters.whatsapp:WhatsAppAdapter",
}


def load_adapter(name: str) -> type[Adapter]:
    """A built-in adapter by name, or `package.module:Class`; raises ValueError saying why not."""
    path = BUILTIN_ADAPTERS.get(name, name)
    module_name, _, class_name = path.partition(":")
    if not class_name:
        raise ValueError(f"unknown adapter {name!r} "
                         f"(built-in: {', '.join(sorted(BUILTIN_ADAPTERS))})")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"adapter {name!r}: cannot import {module_name}: {exc}") from None
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Adapter)):
        raise ValueError(f"adapter {name!r}: {class_name} is not an actors.adapters.Adapter")
    return cls
