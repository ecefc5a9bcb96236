"""Chromium's sandbox is on unless Warden runs as root, where Chromium cannot use it."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from actors.browser import DEFAULT_ARGS, chromium_args, resolve_executable, sandboxed
from tests.helpers import wait_until
from warden.config import parse_config
from warden.tree import session_settings


def test_only_root_gets_no_sandbox() -> None:
    assert "--no-sandbox" in chromium_args(0) and not sandboxed(chromium_args(0))
    assert "--no-sandbox" not in chromium_args(1000) and sandboxed(chromium_args(1000))
    assert chromium_args(os.geteuid()) == DEFAULT_ARGS
    assert chromium_args(0)[1:] == chromium_args(1000)  # the rest is the same


def test_a_session_launches_with_the_default_flags_and_the_configured_ones() -> None:
    config = parse_config("browser:\n  args: [--lang=de]\nsessions:\n  - id: a\n"
                          "    url: http://127.0.0.1:1/\n", "f.yaml", environ={})
    settings = session_settings(config.sessions[0], config, "/usr/bin/chromium")
    assert settings.args == (*DEFAULT_ARGS, "--lang=de")
    assert sandboxed(settings.args) == (os.geteuid() != 0)
    off = parse_config("browser:\n  args: [--no-sandbox]\n", "f.yaml", environ={})
    assert not sandboxed((*chromium_args(1000), *off.browser.args))  # an operator's choice


def user_namespace(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/ns/user")


@pytest.fixture
def nobody_profile() -> Iterator[Path]:
    """A profile directory another user can reach (pytest's own tmp is root's alone)."""
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("needs root and runuser to start Chromium as another user")
    home = Path(tempfile.mkdtemp(prefix="warden-sandbox-"))
    try:
        shutil.chown(home, "nobody")
        yield home / "profile"
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.browser
def test_as_an_ordinary_user_renderers_run_in_the_sandbox(nobody_profile: Path) -> None:
    command = [resolve_executable("auto"), "--headless", f"--user-data-dir={nobody_profile}",
               *chromium_args(65534), "--remote-debugging-port=0", "data:text/html,<p>hi</p>"]
    proc = subprocess.Popen(["runuser", "-u", "nobody", "--", *command],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tree: list[psutil.Process] = []

    def of_type(kind: str | None) -> list[psutil.Process]:
        tree[:] = psutil.Process(proc.pid).children(recursive=True) or tree
        found = []
        for child in tree:
            with contextlib.suppress(psutil.Error):
                types = [a for a in child.cmdline() if a.startswith("--type=")]
                if types == ([f"--type={kind}"] if kind else []):
                    found.append(child)
        return found

    try:
        assert wait_until(lambda: of_type("renderer"), 30.0), "no renderer started"
        (main,) = of_type(None)
        # the namespace sandbox: each renderer in a user namespace of its own
        assert all(user_namespace(r.pid) != user_namespace(main.pid) for r in of_type("renderer"))
    finally:
        for child in tree:
            with contextlib.suppress(psutil.Error):
                child.kill()
        proc.kill()
        proc.wait(10)
