"""A webhook URL is logged and shown without its credentials: no user:password, no query."""

from __future__ import annotations

import pytest

from actors.webhook import redact


@pytest.mark.parametrize(("url", "shown"), [
    ("https://hooks.example/in", "https://hooks.example/in"),
    ("https://hooks.example/in?key=s3cr3t&x=1", "https://hooks.example/in?redacted"),
    ("https://user:pw@hooks.example:8443/in?token=s3cr3t#frag",
     "https://hooks.example:8443/in?redacted"),
    ("http://u:p@[::1]:9000/hook", "http://[::1]:9000/hook"),
])
def test_credentials_in_a_webhook_url_are_never_shown(url: str, shown: str) -> None:
    assert redact(url) == shown
    assert "s3cr3t" not in redact(url) and "pw" not in redact(url)
