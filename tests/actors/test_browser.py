"""Chromium process trees: found by profile, measured, killed from outside, leftovers cleaned."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from actors.browser import (
    DEFAULT_ARGS,
    BrowserTree,
    ExecutableNotFound,
    clear_profile_locks,
    kill_leftovers,
    resolve_executable,
)
from actors.memory import anonymous_bytes, pss_bytes, trees
from tests.helpers import wait_until

pytestmark = pytest.mark.browser

CHROMIUM = resolve_executable("auto")


def live(procs: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A headless Chromium started directly (no Playwright), as an earlier run would leave it."""
    profile = tmp_path / "profiles" / "acct-1"
    profile.mkdir(parents=True)
    proc = subprocess.Popen(
        [CHROMIUM, "--headless", f"--user-data-dir={profile}", *DEFAULT_ARGS,
         "--remote-debugging-port=0", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    # /usr/bin/chromium is a shell wrapper that runs pipelines before it execs the browser:
    # wait for Chromium's own helper processes, not just any child.
    def helpers() -> int:
        count = 0
        for kid in psutil.Process(proc.pid).children(recursive=True):
            try:
                count += any(a.startswith("--type=") for a in kid.cmdline())
            except psutil.Error:  # a pipeline of the wrapper that just ended
                continue
        return count

    def started() -> bool:
        return helpers() >= 2

    try:
        assert wait_until(started)
        yield proc, profile
    finally:  # also when the start failed: never leave a browser behind
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
        proc.wait(10)


def test_resolve_executable_refuses_a_path_that_is_not_executable(tmp_path: Path) -> None:
    with pytest.raises(ExecutableNotFound, match="not an executable"):
        resolve_executable(str(tmp_path / "nope"))
    assert resolve_executable(CHROMIUM) == CHROMIUM


def test_tree_is_found_by_profile_and_measured(
        chromium: tuple[subprocess.Popen[bytes], Path]) -> None:
    proc, profile = chromium
    tree = BrowserTree.find(profile)
    assert tree is not None and tree.pid == proc.pid
    assert len(tree.processes()) >= 2
    members = trees([tree.pid])[tree.pid]
    assert sorted(members) == sorted(p.pid for p in tree.processes())
    assert pss_bytes(members) > 10 * 2**20
    assert anonymous_bytes(members) > 10 * 2**20
    assert BrowserTree.find(profile.parent / "other") is None


def test_kill_ends_every_process_of_the_tree(
        chromium: tuple[subprocess.Popen[bytes], Path]) -> None:
    proc, profile = chromium
    tree = BrowserTree.find(profile)
    assert tree is not None
    procs = tree.processes()
    assert len(procs) >= 2 and tree.kill() >= 1  # children may exit before their turn
    assert proc.wait(10) is not None
    assert wait_until(lambda: not live(procs))
    assert not tree.alive()
    tree.kill()  # a second kill is harmless


def test_leftovers_of_an_earlier_run_are_killed_and_locks_cleared(
        chromium: tuple[subprocess.Popen[bytes], Path]) -> None:
    proc, profile = chromium
    assert wait_until(lambda: (profile / "SingletonLock").is_symlink())
    procs = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    assert kill_leftovers(profile.parent) >= 2
    assert proc.wait(10) is not None
    assert wait_until(lambda: not live(procs))
    assert not (profile / "SingletonLock").is_symlink()


def test_leftovers_elsewhere_are_not_touched(chromium: tuple[subprocess.Popen[bytes], Path],
                                             tmp_path: Path) -> None:
    proc, _ = chromium
    assert kill_leftovers(tmp_path / "another-state" / "profiles") == 0
    assert proc.poll() is None


def test_clear_profile_locks_removes_dangling_singleton_links(tmp_path: Path) -> None:
    (tmp_path / "SingletonLock").symlink_to("host-12345")
    (tmp_path / "SingletonSocket").symlink_to("/tmp/nowhere/socket")
    (tmp_path / "Preferences").write_text("{}")
    assert sorted(clear_profile_locks(tmp_path)) == ["SingletonLock", "SingletonSocket"]
    assert (tmp_path / "Preferences").exists()
    assert clear_profile_locks(tmp_path) == []
