"""A child record changes only through named transitions; its restarting and backoff are derived."""

from __future__ import annotations

from typing import Any

import pykka
import pytest

from runtime import ChildContext, ChildSpec, ChildState, FakeClock, Liveness, Reason, Scheduler
from runtime.records import After, ChildRecord

S = ChildState


def spec(**kwargs: Any) -> ChildSpec:
    return ChildSpec(id="a", start=lambda ctx: pytest.fail("not started here"), **kwargs)


def record(**kwargs: Any) -> ChildRecord:
    return ChildRecord(spec(**kwargs))


def begin(child: ChildRecord, now: float = 0.0) -> ChildContext:
    clock = FakeClock()
    ctx = ChildContext("a", child.incarnation + 1, lambda _: None, clock, Scheduler(clock))
    child.started(ctx, now)
    child.attached(_Ref())  # type: ignore[arg-type]
    return ctx


class _Ref:
    """Stands for a running actor's ref: the record only hands it on and reads its inbox."""

    actor_inbox: tuple[Any, ...] = ()  # no qsize: an inbox of unknown size reads as empty

    def tell(self, message: Any) -> None:
        raise pykka.ActorDeadError("not a real actor")


def test_a_new_record_is_stopped_and_has_no_incarnation() -> None:
    child = record()
    assert (child.state, child.incarnation, child.running) == (S.STOPPED, 0, False)
    assert child.released() is None


def test_a_started_child_is_healthy_after_its_first_heartbeat() -> None:
    child = record()
    begin(child)
    assert (child.state, child.incarnation, child.running) == (S.STARTING, 1, True)
    child.heartbeat(1.0)
    assert child.became_healthy(1.0) == (S.STARTING, None)
    assert child.state is S.HEALTHY


def test_a_child_in_a_batch_is_restarting_until_down_then_waits_in_backoff() -> None:
    child = record()
    ctx = begin(child)
    victim = child.stopping(7, After.RESTART)
    assert victim is not None and victim[1] is ctx
    assert (child.state, child.batch, child.running) == (S.RESTARTING, 7, False)
    assert child.down() is After.RESTART
    assert child.state is S.BACKOFF
    begin(child, 5.0)
    assert (child.state, child.batch, child.incarnation) == (S.STARTING, None, 2)


@pytest.mark.parametrize(("after", "settled"), [(After.STOP, S.STOPPED), (After.FAIL, S.FAILED)])
def test_a_child_stopped_for_good_settles_stopped_or_failed(
    after: After, settled: ChildState
) -> None:
    child = record()
    begin(child)
    child.stopping(1, after)
    assert child.down() is after
    child.stopped() if after is After.STOP else child.failed()
    assert (child.state, child.batch) == (settled, None)


def test_an_operator_can_change_what_happens_once_the_child_is_down() -> None:
    child = record()
    begin(child)
    child.stopping(1, After.RESTART)
    child.keep_down()
    assert child.down() is After.STOP
    child.restart_now()
    assert child.after is After.RESTART


def test_recovery_is_timed_from_the_restart_decision_and_only_once() -> None:
    child = record()
    begin(child)
    child.restart_decided(Reason.CANARY, 10.0)
    child.stopping(1, After.RESTART)
    child.down()
    begin(child, 12.0)
    assert child.became_healthy(13.5) == (S.STARTING, 3.5)
    assert child.last_reason is Reason.CANARY
    child.reported_unhealthy()
    assert child.became_healthy(20.0) == (S.UNHEALTHY, None)


def test_a_problem_is_news_once_and_a_healthy_report_clears_it() -> None:
    child = record()
    begin(child)
    assert child.auth_required()
    assert not child.auth_required()
    assert child.can_clear()
    child.became_healthy(1.0)
    assert not child.can_clear()


def test_counts_are_banked_when_an_incarnation_ends_and_never_go_back() -> None:
    child = record()
    first = begin(child)
    first.count("messages", 3)
    first.count("events")
    assert dict(child.totals()) == {"messages": 3, "events": 1}
    child.stopping(1, After.RESTART)
    child.down()
    first.count("messages", 100)  # an abandoned thread counting on: its incarnation has ended
    second = begin(child)
    second.count("messages", 2)
    assert dict(child.totals()) == {"messages": 5, "events": 1}
    status = child.status("sup", 0.0, 0.0)
    assert (status.messages, dict(status.totals)) == (5, {"messages": 5, "events": 1})


def test_a_stopping_supervisor_releases_only_children_still_running() -> None:
    child = record()
    begin(child)
    assert child.released() is not None
    assert child.state is S.STOPPED
    begin(child)
    child.stopping(1, After.RESTART)  # a reaper has it already
    assert child.released() is None
    assert (child.state, child.batch) == (S.STOPPED, None)


def test_an_offline_child_runs_is_cleared_like_any_problem_and_owes_no_activity() -> None:
    child = record(liveness=Liveness(heartbeat_timeout=None, activity_timeout=5.0))
    begin(child)
    assert child.went_offline()
    assert not child.went_offline()
    assert (child.state, child.running, child.can_clear()) == (S.OFFLINE, True, True)
    assert child.overdue(100.0) is None
    assert child.became_healthy(100.0) == (S.OFFLINE, None)
    assert child.overdue(100.0) == (Reason.ACTIVITY, "no activity for 100.0s")


def test_a_new_spec_takes_effect_with_the_next_incarnation() -> None:
    child = record()
    begin(child)
    new = spec(kind="session")
    child.respecified(new)
    victim = child.stopping(1, After.RESTART)
    assert victim is not None and victim[2] is not new  # it ends as its own spec says
    child.down()
    begin(child)
    assert child.spec is new
    assert child.status("sup", 0.0, 0.0).kind == "session"
