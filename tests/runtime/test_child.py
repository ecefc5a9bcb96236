"""A supervised actor reports each way a pykka actor can end exactly once, after cleaning up."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pykka
import pytest

from runtime import ChildContext, FakeClock, Scheduler, SupervisedActor
from runtime.messages import ChildExited
from tests.runtime.fakes import WAIT


class Reports:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.messages: list[object] = []

    def __call__(self, message: object) -> None:
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()

    def exits(self) -> list[ChildExited]:
        return [m for m in self.messages if isinstance(m, ChildExited)]

    def wait_exit(self) -> ChildExited:
        with self._cond:
            assert self._cond.wait_for(lambda: bool(self.exits()), WAIT), self.messages
        return self.exits()[0]


class Fragile(SupervisedActor):
    def __init__(self, ctx: ChildContext, fail_in: str, cleanups: list[str]) -> None:
        super().__init__(ctx)
        self.fail_in = fail_in
        self.cleanups = cleanups

    def started(self) -> None:
        if self.fail_in == "started":
            raise ValueError("cannot start")

    def receive(self, message: Any) -> Any:
        if message == "crash":
            raise ValueError("cannot handle")
        if message == "ask-crash":
            raise ValueError("only the caller hears this")
        return message

    def stopped(self) -> None:
        self.cleanups.append("stopped")
        if self.fail_in == "stopped":
            raise OSError("cannot clean up")
        if self.fail_in == "stopped-exit":
            raise SystemExit(5)


Started = tuple[pykka.ActorRef[Any], list[str], ChildContext]
_started: list[ChildContext] = []


@pytest.fixture
def reports() -> Iterator[Reports]:
    yield Reports()
    for ctx in _started:  # the report comes just before pykka lets go of the thread
        if ctx.thread is not None:
            ctx.thread.join(WAIT)
    _started.clear()


def start(reports: Reports, fail_in: str = "") -> Started:
    cleanups: list[str] = []
    ctx = ChildContext("c", 3, reports, FakeClock(), Scheduler(FakeClock()))
    _started.append(ctx)
    ref = Fragile.start(ctx, fail_in, cleanups)
    return ref, cleanups, ctx


def test_an_exception_in_started_is_an_abnormal_end(reports: Reports) -> None:
    _, cleanups, _ = start(reports, fail_in="started")
    exited = reports.wait_exit()
    assert (exited.child_id, exited.incarnation, exited.abnormal) == ("c", 3, True)
    assert "ValueError: cannot start" in exited.error
    assert cleanups == ["stopped"]


def test_an_exception_in_receive_is_an_abnormal_end(reports: Reports) -> None:
    ref, cleanups, _ = start(reports)
    ref.tell("crash")
    exited = reports.wait_exit()
    assert exited.abnormal
    assert "ValueError: cannot handle" in exited.error
    assert cleanups == ["stopped"]


def test_a_plain_stop_from_outside_is_a_normal_end(reports: Reports) -> None:
    ref, cleanups, ctx = start(reports)
    ref.stop()
    exited = reports.wait_exit()
    assert (exited.abnormal, exited.error) == (False, "")
    assert cleanups == ["stopped"]
    assert ctx.has_exited


def test_a_failing_cleanup_makes_a_normal_end_abnormal(reports: Reports) -> None:
    ref, cleanups, _ = start(reports, fail_in="stopped")
    ref.stop()
    exited = reports.wait_exit()
    assert exited.abnormal
    assert "stopped(): OSError: cannot clean up" in exited.error
    assert cleanups == ["stopped"]


def test_even_sys_exit_in_cleanup_is_reported_as_an_abnormal_end(reports: Reports) -> None:
    ref, _, _ = start(reports, fail_in="stopped-exit")
    ref.stop()
    exited = reports.wait_exit()
    assert exited.abnormal
    assert "stopped(): SystemExit: 5" in exited.error


def test_an_exception_in_an_ask_goes_to_the_caller_and_the_actor_lives_on(
    reports: Reports,
) -> None:
    ref, cleanups, ctx = start(reports)
    with pytest.raises(ValueError, match="only the caller"):
        ref.ask("ask-crash", timeout=WAIT)
    assert ref.ask("still here", timeout=WAIT) == "still here"
    assert ctx.messages == 2
    ref.stop()
    assert [e.abnormal for e in [reports.wait_exit()]] == [False]
    assert len(reports.exits()) == 1
    assert cleanups == ["stopped"]


def test_its_thread_is_a_daemon_known_to_its_context(reports: Reports) -> None:
    ref, _, ctx = start(reports)
    assert ref.ask("ping", timeout=WAIT) == "ping"
    assert ctx.thread is not None and ctx.thread.daemon
    ref.stop()
    ctx.thread.join(WAIT)


def test_an_error_is_described_by_its_first_line() -> None:
    from runtime.child import _describe

    error = RuntimeError("Target closed\nBrowser logs:\n\n<launching> /usr/bin/chromium ...")
    assert _describe(error) == "RuntimeError: Target closed"
    assert _describe(None) == ""
