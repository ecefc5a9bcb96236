"""A browser is one Chromium process tree with its own profile, found and killed by pid.

A hung browser may never answer `close()`, so freeing one works on processes: psutil finds the
tree by its `--user-data-dir`, and a SIGKILL of the main process makes a pending Playwright
call on it fail within about 50 ms.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import psutil

__all__ = [
    "DEFAULT_ARGS",
    "BrowserTree",
    "ExecutableNotFound",
    "chromium_args",
    "clear_profile_locks",
    "kill_leftovers",
    "resolve_executable",
    "sandboxed",
]

logger = logging.getLogger(__name__)



def chromium_args(euid: int) -> tuple[str, ...]:
    """The flags every browser gets: without Chromium's background calls to Google's hosts
    (refused on closed networks), and with its sandbox unless run as root (`euid` 0), where
    Chromium refuses to start sandboxed. A launch keeps the sandbox unless its args say
    `--no-sandbox` (`sandboxed`)."""
    return (*(("--no-sandbox",) if euid == 0 else ()),
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--disable-breakpad",  # Chromium 156 still starts two chrome_crashpad_handler
            "--disable-crash-reporter")  # processes; they leave the tree and exit by themselves


def sandboxed(args: Iterable[str]) -> bool:
    """Whether a browser launched with `args` keeps Chromium's sandbox (Playwright's launch
    turns it off unless told otherwise)."""
    return "--no-sandbox" not in args


DEFAULT_ARGS = chromium_args(os.geteuid())
PROFILE_LOCKS = ("SingletonLock", "SingletonSocket", "SingletonCookie")


class ExecutableNotFound(RuntimeError):
    """No Chromium to launch; the message says how to get one."""


def resolve_executable(setting: str) -> str:
    """The Chromium to launch for `browser.executable` (`auto` or a path)."""
    if setting != "auto":
        if not (os.path.isfile(setting) and os.access(setting, os.X_OK)):
            raise ExecutableNotFound(f"browser.executable: {setting} is not an executable file")
        return setting
    cache = (os.environ.get("PLAYWRIGHT_BROWSERS_PATH")
             or os.path.expanduser("~/.cache/ms-playwright"))
    own = sorted(glob.glob(os.path.join(cache, "chromium-*/chrome-linux*/chrome")), reverse=True)
    candidates = [*own, "/usr/bin/chromium", *filter(None, (shutil.which("chromium"),
                                                           shutil.which("chromium-browser")))]
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise ExecutableNotFound(
        "no Chromium found (browser.executable: auto). Install one with: "
        "sudo apt-get install -y chromium   (or set browser.executable to its path)")


def clear_profile_locks(profile: Path) -> list[str]:
    """Remove Chromium's `Singleton*` files a killed browser left in `profile`."""
    removed = []
    for name in PROFILE_LOCKS:
        path = profile / name
        if path.is_symlink() or path.exists():
            path.unlink(missing_ok=True)
            removed.append(name)
    return removed


def _profile_of(proc: psutil.Process) -> str | None:
    try:
        for arg in proc.cmdline():
            if arg.startswith("--user-data-dir="):
                return os.path.realpath(arg.split("=", 1)[1])
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None
    return None


def _kill_all(procs: Iterable[psutil.Process]) -> int:
    killed = 0
    for proc in procs:
        try:
            proc.kill()  # psutil checks the create time: a reused pid is never hit
            killed += 1
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    return killed


def kill_leftovers(profiles_root: Path) -> int:
    """Kill every Chromium using a profile under `profiles_root` (left by an earlier run that
    was killed) and clear the profiles' locks. Returns how many processes were killed."""
    root = os.path.realpath(profiles_root)
    prefix = root + os.sep
    mains = []
    for proc in psutil.process_iter(["pid"]):
        profile = _profile_of(proc)
        if profile is not None and (profile == root or profile.startswith(prefix)):
            mains.append(proc)
    victims: dict[int, psutil.Process] = {}
    for proc in mains:
        try:
            for p in [proc, *proc.children(recursive=True)]:
                victims[p.pid] = p
        except psutil.NoSuchProcess:
            continue
    killed = _kill_all(victims.values())
    psutil.wait_procs(list(victims.values()), timeout=5)
    if profiles_root.is_dir():
        for entry in profiles_root.iterdir():
            if entry.is_dir():
                clear_profile_locks(entry)
    if killed:
        logger.warning("killed %d browser processes left over in %s", killed, profiles_root)
    return killed


class BrowserTree:
    """The processes of one launched browser: its main process and everything under it."""

    def __init__(self, main: psutil.Process) -> None:
        self.main = main

    @classmethod
    def find(cls, profile: Path) -> BrowserTree | None:
        """The running browser of ours whose `--user-data-dir` is `profile`."""
        wanted = os.path.realpath(profile)
        for proc in psutil.Process().children(recursive=True):
            if _profile_of(proc) != wanted:
                continue
            try:
                parent = proc.parent()
            except psutil.NoSuchProcess:
                continue
            if parent is not None and _profile_of(parent) == wanted:
                continue  # a renderer or helper: keep looking for the main process
            return cls(proc)
        return None

    @property
    def pid(self) -> int:
        return self.main.pid

    def processes(self) -> list[psutil.Process]:
        try:
            return [self.main, *self.main.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def alive(self) -> bool:
        try:
            return self.main.is_running() and self.main.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def kill(self) -> int:
        """SIGKILL the whole tree (never the shared driver); any thread, any number of times."""
        return _kill_all(self.processes())
