"""POST /reload passes the reload's answer through: 202, 400 with the file's errors, 503; it
needs the token like any command, and a front without a reload answers 404."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from tests.actors.test_front import call, fake_deps, serving

TOKEN = "a-Test-Token-0123456789"


class FakeReload:
    """Answers every reload with `status` and `body`, noting the thread it was called on."""

    def __init__(self, status: int, body: Mapping[str, Any]) -> None:
        self.status, self.body = status, body
        self.calls: list[str] = []

    def __call__(self) -> tuple[int, Mapping[str, Any]]:
        self.calls.append(threading.current_thread().name)
        return self.status, self.body


def test_a_reload_answers_202_with_the_sessions_by_what_became_of_them() -> None:
    body = {"added": ["acct-4"], "removed": [], "restarted": ["acct-2"],
            "unchanged": ["acct-1", "acct-3"], "file": "/etc/warden/supervisor.yaml"}
    reload = FakeReload(202, body)
    with serving(fake_deps(reload=reload)) as front:
        answer = call("POST", f"{front.url}/reload")
    assert (answer.status, answer.body) == (202, body)
    assert reload.calls and reload.calls[0] != "warden-front"  # not on the event loop


def test_a_refused_reload_answers_400_with_every_error() -> None:
    body = {"error": "supervisor.yaml is not valid: nothing was changed",
            "errors": ["supervisor.yaml:3: state_dir: cannot change while warden runs"]}
    with serving(fake_deps(reload=FakeReload(400, body))) as front:
        answer = call("POST", f"{front.url}/reload")
    assert (answer.status, answer.body) == (400, body)


def test_a_reload_needs_the_token_and_a_same_origin() -> None:
    reload = FakeReload(202, {"added": []})
    with serving(fake_deps(reload=reload), token=TOKEN) as front:
        assert call("POST", f"{front.url}/reload").status == 401
        assert call("POST", f"{front.url}/reload", token="wrong-Token-0123456789").status == 401
        assert call("POST", f"{front.url}/reload", token=TOKEN, headers={
            "Origin": "https://evil.example"}).status == 403
        assert not reload.calls
        assert call("POST", f"{front.url}/reload", token=TOKEN).status == 202
    assert len(reload.calls) == 1


def test_a_reload_takes_no_body_but_an_empty_object_and_only_post() -> None:
    reload = FakeReload(202, {"added": []})
    with serving(fake_deps(reload=reload)) as front:
        assert call("POST", f"{front.url}/reload", data=b"{}").status == 202
        assert call("POST", f"{front.url}/reload", data=b"[1]").status == 400
        assert call("GET", f"{front.url}/reload").status == 405
    assert len(reload.calls) == 1


def test_a_front_without_a_reload_answers_404() -> None:
    with serving(fake_deps()) as front:
        answer = call("POST", f"{front.url}/reload")
    assert (answer.status, answer.body) == (404, {"error": "reload is not enabled"})
