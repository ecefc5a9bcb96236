"""A loop thread runs coroutines and callbacks for other threads, and stop leaves nothing behind."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from runtime.loop_thread import LoopThread
from tests.helpers import WAIT


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    running = LoopThread("test-loop").start()
    yield running
    assert running.stop(WAIT)


def test_run_answers_the_coroutines_result_computed_on_the_loop_thread(
        loop_thread: LoopThread) -> None:
    async def where() -> str:
        await asyncio.sleep(0)
        return threading.current_thread().name

    assert loop_thread.run(where(), WAIT) == "test-loop"


def test_run_raises_what_the_coroutine_raised(loop_thread: LoopThread) -> None:
    async def fail() -> None:
        raise ValueError("broken on the loop")

    with pytest.raises(ValueError, match="broken on the loop"):
        loop_thread.run(fail(), WAIT)


def test_run_cancels_a_coroutine_that_outlasts_its_timeout(loop_thread: LoopThread) -> None:
    cancelled = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(TimeoutError):
        loop_thread.run(forever(), timeout=0.05)
    assert cancelled.wait(WAIT)


def test_submit_does_not_wait(loop_thread: LoopThread) -> None:
    gate = asyncio.Event()

    async def until_opened() -> int:
        await gate.wait()
        return 7

    future = loop_thread.submit(until_opened())
    assert not future.done()
    assert loop_thread.call_soon(gate.set)
    assert future.result(WAIT) == 7


def test_call_soon_runs_the_callback_on_the_loop_thread(loop_thread: LoopThread) -> None:
    ran_on: list[str] = []
    done = threading.Event()
    assert loop_thread.call_soon(lambda: (ran_on.append(threading.current_thread().name),
                                          done.set()))
    assert done.wait(WAIT)
    assert ran_on == ["test-loop"]


def test_stop_awaits_the_last_work_then_ends_the_thread_and_cancels_the_rest() -> None:
    loop_thread = LoopThread("test-stop").start()
    order: list[str] = []

    async def background() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            order.append("background cancelled")
            raise

    async def last() -> None:
        await asyncio.sleep(0)
        order.append("last")

    background_run = loop_thread.submit(background())
    assert loop_thread.stop(WAIT, last=last)
    assert order == ["last", "background cancelled"]
    assert background_run.cancelled()
    assert not [t for t in threading.enumerate() if t.name == "test-stop"]
    assert not loop_thread.call_soon(lambda: None)  # the loop is closed


def test_the_last_work_runs_in_the_stopping_task_so_it_may_cancel_every_other_task() -> None:
    loop_thread = LoopThread("test-cancel-others").start()
    finished = threading.Event()

    async def background() -> None:
        await asyncio.Event().wait()

    async def last() -> None:
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        finished.set()

    background_run = loop_thread.submit(background())
    assert loop_thread.stop(WAIT, last=last)
    assert finished.is_set()
    assert background_run.cancelled()


def test_stop_is_idempotent_and_work_after_it_is_refused() -> None:
    loop_thread = LoopThread("test-twice").start()
    lasts: list[int] = []

    async def last() -> None:
        lasts.append(1)

    assert loop_thread.stop(WAIT, last=last)
    assert loop_thread.stop(WAIT, last=last)
    assert lasts == [1]

    async def late() -> None:
        raise AssertionError("never runs")

    with pytest.raises(RuntimeError):
        loop_thread.run(late(), WAIT)  # closed without a "never awaited" warning


def test_a_failing_last_work_still_stops_the_loop(caplog: pytest.LogCaptureFixture) -> None:
    loop_thread = LoopThread("test-failing-last").start()

    async def last() -> None:
        raise OSError("socket trouble")

    assert loop_thread.stop(WAIT, last=last)
    assert "socket trouble" in caplog.text


def test_a_last_work_that_hangs_is_given_up_on_so_the_thread_still_ends(
        caplog: pytest.LogCaptureFixture) -> None:
    loop_thread = LoopThread("test-hanging-last").start()

    async def last() -> None:
        await asyncio.Event().wait()

    loop_thread.stop(0.05, last=last)  # may answer before the thread has quite ended
    assert loop_thread.stop(WAIT)
    assert "did not end within" in caplog.text


def test_stop_from_the_loops_own_thread_only_asks() -> None:
    loop_thread = LoopThread("test-self-stop").start()
    answered = threading.Event()

    def stop_from_inside() -> None:
        loop_thread.stop(WAIT)
        answered.set()

    assert loop_thread.call_soon(stop_from_inside)
    assert answered.wait(WAIT)
    assert loop_thread.stop(WAIT)


def test_it_starts_once_and_stop_before_start_is_a_no_op() -> None:
    loop_thread = LoopThread("test-once")
    assert loop_thread.stop(WAIT)
    assert not loop_thread.call_soon(lambda: None)
    loop_thread.start()
    with pytest.raises(RuntimeError, match="already started"):
        loop_thread.start()
    assert loop_thread.stop(WAIT)
