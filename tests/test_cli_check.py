"""`warden check -c FILE` exits 0 for a valid config, else 2 with `FILE:LINE: key.path: what`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

WARDEN = Path(sys.executable).parent / "warden"
ROOT = Path(__file__).resolve().parent.parent
LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+): (?P<path>[\w.\[\]()-]+): (?P<message>.+)$")


def check(path: Path | str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    return subprocess.run([str(WARDEN), "check", "-c", str(path)], capture_output=True,
                          text=True, timeout=60, env={**environ, **env}, check=False)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "supervisor.yaml"
    path.write_text(text)
    return path


def test_the_embedded_default_config_is_valid() -> None:
    result = check(ROOT / "supervisor.yaml")
    assert result.returncode == 0, result.stderr
    expected = f"{ROOT / 'supervisor.yaml'}: ok (3 sessions, policies: default, whatsapp)"
    assert result.stdout.strip() == expected
    assert result.stderr == ""


def test_an_invalid_config_exits_2_with_one_located_line_per_problem(tmp_path: Path) -> None:
    path = write(tmp_path, (
        "http:\n"
        "  listen: 127.0.0.1:3001\n"
        "  tokn: x\n"
        "policies:\n"
        "  default:\n"
        "    heartbeat: {interval: 2s, timeout: 10}\n"
        "sessions:\n"
        "  - id: acct-1\n"
        "    url: http://127.0.0.1:3002/chat/acct-1\n"
        "  - id: acct-1\n"
        "    url: http://127.0.0.1:3002/chat/acct-1\n"
        "    policy: fast\n"
    ))
    result = check(path)
    assert result.returncode == 2
    assert result.stdout == ""
    parsed = [LINE.match(line) for line in result.stderr.splitlines()]
    assert all(parsed), result.stderr
    assert [(m["file"], int(m["line"]), m["path"]) for m in parsed if m] == [
        (str(path), 3, "http.tokn"),
        (str(path), 6, "policies.default.heartbeat.timeout"),
        (str(path), 10, "sessions[1].id"),
        (str(path), 12, "sessions[1].policy"),
    ]


def test_a_yaml_syntax_error_exits_2_with_its_line(tmp_path: Path) -> None:
    result = check(write(tmp_path, "sessions:\n  - id: a\n   url: x\n"))
    assert result.returncode == 2
    match = LINE.match(result.stderr.strip())
    assert match is not None, result.stderr
    assert (match["line"], match["path"]) == ("3", "(top)")
    assert "not valid YAML" in match["message"]


def test_a_duplicate_key_exits_2(tmp_path: Path) -> None:
    result = check(write(tmp_path, "state_dir: a\nstate_dir: b\n"))
    assert result.returncode == 2
    path = tmp_path / "supervisor.yaml"
    assert result.stderr.strip() == f"{path}:2: state_dir: duplicate key (first at line 1)"


@pytest.mark.parametrize(("env", "code"), [({}, 2), ({"HOOK": "http://127.0.0.1:9/h"}, 0)])
def test_variables_are_read_from_the_environment(
    tmp_path: Path, env: dict[str, str], code: int
) -> None:
    result = check(write(tmp_path, "webhook:\n  url: ${HOOK}\n"), **env)
    assert result.returncode == code, result.stderr
    if code == 2:
        assert "webhook.url: environment variable HOOK is not set" in result.stderr


def test_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = check(tmp_path / "nope.yaml")
    assert result.returncode == 2
    assert "cannot read" in result.stderr


def test_bad_usage_exits_2() -> None:
    result = subprocess.run([str(WARDEN), "check", "--no-such-flag"], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 2


# --- hostile files: exit 2 with a located line, never a traceback ---------------------------------


def located(result: subprocess.CompletedProcess[str]) -> list[re.Match[str]]:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and result.stdout == ""
    matches = [LINE.match(line) for line in result.stderr.splitlines()]
    assert matches and all(matches), result.stderr
    return [m for m in matches if m]


def test_a_nul_byte_is_a_located_error(tmp_path: Path) -> None:
    path = tmp_path / "nul.yaml"
    path.write_bytes(b"state_dir: var\nhttp:\n  listen: 127.0.0.1:1\x00\n")
    (match,) = located(check(path))
    assert (match["line"], match["path"]) == ("3", "(top)")


def test_brackets_nested_5000_deep_are_a_located_error(tmp_path: Path) -> None:
    (match,) = located(check(write(tmp_path, "state_dir: var\nx: " + "[" * 5000 + "\n")))
    assert match["line"] == "2" and "nested more than" in match["message"]


@pytest.mark.parametrize("command", ["check", "run"])
def test_an_alias_bomb_is_refused_at_once(tmp_path: Path, command: str) -> None:
    lines = ["a0: &a0 [x, y, z]"] + [
        f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 10)]
    path = write(tmp_path, "\n".join(lines) + "\n")
    result = subprocess.run([str(WARDEN), command, "-c", str(path)], capture_output=True,
                            text=True, timeout=60, check=False)
    (match,) = located(result)
    assert "aliases expand" in match["message"]


ADAPTERS = {
    "syntax": ("def broken(:\n", "SyntaxError"),
    "raising": ("raise RuntimeError('no database here')\n", "RuntimeError: no database here"),
    "exiting": ("import sys\nsys.exit(0)\n", "sys.exit(0)"),
}


@pytest.mark.parametrize("kind", sorted(ADAPTERS))
def test_an_adapter_module_that_fails_on_import_is_a_located_error(
        tmp_path: Path, kind: str) -> None:
    source, says = ADAPTERS[kind]
    (tmp_path / f"adapter_{kind}.py").write_text(source)
    path = write(tmp_path, "sessions:\n  - id: a\n    url: http://127.0.0.1:1/\n"
                           f"    adapter: adapter_{kind}:Adapter\n")
    (match,) = located(check(path, PYTHONPATH=str(tmp_path)))
    assert (match["line"], match["path"]) == ("4", "sessions[0].adapter")
    assert says in match["message"]


def test_an_unclosed_placeholder_on_a_public_listen_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "http:\n  listen: 0.0.0.0:3001\n  token: ${WARDEN_API_TOKEN\n")
    (match,) = located(check(path, WARDEN_API_TOKEN="tok-from-env-0123456789"))
    assert (match["line"], match["path"]) == ("3", "http.token")
    assert "tok-from-env" not in match["message"]


def test_a_corrupted_outbox_is_one_line_and_exit_2(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "outbox.sqlite3").write_bytes(b"this is not a database\n" * 512)
    path = write(tmp_path, f"state_dir: {state}\n")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    for rest in ([], ["requeue", "--all-dead"]):
        result = subprocess.run([str(WARDEN), "outbox", "-c", str(path), *rest],
                                capture_output=True, text=True, timeout=60, env=environ,
                                check=False)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        (line,) = result.stderr.strip().splitlines()
        assert str(state / "outbox.sqlite3") in line and "not a database" in line
