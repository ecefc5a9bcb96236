"""Lanes: each session's deliveries in order, one run at a time, a waiting lane holding back only
itself, the oldest head first when connections are scarce, and a pause that stops them all."""

from __future__ import annotations

from actors.lanes import Lanes
from actors.outbox_queue import Waiting

WALL = 1_800_000_000.0


def waiting(pos: int, session: str, failures: int = 0,
            next_attempt_at: float | None = None) -> Waiting:
    return Waiting(pos, session, failures, next_attempt_at)


def loaded(*items: Waiting, slots: int = 8, cap: int = 4) -> Lanes:
    lanes = Lanes(slots, cap)
    lanes.load(items, now=0.0, wall=WALL)
    return lanes


def test_each_session_is_a_lane_of_its_own_in_order() -> None:
    lanes = loaded(waiting(1, "a"), waiting(2, "b"), waiting(3, "a"))
    assert [w.pos for w in lanes.lanes["a"].queue] == [1, 3]
    assert [w.pos for w in lanes.lanes["b"].queue] == [2]
    assert lanes.scanned_to == 3


def test_a_lane_runs_one_run_at_a_time() -> None:
    lanes = loaded(waiting(1, "a"), waiting(2, "a"), waiting(3, "b"))
    ready = lanes.ready(now=0.0)
    assert [lane.session_id for lane in ready] == ["a", "b"]
    run = lanes.start(ready[0], size=10)
    assert [w.pos for w in run] == [1, 2]
    assert [lane.session_id for lane in lanes.ready(now=0.0)] == ["b"]
    lanes.delivered(ready[0], 1)
    lanes.delivered(ready[0], 2)
    lanes.finish(ready[0])
    assert "a" not in lanes.lanes  # an empty lane is forgotten


def test_a_retry_holds_back_only_its_own_lane() -> None:
    lanes = loaded(waiting(1, "a"), waiting(2, "a"), waiting(3, "b"))
    a = lanes.lanes["a"]
    lanes.start(a, 10)
    lanes.retry(a, 1, until=5.0)
    lanes.finish(a)
    assert a.queue[0].failures == 1 and [w.pos for w in a.queue] == [1, 2]
    assert [lane.session_id for lane in lanes.ready(now=1.0)] == ["b"]
    assert lanes.next_wake(now=1.0) == 5.0
    assert [lane.session_id for lane in lanes.ready(now=5.0)] == ["a", "b"]


def test_scarce_connections_go_to_the_oldest_head_first() -> None:
    lanes = loaded(waiting(5, "late"), waiting(1, "early"), waiting(3, "middle"), slots=2)
    assert [lane.session_id for lane in lanes.ready(0.0)] == ["early", "middle"]
    lanes.start(lanes.lanes["early"], 1)
    assert [lane.session_id for lane in lanes.ready(0.0)] == ["middle"]
    lanes.start(lanes.lanes["middle"], 1)
    assert lanes.ready(0.0) == []


def test_a_lane_holds_at_most_cap_and_refills_from_the_outbox() -> None:
    lanes = loaded(*[waiting(p, "a") for p in range(1, 8)], waiting(8, "b"), cap=4)
    a = lanes.lanes["a"]
    assert [w.pos for w in a.queue] == [1, 2, 3, 4] and a.overflow
    assert lanes.to_refill() == []  # still full
    lanes.start(a, 3)
    for pos in (1, 2, 3):
        lanes.delivered(a, pos)
    lanes.finish(a)
    assert lanes.to_refill() == [a]
    lanes.refill("a", [waiting(5, "a"), waiting(6, "a"), waiting(7, "a")], asked=4, now=0.0,
                 wall=WALL)
    assert [w.pos for w in a.queue] == [4, 5, 6, 7] and not a.overflow
    lanes.load([waiting(7, "a"), waiting(9, "a")], now=0.0, wall=WALL)  # a later scan
    assert [w.pos for w in a.queue] == [4, 5, 6, 7]  # 7 not twice; 9 waits: the lane is full


def test_a_retry_time_stored_in_the_outbox_is_honoured_after_a_restart() -> None:
    lanes = loaded(waiting(1, "a", failures=2, next_attempt_at=WALL + 30.0))
    assert lanes.ready(now=0.0) == []
    assert lanes.next_wake(now=0.0) == 30.0
    assert [lane.session_id for lane in lanes.ready(now=30.0)] == ["a"]


def test_a_pause_stops_every_lane_and_one_probe_goes_at_its_time() -> None:
    lanes = loaded(waiting(1, "a"), waiting(2, "b"))
    a = lanes.lanes["a"]
    lanes.start(a, 1)
    lanes.pause(a, until=15.0)
    lanes.finish(a)
    assert lanes.paused and lanes.ready(now=1.0) == []
    assert lanes.next_wake(now=1.0) == 15.0
    assert [lane.session_id for lane in lanes.ready(now=15.0)] == ["a"]  # the probe, alone
    lanes.start(a, 1)
    lanes.delivered(a, 1)  # it answered 2xx: every lane goes on
    lanes.finish(a)
    assert not lanes.paused and lanes.probes == 0
    assert [lane.session_id for lane in lanes.ready(now=15.0)] == ["b"]


def test_a_paused_endpoint_whose_probe_lane_went_probes_with_another() -> None:
    lanes = loaded(waiting(2, "b"))
    lanes.paused_until, lanes.probe = 10.0, "gone"
    assert [lane.session_id for lane in lanes.ready(now=10.0)] == ["b"]
