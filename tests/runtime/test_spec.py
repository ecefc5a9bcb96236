"""Specs: liveness deadlines as a pure function, and supervisor specs validated once."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime import Liveness, Reason, SupervisorSpec

times = st.floats(0.0, 1e6)
timeouts = st.one_of(st.none(), st.floats(0.001, 1e4))


def test_a_child_that_never_heartbeated_is_timed_from_its_start() -> None:
    liveness = Liveness(heartbeat_timeout=10.0)
    assert liveness.overdue(110.0, 100.0, None, None) is None
    assert liveness.overdue(110.5, 100.0, None, None) == (
        Reason.HEARTBEAT, "no heartbeat for 10.5s")


def test_a_start_timeout_gives_a_starting_child_longer_for_its_first_heartbeat() -> None:
    liveness = Liveness(heartbeat_timeout=10.0, start_timeout=60.0)
    assert liveness.overdue(150.0, 100.0, None, None) is None
    assert liveness.overdue(160.5, 100.0, None, None) == (
        Reason.HEARTBEAT, "no heartbeat for 60.5s")
    assert liveness.overdue(161.0, 100.0, 150.0, None) == (  # running: the usual deadline
        Reason.HEARTBEAT, "no heartbeat for 11.0s")


def test_a_heartbeat_moves_the_deadline() -> None:
    liveness = Liveness(heartbeat_timeout=10.0)
    assert liveness.overdue(115.0, 100.0, 106.0, None) is None
    assert liveness.overdue(116.5, 100.0, 106.0, None) == (
        Reason.HEARTBEAT, "no heartbeat for 10.5s")


def test_a_silent_child_is_late_for_its_heartbeat_before_its_activity() -> None:
    liveness = Liveness(heartbeat_timeout=10.0, activity_timeout=5.0)
    assert liveness.overdue(200.0, 100.0, None, None)[0] is Reason.HEARTBEAT  # type: ignore[index]
    assert liveness.overdue(200.0, 100.0, 199.0, None) == (
        Reason.ACTIVITY, "no activity for 100.0s")


def test_activity_is_not_watched_when_told_so() -> None:
    liveness = Liveness(heartbeat_timeout=None, activity_timeout=5.0)
    assert liveness.overdue(200.0, 100.0, None, None, watch_activity=False) is None


@given(timeouts, timeouts, times, times, st.one_of(st.none(), times),
       st.one_of(st.none(), times))
def test_overdue_exactly_when_a_deadline_has_passed(
    heartbeat: float | None, activity: float | None, start: float, elapsed: float,
    beat: float | None, seen: float | None,
) -> None:
    now = start + elapsed
    liveness = Liveness(heartbeat_timeout=heartbeat, activity_timeout=activity)
    late_beat = heartbeat is not None and now - (start if beat is None else beat) > heartbeat
    late_activity = activity is not None and now - (start if seen is None else seen) > activity
    missed = liveness.overdue(now, start, beat, seen)
    if late_beat:
        assert missed is not None and missed[0] is Reason.HEARTBEAT
    elif late_activity:
        assert missed is not None and missed[0] is Reason.ACTIVITY
    else:
        assert missed is None


def test_a_supervisor_tick_must_be_positive() -> None:
    with pytest.raises(ValueError, match="tick must be positive"):
        SupervisorSpec(id="s", children=(), tick=0.0)
