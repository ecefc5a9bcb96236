"""The status board: whole snapshots published by supervisors, read from any thread at no wait."""

from __future__ import annotations

import threading
from dataclasses import replace

from runtime import ChildState, ChildStatus, StatusBoard
from tests.runtime.fakes import WAIT


def status(child: str, supervisor: str = "sup", state: ChildState = ChildState.HEALTHY,
           at: float = 1.0) -> ChildStatus:
    return ChildStatus(id=child, supervisor=supervisor, state=state, restarts=0,
                       restarts_total=0, last_restart_reason=None, last_heartbeat=None,
                       last_activity=None, started_at=None, abandoned_threads=0, published_at=at)


def test_a_snapshot_replaces_the_previous_one_of_the_same_supervisor() -> None:
    board = StatusBoard()
    board.publish("sup", (status("a"), status("b")), ref="sup-ref")
    board.publish("other", (status("c", "other"),), ref="other-ref")
    board.publish("sup", (status("a", state=ChildState.BACKOFF),))
    assert [s.id for s in board.children()] == ["a", "c"]
    assert [s.id for s in board.children("other")] == ["c"]
    assert board.children("nobody") == ()
    assert board.get("a") is not None
    assert board.get("a").state is ChildState.BACKOFF  # type: ignore[union-attr]
    assert board.get("b") is None
    assert board.supervisor_of("a") == "sup-ref"  # the ref given earlier is kept
    assert board.supervisor_of("c") == "other-ref"
    assert board.supervisor_of("b") is None


def test_a_reader_that_waits_is_woken_by_the_publication_it_waits_for() -> None:
    board = StatusBoard()
    results: list[bool] = []
    waiting = threading.Event()

    def wait() -> None:
        waiting.set()
        results.append(board.wait_for(lambda b: b.get("late") is not None, WAIT))

    reader = threading.Thread(target=wait)
    reader.start()
    assert waiting.wait(WAIT)
    board.publish("sup", (status("early"),))
    board.publish("sup", (status("late"),))
    reader.join(WAIT)
    assert results == [True]


def test_waiting_for_what_never_comes_gives_up_after_its_timeout() -> None:
    assert StatusBoard().wait_for(lambda b: bool(b.children()), 0.01) is False


def test_a_forgotten_supervisor_leaves_the_board_with_the_supervisors_under_it() -> None:
    board = StatusBoard()
    board.publish("root", (status("mid", "root"), status("other", "root")), ref="root-ref")
    board.publish("mid", (status("inner", "mid"), status("leaf", "mid")), ref="mid-ref")
    board.publish("inner", (status("deep", "inner"),), ref="inner-ref")
    assert board.supervisor("mid") == "mid-ref"
    board.publish("root", (status("other", "root"),))  # root dropped mid, then forgets it
    board.forget("mid")
    assert [s.id for s in board.children()] == ["other"]
    assert (board.supervisor("mid"), board.supervisor("inner")) == (None, None)
    assert board.supervisor_of("other") == "root-ref"
    board.forget("nobody")
    assert [s.id for s in board.children()] == ["other"]


def test_children_of_a_kind_are_found_under_every_supervisor_in_a_stable_order() -> None:
    board = StatusBoard()

    def of(supervisor: str, *children: tuple[str, str]) -> tuple[ChildStatus, ...]:
        return tuple(replace(status(c, supervisor), kind=kind) for c, kind in children)

    board.publish("shard-2", of("shard-2", ("driver-2", "driver"), ("s2a", "session")))
    board.publish("shard-1", of("shard-1", ("s1b", "session"), ("s1a", "session")))
    board.publish("shard-2", of("shard-2", ("driver-2", "driver"), ("s2a", "session"),
                                ("s2b", "session")))  # published again: keeps its place
    assert [s.id for s in board.of_kind("session")] == ["s2a", "s2b", "s1b", "s1a"]
    assert [s.id for s in board.of_kind("driver")] == ["driver-2"]
    assert board.of_kind("nothing") == ()
