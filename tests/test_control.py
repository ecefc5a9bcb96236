"""`warden status|restart|stop|start` talk to a running front and say clearly what went wrong."""

from __future__ import annotations

import io
import json
import socket

import pytest

from runtime import ChildState, ChildStatus, Reason
from tests.actors.test_front import FakeControl, fake_deps, serving
from tests.actors.test_views import NOW, make_status
from warden import cli, control


def sessions() -> list[ChildStatus]:
    return [
        make_status("acct-1", restarts=1, restarts_total=4, last_restart_reason=Reason.CANARY,
                    last_heartbeat=NOW - 2.5, last_activity=NOW - 300.0,
                    details={"memory_bytes": 250 * 2**20, "browser_pid": 4242}),
        make_status("a-much-longer-session-id", ChildState.STOPPED),
    ]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_status_prints_an_aligned_table_of_every_session() -> None:
    out = io.StringIO()
    with serving(fake_deps(sessions())) as front:
        code = control.status(front.url, "", as_json=False, out=out, now=lambda: NOW)
    assert code == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    header, first, second = lines
    assert header.split() == ["SESSION", "STATE", "RESTARTS", "LAST", "REASON", "HEARTBEAT",
                              "ACTIVITY", "MEMORY", "PID"]
    assert first.split() == ["acct-1", "healthy", "1/4", "canary", "2.5s", "ago", "5m", "ago",
                             "250", "MiB", "4242"]
    assert second.split()[:3] == ["a-much-longer-session-id", "stopped", "0/0"]
    # aligned: every column starts at the same offset on every line
    assert header.index("STATE") == first.index("healthy") == second.index("stopped")
    assert header.index("PID") == first.index("4242")


def test_status_lists_the_runtimes_problems_under_the_table() -> None:
    out = io.StringIO()
    gave_up = make_status("acct-2", ChildState.FAILED, restarts=3)
    with serving(fake_deps([*sessions(), gave_up])) as front:
        assert control.status(front.url, "", as_json=False, out=out, now=lambda: NOW) == 0
    assert out.getvalue().splitlines()[-3:] == [
        "", "PROBLEMS",
        "  - acct-2 gave up after 3 restarts; start it again once the cause is fixed"]


def test_status_says_when_the_root_supervisor_does_not_run() -> None:
    out = io.StringIO()
    with serving(fake_deps(sessions(), root_running=lambda: False)) as front:
        assert control.status(front.url, "", as_json=False, out=out, now=lambda: NOW) == 0
    assert out.getvalue().splitlines()[-1] == "  - the root supervisor does not run"


def test_status_json_prints_the_api_answer() -> None:
    out = io.StringIO()
    with serving(fake_deps(sessions())) as front:
        assert control.status(front.url, "", as_json=True, out=out) == 0
    body = json.loads(out.getvalue())
    assert [s["id"] for s in body["sessions"]] == ["acct-1", "a-much-longer-session-id"]
    assert body["sessions"][0]["browser_pid"] == 4242


def test_a_runtime_that_is_not_running_is_exit_1_with_a_hint() -> None:
    err = io.StringIO()
    url = f"http://127.0.0.1:{closed_port()}"
    assert control.status(url, "", as_json=False, err=err) == 1
    assert err.getvalue().strip() == (
        f"cannot reach warden at {url}: connection refused — is `warden run` running?")
    err = io.StringIO()
    assert control.command("restart", "acct-1", url, "", err=err) == 1
    assert "connection refused" in err.getvalue()


def test_a_missing_or_wrong_token_is_exit_2() -> None:
    with serving(fake_deps(sessions()), token="s3cret") as front:
        for token in ("", "wrong"):
            err = io.StringIO()
            assert control.status(front.url, token, as_json=False, err=err) == 2
            assert err.getvalue().strip() == "unauthorized: pass --token or set WARDEN_API_TOKEN"
            err = io.StringIO()
            assert control.command("stop", "acct-1", front.url, token, err=err) == 2
            assert "unauthorized" in err.getvalue()
        assert control.status(front.url, "s3cret", as_json=False, out=io.StringIO()) == 0


@pytest.mark.parametrize("action", ["restart", "stop", "start"])
def test_a_command_reaches_the_runtime(action: str) -> None:
    deps = fake_deps(sessions())
    out = io.StringIO()
    with serving(deps, token="s3cret") as front:
        code = control.command(action, "acct-1", front.url, "s3cret",  # type: ignore[arg-type]
                               out=out)
    assert code == 0
    assert out.getvalue().strip() == f"acct-1: Session {action} initiated"
    assert isinstance(deps.control, FakeControl)
    assert deps.control.calls == [(action, "acct-1")]


def test_an_unknown_session_is_exit_2() -> None:
    err = io.StringIO()
    with serving(fake_deps(sessions())) as front:
        assert control.command("restart", "ghost", front.url + "/", "", err=err) == 2
    assert err.getvalue().strip() == "no session ghost"


def test_the_cli_wires_status_and_restart_to_the_client(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    deps = fake_deps(sessions())
    with serving(deps, token="s3cret") as front:
        monkeypatch.setenv("WARDEN_API_TOKEN", "s3cret")
        assert cli.main(["status", "--url", front.url]) == 0  # the token from the environment
        assert "acct-1" in capsys.readouterr().out
        assert cli.main(["restart", "acct-1", "--url", front.url, "--token", "s3cret"]) == 0
        assert cli.main(["stop", "ghost", "--url", front.url, "--token", "s3cret"]) == 2
    assert "no session ghost" in capsys.readouterr().err
    assert isinstance(deps.control, FakeControl)
    assert deps.control.calls[0] == ("restart", "acct-1")


BAD_URLS = ["foo", "127.0.0.1:3001", "ftp://127.0.0.1:3001", "file:///etc/passwd", "http://",
            "http://:3001", "http://127.0.0.1:port", "http://127.0.0.1:99999", "http://a b:1",
            "http://[::1:3001", "http://.:3001"]


@pytest.mark.parametrize("url", BAD_URLS)
def test_a_url_that_is_not_http_is_bad_usage_with_a_clear_message(url: str) -> None:
    for run in (lambda out, err: control.status(url, "", as_json=False, out=out, err=err),
                lambda out, err: control.command("restart", "acct-1", url, "", out=out,
                                                 err=err)):
        out, err = io.StringIO(), io.StringIO()
        assert run(out, err) == 2
        assert out.getvalue() == ""
        assert err.getvalue().startswith("invalid URL ")
        assert url in err.getvalue()
        assert "Traceback" not in err.getvalue()


def test_the_cli_refuses_a_bad_url_without_a_traceback(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["status", "--url", "foo"]) == 2
    assert cli.main(["restart", "acct-1", "--url", "foo"]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "invalid URL 'foo': expected http://HOST:PORT or https://HOST:PORT"] * 2
    assert captured.out == ""


def test_an_https_url_or_one_with_a_path_prefix_is_accepted() -> None:
    assert control.check_url("https://warden.example.com/ops") == (
        "https://warden.example.com/ops")
    with serving(fake_deps(sessions())) as front:
        assert control.status("HTTP://" + front.url.removeprefix("http://"), "",
                              as_json=True, out=io.StringIO()) == 0


def test_the_table_says_so_when_there_are_no_sessions() -> None:
    assert control.format_table([], NOW) == "no sessions"
