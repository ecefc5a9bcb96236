"""Changes: which sessions a new config adds, removes or restarts, and which keys it changes
that only a restart of warden can."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from actors.adapters.simulator import SimulatorAdapter
from actors.policy import Policy
from actors.session import SessionSettings
from warden.changes import FIXED_KEYS, fixed_key_problems, session_changes
from warden.config import parse_config


def settings(session_id: str, **changes: object) -> SessionSettings:
    base = SessionSettings(id=session_id, url=f"http://127.0.0.1:9/chat/{session_id}",
                           adapter=SimulatorAdapter, adapter_name="simulator", policy=Policy(),
                           profile_dir=Path("/state/profiles") / session_id,
                           executable="/usr/bin/chromium", args=())
    return replace(base, **changes)  # type: ignore[arg-type]


def test_sessions_are_added_removed_changed_or_left_in_config_order() -> None:
    running = {i: settings(i) for i in ("a", "b", "c", "d")}
    wanted = [settings("e"), settings("d"), settings("b", url="http://x/b"), settings("a"),
              settings("f")]
    changes = session_changes(running, wanted)
    assert [s.id for s in changes.added] == ["e", "f"]
    assert changes.removed == ("c",)
    assert [s.id for s in changes.changed] == ["b"]
    assert changes.unchanged == ("d", "a")
    assert not changes.none
    assert session_changes(running, list(running.values())).none


def test_every_setting_of_a_session_counts() -> None:
    running = {"a": settings("a")}
    for change in ({"adapter_name": "whatsapp"}, {"policy": Policy(heartbeat_timeout=11.0)},
                   {"args": ("--lang=de",)}, {"executable": "/opt/chromium"}):
        assert [s.id for s in session_changes(running, [settings("a", **change)]).changed] == [
            "a"], change


def test_keys_only_a_restart_can_change_are_named_with_their_line_and_values() -> None:
    running = parse_config("http:\n  listen: 127.0.0.1:3001\n", "/srv/w/supervisor.yaml", {})
    new = parse_config("# moved\nstate_dir: /elsewhere\nhttp:\n  listen: 127.0.0.1:4001\n"
                       "  metrics_public: false\nsimulator: {}\n", "/srv/w/supervisor.yaml", {})
    problems = fixed_key_problems(running, new)
    assert [(p.line, p.path) for p in problems] == [
        (2, "state_dir"), (4, "http.listen"), (5, "http.metrics_public"), (6, "simulator.listen")]
    assert problems[0].message == ("cannot change while warden runs (running: /srv/w/var; in "
                                   "the file: /elsewhere): restart warden to apply it")
    assert problems[3].message == ("cannot change while warden runs (running: none; in the "
                                   "file: 127.0.0.1:3002): restart warden to apply it")
    assert fixed_key_problems(running, running) == []


def test_a_token_is_never_shown() -> None:
    first = parse_config("http:\n  token: first-Secret-Token\n", "/w/s.yaml", {})
    second = parse_config("http:\n  token: second-Secret-Token\n", "/w/s.yaml", {})
    (problem,) = fixed_key_problems(first, second)
    assert (problem.line, problem.path) == (2, "http.token")
    assert "Secret" not in problem.message
    assert {k.path for k in FIXED_KEYS if not k.shown} == {"http.token"}


def test_a_removed_key_points_at_its_section_or_the_top() -> None:
    running = parse_config("http:\n  listen: 127.0.0.1:4001\nsimulator: {}\n", "/w/s.yaml", {})
    new = parse_config("http:\n  metrics_public: true\n", "/w/s.yaml", {})
    assert [(p.line, p.path) for p in fixed_key_problems(running, new)] == [
        (1, "http.listen"), (0, "simulator.listen")]
