"""Credentials are the API token and webhook secrets: strings checked without ever being echoed.

A credential read from the config is a string as written (a token `12345` or `true` is that
text). A value a template leaves behind (`change-me`, `<token>`, `null`) is refused, as is a
token with spaces or control characters, which no client could send intact. Every message
here says what is wrong and how to fix it, never the value.
"""

from __future__ import annotations

import re

__all__ = ["GENERATE", "credential_text", "placeholder", "token_problem"]

GENERATE = "generate one, e.g. with `openssl rand -hex 32`"

# Compared without case, spaces or punctuation: "Change-Me" and "CHANGE_ME" are "changeme".
_PLACEHOLDERS = frozenset({
    "changeme", "changethis", "changeit", "replaceme", "fixme", "todo", "tbd",
    "secret", "mysecret", "supersecret", "topsecret", "yoursecret", "secretkey", "secrettoken",
    "token", "mytoken", "yourtoken", "apitoken", "apikey", "accesstoken", "authtoken",
    "bearertoken", "wardenapitoken", "wardentoken", "wardenwebhooksecret", "webhooksecret",
    "password", "passwd", "pass", "mypassword", "admin", "root", "letmein", "qwerty",
    "default", "example", "sample", "test", "testing", "demo", "dummy", "placeholder",
    "insertokenhere", "tokenhere", "secrethere", "inserttokenhere", "insertsecrethere",
    "yourtokenhere", "yoursecrethere", "yourapitokenhere", "yourapikeyhere", "puttokenhere",
    "null", "none", "nil", "undefined", "empty", "unset",
    "123456", "1234567890", "12345678", "0000", "abc123",
})
# Nothing-values YAML would have read as null: refused as placeholders, never taken as "no token".
_NOTHING = frozenset({"~", "null", "none", "nil", "undefined"})


def placeholder(text: str) -> bool:
    """Whether `text` is a well-known placeholder rather than a generated credential."""
    folded = re.sub(r"[^a-z0-9]", "", text.lower())
    if text.strip().lower() in _NOTHING or folded in _PLACEHOLDERS:
        return True
    if re.fullmatch(r"\$\{[A-Za-z_]\w*\}|<[^<>]*>|\{\{[^{}]*\}\}", text.strip()):
        return True  # an unfilled template: ${VAR}, <token>, {{ token }}
    return len(text) >= 3 and len(set(text.lower())) == 1  # xxxxxxxx, ********, 00000000


def credential_text(value: object) -> str:
    """`value` if it is a string; otherwise a ValueError that names its kind, not its value."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        shape = "mapping" if isinstance(value, dict) else "list"
        raise ValueError(f"expected a string, got a {shape}")
    kind = {bool: "a boolean", int: "a number", float: "a number"}.get(type(value), "a value")
    raise ValueError(f"expected a string, got {kind} (put the value in quotes)")


def token_problem(token: str) -> str | None:
    """What is wrong with a non-empty API token, or None."""
    if any(c.isspace() or not c.isprintable() for c in token):
        return "must not contain spaces or control characters"
    if placeholder(token):
        return f"is a well-known placeholder, not a secret: {GENERATE}"
    return None
