"""Warden: a supervisor-tree runtime that keeps headless-browser sessions alive and useful."""

__version__ = "0.1.0"
