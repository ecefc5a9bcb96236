"""A hangup (SIGHUP) asks `warden run` to reload; the reload runs on a thread of its own.

The signal handler only sets a flag, so it never blocks the main thread (which pings systemd's
watchdog) while sessions are stopped and started. Hangups that come while a reload runs make
one more reload after it, which reads the file as it is then: none is lost, none is repeated.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from warden.reload import ReloadError

__all__ = ["Hangups"]

logger = logging.getLogger("warden.reload")


class Hangups:
    """Runs `reload` once per burst of `request()`s, on the thread `warden-reload`."""

    def __init__(self, reload: Callable[[], object]) -> None:
        self._reload = reload
        self._wanted = threading.Event()
        self._asked = False
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="warden-reload", daemon=True)

    def request(self) -> None:
        """Ask for a reload (in a signal handler too): it runs once the thread has started."""
        self._asked = True
        self._wanted.set()

    def start(self) -> Hangups:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """No reload after the one under way or asked for (which is answered, if only with a
        refusal, so that every hangup is in the log); waits up to `timeout` for it."""
        self._stopping = True
        self._wanted.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            asked, self._asked = self._asked, False  # asks merged here: the file is read next
            if asked:
                self._once()
            if self._stopping:
                return

    def _once(self) -> None:
        logger.info("SIGHUP: reloading")
        try:
            self._reload()
        except ReloadError:
            pass  # logged where it was refused
        except Exception:
            logger.exception("reload after SIGHUP failed")
