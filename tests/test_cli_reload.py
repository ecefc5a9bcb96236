"""`warden reload` checks the file here first (exit 2 with its errors), then asks the running
warden, found at the file's own http.listen unless told otherwise, and says what it did."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.actors.test_front import fake_deps, serving
from tests.actors.test_front_reload import TOKEN, FakeReload
from tests.test_control import closed_port
from warden import cli

APPLIED = {"added": ["acct-4"], "removed": ["acct-2"], "restarted": [],
           "unchanged": ["acct-1", "acct-3"]}


@pytest.fixture(autouse=True)
def no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WARDEN_URL", raising=False)
    monkeypatch.delenv("WARDEN_API_TOKEN", raising=False)


def config(tmp_path: Path, port: int, extra: str = "") -> Path:
    path = tmp_path / "supervisor.yaml"
    path.write_text(f"http:\n  listen: 127.0.0.1:{port}\n{extra}"
                    "sessions:\n  - id: acct-1\n    url: http://127.0.0.1:9/chat/acct-1\n")
    return path


def test_an_invalid_file_is_exit_2_with_the_check_errors_and_nothing_is_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("sessions:\n  - id: acct-1\n    url: nowhere\n")
    reload = FakeReload(202, APPLIED)
    with serving(fake_deps(reload=reload)) as front:
        code = cli.main(["reload", "-c", str(path), "--url", front.url])
    assert code == 2
    assert capsys.readouterr().err == (
        f"{path}:3: sessions[0].url: expected an http:// or https:// URL, got 'nowhere'\n")
    assert not reload.calls


def test_a_valid_file_is_reloaded_by_the_warden_listening_where_the_file_says(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    reload = FakeReload(202, {**APPLIED, "file": str(tmp_path / "supervisor.yaml")})
    with serving(fake_deps(reload=reload)) as front:
        path = config(tmp_path, front.port)
        assert cli.main(["reload", "-c", str(path)]) == 0
    assert len(reload.calls) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        f"reloaded {path}: 1 added, 1 removed, 0 restarted, 2 unchanged",
        "  added: acct-4", "  removed: acct-2"]
    assert err == ""


def test_it_says_so_when_the_running_warden_reads_another_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    reload = FakeReload(202, {**APPLIED, "file": "/etc/warden/supervisor.yaml"})
    with serving(fake_deps(reload=reload)) as front:
        path = config(tmp_path, front.port)
        assert cli.main(["reload", "-c", str(path)]) == 0
    assert capsys.readouterr().err == (
        f"note: the running warden reads /etc/warden/supervisor.yaml, not {path} "
        "(checked here)\n")


def test_a_refusal_is_exit_2_with_the_runtimes_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    body = {"error": "x.yaml cannot be applied while warden runs: nothing was changed",
            "errors": ["x.yaml:1: state_dir: cannot change while warden runs"]}
    with serving(fake_deps(reload=FakeReload(400, body))) as front:
        code = cli.main(["reload", "-c", str(config(tmp_path, front.port))])
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"warden at http://127.0.0.1:{front.port}: {body['error']}",
        "  x.yaml:1: state_dir: cannot change while warden runs"]


def test_a_stopping_warden_is_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = {"error": "warden is stopping: the reload was refused", "errors": []}
    with serving(fake_deps(reload=FakeReload(503, body))) as front:
        assert cli.main(["reload", "-c", str(config(tmp_path, front.port))]) == 1
    assert "warden is stopping: the reload was refused" in capsys.readouterr().err


def test_the_token_comes_from_the_option_the_environment_or_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    reload = FakeReload(202, APPLIED)
    with serving(fake_deps(reload=reload), token=TOKEN) as front:
        bare = str(config(tmp_path, front.port))
        assert cli.main(["reload", "-c", bare]) == 2
        assert "unauthorized: pass --token or set WARDEN_API_TOKEN" in capsys.readouterr().err
        assert cli.main(["reload", "-c", bare, "--token", TOKEN]) == 0
        monkeypatch.setenv("WARDEN_API_TOKEN", TOKEN)
        assert cli.main(["reload", "-c", bare]) == 0
        monkeypatch.delenv("WARDEN_API_TOKEN")
        (tmp_path / "with-token").mkdir()
        own = config(tmp_path / "with-token", front.port, extra=f"  token: {TOKEN}\n")
        assert cli.main(["reload", "-c", str(own)]) == 0
    assert len(reload.calls) == 3


def test_no_warden_running_is_exit_1_with_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    port = closed_port()
    assert cli.main(["reload", "-c", str(config(tmp_path, port))]) == 1
    assert capsys.readouterr().err == (
        f"cannot reach warden at http://127.0.0.1:{port}: connection refused — is `warden run` "
        "running?\n")
