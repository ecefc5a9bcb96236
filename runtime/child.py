"""A supervised actor: a pykka actor that tells its supervisor about every way it ends."""

from __future__ import annotations

import threading
import traceback
from types import TracebackType
from typing import Any, ClassVar

import pykka

from runtime.context import ChildContext

__all__ = ["Aborted", "SupervisedActor"]


class SupervisedActor(pykka.ThreadingActor):
    """Base class for children. Subclasses override `started()`, `receive()` and `stopped()`,
    not pykka's hooks.

    pykka ends an actor three ways, and each is reported once through the context:
    an exception in `on_start` (no `on_failure`, no `on_stop`), an exception in a `tell`
    (`on_failure`), and a stop (`on_stop`). A BaseException (`sys.exit()` in a child) is
    turned into `Aborted`, a crash of this child alone. `stopped()` runs once on every one of
    them, on the actor's thread, so resources are freed however the actor ends.
    """

    # A hung thread that is abandoned must not keep the process alive at exit.
    use_daemon_thread: ClassVar[bool] = True

    def __init__(self, ctx: ChildContext) -> None:
        super().__init__()
        self.ctx = ctx
        self._cleaned_up = False

    def started(self) -> None:
        """Set up; runs on the actor's thread. An exception here is a crash."""

    def receive(self, message: Any) -> Any:
        """Handle one message (what pykka calls `on_receive`); an exception here is a crash."""
        return super().on_receive(message)

    def stopped(self) -> None:
        """Free resources; runs once on the actor's thread however the actor ends."""

    def on_start(self) -> None:
        self.ctx.thread = threading.current_thread()
        try:
            self.started()
        except Exception as exc:
            self._end(abnormal=True, error=_describe(exc))
            raise
        except BaseException as exc:  # pykka would let it end the thread without a word
            self._end(abnormal=True, error=_describe(exc))
            raise Aborted(_describe(exc)) from exc

    def on_receive(self, message: Any) -> Any:
        self.ctx.count("messages")
        try:
            return self.receive(message)
        except Exception:
            raise
        except BaseException as exc:  # pykka would stop every actor in the process
            raise Aborted(_describe(exc)) from exc

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._end(abnormal=True, error=_describe(exception_value))

    def on_stop(self) -> None:
        self._end(abnormal=False)

    def _end(self, *, abnormal: bool, error: str = "") -> None:
        if not self._cleaned_up:
            self._cleaned_up = True
            try:
                self.stopped()
            except BaseException as exc:  # even SystemExit: the supervisor must hear of the end
                abnormal, error = True, error or f"stopped(): {_describe(exc)}"
        self.ctx.exited(abnormal=abnormal, error=error)


class Aborted(RuntimeError):
    """A BaseException such as SystemExit escaped a child's code; for the child it is a crash.

    pykka stops every actor in the process on a BaseException from a message handler, and
    lets one from `on_start` end the thread unreported. Children turn it into this error.
    """


def _describe(exc: BaseException | None) -> str:
    """One line for events and webhooks: Playwright's errors append pages of browser logs."""
    if exc is None:
        return ""
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
