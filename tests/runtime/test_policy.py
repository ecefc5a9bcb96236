"""The restart policy decides on plain data and a given `now`: no actor, thread or clock."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime import Backoff, OnExhausted, Reason, Restart, RestartBudget, Strategy
from runtime.policy import (
    ChildView,
    Decision,
    Escalate,
    Fault,
    GiveUp,
    Ignore,
    LetStop,
    RestartAfter,
    affected,
    decide,
    fresh_restart,
    start_by_hand,
)

budgets = st.builds(
    RestartBudget,
    max_restarts=st.integers(0, 8),
    window=st.floats(0.001, 10_000.0),
    backoff=st.builds(Backoff, initial=st.floats(0.001, 100.0), factor=st.floats(1.0, 5.0),
                      max=st.floats(0.001, 1_000.0), jitter=st.floats(0.0, 0.99)),
    reset_after=st.floats(0.001, 10_000.0),
    on_exhausted=st.sampled_from(OnExhausted),
    cooldown=st.none() | st.floats(0.0, 10_000.0),
)
gaps = st.lists(st.floats(0.0, 2_000.0), max_size=40)
rands = st.floats(0.0, 1.0, exclude_max=True)
strategies = st.sampled_from(Strategy)


def child(child_id: str = "a", *, budget: RestartBudget | None = None, running: bool = True,
          restart: Restart = Restart.PERMANENT, incarnation: int = 1) -> ChildView:
    return ChildView(id=child_id, incarnation=incarnation, running=running, restart=restart,
                     budget=budget or RestartBudget())


def crash(view: ChildView) -> Fault:
    return Fault(view.incarnation, Reason.CRASH, "boom")


def fail_repeatedly(
    view: ChildView, times: list[float], rand: float = 0.5
) -> list[tuple[float, Decision]]:
    """Fail `view` at each of `times` (never healthy in between); restarted as the policy says."""
    decisions = []
    for now in times:
        decision = decide(crash(view), view, [view], Strategy.ONE_FOR_ONE, now, rand)
        decisions.append((now, decision))
        if isinstance(decision, RestartAfter | GiveUp | Escalate):
            view = replace(view, restarts=decision.restarts, incarnation=view.incarnation + 1)
    return decisions


def times_of(failure_gaps: list[float]) -> list[float]:
    now, times = 0.0, []
    for gap in failure_gaps:
        now += gap
        times.append(now)
    return times


@given(budgets, gaps)
def test_never_more_than_max_restarts_are_decided_inside_any_window(
    budget: RestartBudget, failure_gaps: list[float]
) -> None:
    decisions = fail_repeatedly(child(budget=budget), times_of(failure_gaps))
    restarted = [now for now, d in decisions if isinstance(d, RestartAfter)]
    for start in restarted:
        inside = [t for t in restarted if start <= t < start + budget.window]
        assert len(inside) <= budget.max_restarts


@given(budgets, gaps)
def test_attempts_count_from_one_up_to_max_restarts_within_the_window(
    budget: RestartBudget, failure_gaps: list[float]
) -> None:
    decisions = fail_repeatedly(child(budget=budget), times_of(failure_gaps))
    restarted: list[float] = []
    for now, decision in decisions:
        if isinstance(decision, RestartAfter):
            earlier = [t for t in restarted if now - t < budget.window]
            assert 1 <= decision.attempt <= budget.max_restarts
            assert decision.attempt == len(earlier) + 1
            restarted.append(now)


@given(budgets, st.integers(1, 8), rands)
def test_each_delay_lies_within_the_jittered_backoff_of_its_attempt(
    budget: RestartBudget, failures: int, rand: float
) -> None:
    decisions = fail_repeatedly(child(budget=budget), [0.0] * failures, rand)
    b = budget.backoff
    for _, decision in decisions:
        if isinstance(decision, RestartAfter):
            base = min(b.max, b.initial * b.factor ** (decision.attempt - 1))
            assert (1 - b.jitter) * base - 1e-9 <= decision.delay <= (1 + b.jitter) * base + 1e-9


@given(budgets, gaps)
def test_an_exhausted_budget_gives_up_or_escalates_as_it_says(
    budget: RestartBudget, failure_gaps: list[float]
) -> None:
    view = child(budget=budget)
    for now, decision in fail_repeatedly(view, times_of(failure_gaps)):
        if isinstance(decision, RestartAfter):
            continue
        if budget.on_exhausted is OnExhausted.ESCALATE:
            assert isinstance(decision, Escalate)
        else:
            assert decision == GiveUp(restarts=decision.restarts, exhausted=True,
                                      retry_after=budget.cooldown)
        assert len(decision.restarts) == budget.max_restarts
        assert all(now - t < budget.window for t in decision.restarts)


def test_the_fourth_failure_inside_the_window_exhausts_the_default_budget() -> None:
    decisions = [d for _, d in fail_repeatedly(child(), [0.0, 10.0, 20.0, 30.0])]
    assert [d.attempt for d in decisions[:3] if isinstance(d, RestartAfter)] == [1, 2, 3]
    assert decisions[3] == GiveUp(restarts=(0.0, 10.0, 20.0), exhausted=True, retry_after=900.0)


@given(budgets.filter(lambda b: b.max_restarts > 0), st.floats(0.0, 10_000.0))
def test_being_healthy_for_reset_after_clears_the_count(
    budget: RestartBudget, healthy_for: float
) -> None:
    now = healthy_for  # healthy since 0, with a full budget spent just now
    view = replace(child(budget=budget), restarts=(now,) * budget.max_restarts, healthy_since=0.0)
    decision = decide(crash(view), view, [view], Strategy.ONE_FOR_ONE, now, 0.5)
    if healthy_for >= budget.reset_after:
        assert isinstance(decision, RestartAfter)
        assert (decision.attempt, decision.restarts) == (1, (now,))
    else:
        assert not isinstance(decision, RestartAfter)


@given(budgets, gaps)
def test_a_restart_by_hand_begins_a_fresh_budget(
    budget: RestartBudget, failure_gaps: list[float]
) -> None:
    times = times_of(failure_gaps)
    view = child(budget=budget)
    for _, decision in fail_repeatedly(view, times):
        if not isinstance(decision, Ignore):
            view = replace(view, restarts=decision.restarts)
    by_hand = fresh_restart(view)
    assert by_hand == RestartAfter(children=("a",), delay=0.0, attempt=0, restarts=())
    view = replace(view, restarts=by_hand.restarts)
    after = decide(crash(view), view, [view], Strategy.ONE_FOR_ONE, times[-1] if times else 0, 0.5)
    if budget.max_restarts > 0:
        assert isinstance(after, RestartAfter)
        assert after.attempt == 1
    else:
        assert isinstance(after, GiveUp | Escalate)


def test_a_child_given_up_without_a_cooldown_stays_failed() -> None:
    view = child(budget=RestartBudget(max_restarts=0, cooldown=None))
    decision = decide(crash(view), view, [view], Strategy.ONE_FOR_ONE, 0.0, 0.5)
    assert decision == GiveUp(restarts=(), exhausted=True, retry_after=None)


def test_a_start_by_hand_of_a_running_child_does_nothing() -> None:
    assert start_by_hand(child()) == Ignore()
    assert start_by_hand(child(running=False)) == fresh_restart(child(running=False))


sibling_sets = st.lists(st.booleans(), min_size=1, max_size=12).flatmap(
    lambda running: st.tuples(st.just(running), st.integers(0, len(running) - 1)))


@given(strategies, sibling_sets)
def test_each_strategy_restarts_the_right_siblings_in_start_order(
    strategy: Strategy, siblings_and_failed: tuple[list[bool], int]
) -> None:
    running, failed = siblings_and_failed
    running[failed] = True  # only a running child can fail
    siblings = [child(f"c{i}", running=r) for i, r in enumerate(running)]
    chosen = affected(strategy, siblings[failed], siblings)
    positions = [int(c[1:]) for c in chosen]
    assert positions == sorted(positions)
    assert f"c{failed}" in chosen
    if strategy is Strategy.ONE_FOR_ONE:
        assert chosen == (f"c{failed}",)
    elif strategy is Strategy.REST_FOR_ONE:
        assert positions == [i for i, r in enumerate(running) if i >= failed and r]
    else:
        assert positions == [i for i, r in enumerate(running) if r]


@given(strategies, sibling_sets, rands)
def test_a_restart_decision_names_the_children_the_strategy_affects(
    strategy: Strategy, siblings_and_failed: tuple[list[bool], int], rand: float
) -> None:
    running, failed = siblings_and_failed
    running[failed] = True
    siblings = [child(f"c{i}", running=r) for i, r in enumerate(running)]
    view = siblings[failed]
    decision = decide(crash(view), view, siblings, strategy, 0.0, rand)
    assert isinstance(decision, RestartAfter)
    assert decision.children == affected(strategy, view, siblings)


def test_late_news_of_an_earlier_incarnation_is_ignored() -> None:
    view = child(incarnation=3)
    assert decide(Fault(2, Reason.CRASH), view, [view], Strategy.ONE_FOR_ALL, 0.0, 0.5) == Ignore()


def test_news_of_a_child_no_longer_running_is_ignored() -> None:
    view = child(running=False)
    assert decide(crash(view), view, [view], Strategy.ONE_FOR_ONE, 0.0, 0.5) == Ignore()


@pytest.mark.parametrize(
    ("restart", "normal_exit", "expected"),
    [
        (Restart.PERMANENT, True, RestartAfter),
        (Restart.PERMANENT, False, RestartAfter),
        (Restart.TRANSIENT, True, LetStop),
        (Restart.TRANSIENT, False, RestartAfter),
        (Restart.TEMPORARY, True, LetStop),
        (Restart.TEMPORARY, False, GiveUp),
    ],
)
def test_restart_types_follow_otp(restart: Restart, normal_exit: bool, expected: type) -> None:
    view = child(restart=restart)
    fault = Fault(1, Reason.CRASH, normal_exit=normal_exit)
    decision = decide(fault, view, [view], Strategy.ONE_FOR_ONE, 0.0, 0.5)
    assert isinstance(decision, expected)
    if isinstance(decision, GiveUp):
        assert not decision.exhausted  # a temporary child is never restarted: nothing spent


def test_a_temporary_child_asked_to_be_replaced_is_given_up_without_spending_its_budget() -> None:
    view = replace(child(restart=Restart.TEMPORARY), restarts=(5.0,))
    decision = decide(Fault(1, Reason.MEMORY), view, [view], Strategy.ONE_FOR_ONE, 10.0, 0.5)
    assert decision == GiveUp(restarts=(5.0,), exhausted=False)


dependency_sets = st.lists(st.tuples(st.booleans(), st.integers(-1, 11)), min_size=1, max_size=12)


@given(dependency_sets, st.integers(0, 11))
def test_a_child_restarts_with_the_running_children_that_depend_on_it(
    children: list[tuple[bool, int]], failed: int
) -> None:
    failed %= len(children)
    # child i depends on an earlier child j < i when j >= 0 (a later one cannot be declared)
    depends = [d if 0 <= d < i else None for i, (_, d) in enumerate(children)]
    depended = {d for d in depends if d is not None}
    running = [r or i == failed for i, (r, _) in enumerate(children)]
    siblings = [ChildView(id=f"c{i}", incarnation=1, running=running[i],
                          restart=Restart.PERMANENT, budget=RestartBudget(),
                          depends_on=None if depends[i] is None else f"c{depends[i]}",
                          has_dependents=i in depended)
                for i in range(len(children))]
    expected = {failed}
    for i in range(len(children)):  # the closure, in start order
        if running[i] and depends[i] in expected:
            expected.add(i)
    chosen = affected(Strategy.ONE_FOR_ONE, siblings[failed], siblings)
    assert chosen == tuple(f"c{i}" for i in sorted(expected))
    assert fresh_restart(siblings[failed], siblings).children == chosen
