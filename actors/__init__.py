"""Concrete actors on the runtime: browser sessions with adapters, webhook delivery, HTTP front."""
