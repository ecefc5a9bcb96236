"""A reload re-reads the config file a Warden runs from and applies the difference to its tree.

The file is validated whole, by the loader `warden check` and `warden run` use; one that is
invalid, or that changes a key only a restart can change, changes nothing. Otherwise sessions
that appear start (in the first shard with room, or behind a new driver), sessions that go are
stopped and removed (and the driver of a shard left empty), sessions whose settings changed
restart with reason `reload`, webhook endpoints are added, removed or renewed, and everything
else runs on untouched. Reloads are serialized: one asked for during another waits, then reads
the file anew, so the tree ends up as the file last read says. Once Warden is stopping, reloads
are refused."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, InvalidStateError, wait
from dataclasses import dataclass
from typing import Any

from actors.browser import ExecutableNotFound, resolve_executable
from actors.fleet import Fleet
from runtime import ChildSpec, Runtime, UnknownChild
from runtime.yamlsource import ConfigError, Problem
from warden.changes import SessionChanges, fixed_key_problems, session_changes
from warden.config import Config, load_config
from warden.tree import SESSIONS, session_settings

__all__ = ["APPLY_TIMEOUT", "ReloadError", "ReloadIncomplete", "ReloadRefused",
           "ReloadUnavailable", "Reloaded", "Reloader", "WebhooksSeam", "http_answer"]

logger = logging.getLogger("warden.reload")

# A removed or restarted session is down within its shutdown timeout (5 s) plus a kill; a
# change the tree has not shown by then is still carried out, and the answer says so.
APPLY_TIMEOUT = 60.0

# Applies changed webhook endpoints (old config, new config): the futures of the tree changes it
# asked for.
WebhooksSeam = Callable[[Config, Config], Sequence["Future[None]"]]


@dataclass(frozen=True, slots=True)
class Reloaded:
    """A reload applied: the session ids by what became of them."""

    file: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    restarted: tuple[str, ...]  # settings changed (a session stopped by hand stays stopped)
    unchanged: tuple[str, ...]
    webhooks: bool  # webhook endpoints were added, removed or renewed
    seconds: float

    def json(self) -> dict[str, Any]:
        return {"added": list(self.added), "removed": list(self.removed),
                "restarted": list(self.restarted), "unchanged": list(self.unchanged),
                "file": os.path.abspath(self.file)}


class ReloadError(Exception):
    """A reload that was not applied, or not wholly."""

    def __init__(self, message: str, errors: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.errors = tuple(errors)


class ReloadRefused(ReloadError):
    """Nothing changed: the file is invalid or changes what needs a restart (`errors` say where,
    one `FILE:LINE: key: message` each)."""


class ReloadUnavailable(ReloadError):
    """Nothing changed, or nothing more will: Warden is starting or stopping."""


class ReloadIncomplete(ReloadError):
    """Some changes were not made (or not yet shown) in time; `errors` name them."""


class Reloader:
    """Applies the config file anew to a running tree; `reload()` from any thread."""

    def __init__(self, config: Config, runtime: Runtime, fleet: Fleet, *, executable: str,
                 webhooks: WebhooksSeam | None = None,
                 resolve: Callable[[str], str] = resolve_executable,
                 notify: Callable[[str], object] | None = None,
                 timeout: float = APPLY_TIMEOUT) -> None:
        self.file = config.file
        self._started = config  # what the process holds from its start (listens, state_dir)
        self._applied = config  # the config last applied
        self._runtime = runtime
        self._fleet = fleet
        self._executable = executable  # "" until there are sessions to launch a browser for
        self._webhooks = webhooks
        self._resolve = resolve
        self._notify = notify or (lambda state: None)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._closed = False
        self._closing: Future[None] = Future()  # done once closed: a reload stops waiting

    def close(self) -> None:
        """Refuse reloads from now on (Warden is stopping); safe in a signal handler."""
        self._closed = True
        with contextlib.suppress(InvalidStateError):
            self._closing.set_result(None)

    def reload(self) -> Reloaded:
        """Read the file and apply it; raises a `ReloadError` saying why not (and logs it)."""
        try:
            return self._serialized()
        except ReloadError as exc:
            logger.warning("reload: %s", exc.message)
            for line in exc.errors:
                logger.warning("  %s", line)
            raise

    def _serialized(self) -> Reloaded:
        self._refuse_if_closed()
        if not self._lock.acquire(timeout=2 * self._timeout):
            raise ReloadUnavailable("another reload is still being applied; try again")
        try:
            self._refuse_if_closed()  # it may have begun stopping while this one waited
            self._notify(f"RELOADING=1\nMONOTONIC_USEC={time.monotonic_ns() // 1000}")
            try:
                return self._reload()
            finally:
                self._notify("READY=1")
        finally:
            self._lock.release()

    def _refuse_if_closed(self) -> None:
        if self._closed:
            raise ReloadUnavailable("warden is stopping: the reload was refused")

    def _reload(self) -> Reloaded:
        began = time.monotonic()  # real time: the changes are made by other threads
        new = self._read()
        executable = self._check(new)
        wanted = [session_settings(s, new, executable) for s in new.sessions]
        changes = session_changes(self._fleet.settings(), wanted)
        webhooks = new.webhooks != self._applied.webhooks
        errors = self._apply(new, changes)
        self._applied, self._executable = new, executable
        result = Reloaded(
            file=self.file, added=tuple(s.id for s in changes.added), removed=changes.removed,
            restarted=tuple(s.id for s in changes.changed), unchanged=changes.unchanged,
            webhooks=webhooks, seconds=time.monotonic() - began)
        if errors:
            if self._closed:
                raise ReloadUnavailable("warden began stopping while the reload was applied",
                                        errors)
            raise ReloadIncomplete(f"{len(errors)} of the changes were not made in time",
                                   errors)
        logger.info("reload of %s: %s (%.2fs)", self.file, _summary(result), result.seconds)
        return result

    def _read(self) -> Config:
        try:
            return load_config(self.file)
        except ConfigError as exc:
            raise ReloadRefused(f"{self.file} is not valid: nothing was changed",
                                exc.render().splitlines()) from None

    def _check(self, new: Config) -> str:
        """What only a restart can change; the Chromium to launch: raises ReloadRefused."""
        problems = fixed_key_problems(self._started, new)
        executable = self._executable
        if new.sessions and (not executable or
                             new.browser.executable != self._applied.browser.executable):
            try:
                executable = self._resolve(new.browser.executable)
            except ExecutableNotFound as exc:
                problems.append(Problem(new.line("browser.executable"), "browser.executable",
                                        str(exc).removeprefix("browser.executable: ")))
        if problems:
            raise ReloadRefused(f"{self.file} cannot be applied while warden runs: nothing "
                                "was changed", ConfigError(self.file, problems).render()
                                .splitlines())
        return executable

    # --- applying --------------------------------------------------------------------------------

    def _apply(self, new: Config, changes: SessionChanges) -> list[str]:
        """Ask the tree for every change, then wait for them to show; the errors."""
        fleet, errors = self._fleet, []
        asked: list[tuple[str, Future[None], Callable[[], None] | None]] = []
        if self._webhooks is not None and new.webhooks != self._applied.webhooks:
            try:
                renewed = self._webhooks(self._applied, new)
            except LookupError as exc:  # the root is stopping: no webhook actor to change
                renewed = (_failed(exc),)
            asked += [("webhooks", done, None) for done in renewed]
        fleet.per_driver = new.browser.sessions_per_driver
        for session_id in changes.removed:
            fleet.remove(session_id)
            asked.append((session_id, self._remove(session_id), None))
        for settings in changes.changed:
            asked.append((settings.id, self._replace(fleet.replace(settings)), None))
        for settings in changes.added:
            for spec in fleet.add(settings):
                undo = (lambda i=settings.id: fleet.remove(i)) if spec.id == settings.id else None
                asked.append((spec.id, self._add(spec), undo))
        errors += self._wait(asked)
        if self._closed:
            return errors
        drivers = fleet.empty_shards()  # once their sessions are down
        for shard in drivers:
            fleet.drop_shard(shard)
        errors += self._wait([(shard, self._remove(shard), None) for shard in drivers])
        return errors

    def _add(self, spec: ChildSpec) -> Future[None]:
        try:
            return self._runtime.add_child(SESSIONS, spec)
        except (LookupError, ValueError) as exc:
            return _failed(exc)

    def _replace(self, spec: ChildSpec) -> Future[None]:
        """A session an operator stopped stays stopped: it starts from `spec` when started."""
        try:
            return self._runtime.replace_child(spec, keep_stopped=True)
        except LookupError as exc:
            return _failed(exc)

    def _remove(self, child_id: str) -> Future[None]:
        try:
            return self._runtime.remove_child(child_id)
        except UnknownChild:
            return _failed(None)  # gone already: what was asked

    def _wait(self, asked: list[tuple[str, Future[None], Callable[[], None] | None]]
              ) -> list[str]:
        """Wait for every change asked for, until the deadline or until Warden stops."""
        deadline = time.monotonic() + self._timeout  # real time: it waits on other threads
        pending = {done for _, done, _ in asked}
        while pending and not self._closed and (left := deadline - time.monotonic()) > 0:
            pending = wait([*pending, self._closing], left, FIRST_COMPLETED).not_done
            pending.discard(self._closing)
        errors = []
        for child_id, done, undo in asked:
            if not done.done():
                why = "warden is stopping" if self._closed else f"not done after {self._timeout:g}s"
                errors.append(f"{child_id}: {why} (still under way)")
            elif (error := done.exception()) is not None:
                errors.append(f"{child_id}: {error}")
                if undo is not None:
                    undo()  # a session that was not added is added by the next reload
        return errors


def _failed(exc: BaseException | None) -> Future[None]:
    done: Future[None] = Future()
    if exc is None:
        done.set_result(None)
    else:
        done.set_exception(exc)
    return done


def _summary(result: Reloaded) -> str:
    parts = [f"{len(ids)} {what}" + (f" ({', '.join(ids)})" if ids and what != "unchanged"
                                     else "")
             for what, ids in (("added", result.added), ("removed", result.removed),
                               ("restarted", result.restarted),
                               ("unchanged", result.unchanged))]
    return ", ".join(parts) + ("; webhook endpoints changed" if result.webhooks else "")


def http_answer(reload: Callable[[], Reloaded]) -> tuple[int, dict[str, Any]]:
    """`POST /reload`: 202 with the session ids by what became of them; 400 when the file was
    refused, 503 while starting or stopping, 500 when changes were not all made."""
    try:
        return 202, reload().json()
    except ReloadRefused as exc:
        return 400, {"error": exc.message, "errors": list(exc.errors)}
    except ReloadUnavailable as exc:
        return 503, {"error": exc.message, "errors": list(exc.errors)}
    except ReloadIncomplete as exc:
        return 500, {"error": exc.message, "errors": list(exc.errors)}
