"""Restart intensity: at most max_restarts inside the window; reset_after healthy clears it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from runtime import RestartBudget, decide_restart, in_window

budgets = st.builds(
    RestartBudget,
    max_restarts=st.integers(0, 10),
    window=st.floats(0.001, 10_000.0),
    reset_after=st.floats(0.001, 10_000.0),
)
gaps = st.lists(st.floats(0.0, 1_000.0), max_size=30)


def test_the_fourth_failure_inside_the_window_is_exhausted() -> None:
    budget = RestartBudget(max_restarts=3, window=600.0)
    restarts: tuple[float, ...] = ()
    attempts = []
    for now in (0.0, 10.0, 20.0):
        decision = decide_restart(restarts, now, budget, healthy_since=None)
        restarts = decision.restarts
        attempts.append(decision.attempt)
    assert attempts == [1, 2, 3]
    fourth = decide_restart(restarts, 30.0, budget, healthy_since=None)
    assert fourth.exhausted
    assert fourth.attempt == 0
    assert fourth.restarts == (0.0, 10.0, 20.0)


def test_restarts_older_than_the_window_stop_counting() -> None:
    budget = RestartBudget(max_restarts=3, window=600.0)
    restarts = (0.0, 10.0, 20.0)
    assert in_window(restarts, 605.0, budget, None) == (10.0, 20.0)
    decision = decide_restart(restarts, 605.0, budget, None)
    assert not decision.exhausted
    assert decision.attempt == 3
    assert decision.restarts == (10.0, 20.0, 605.0)


def test_being_healthy_for_reset_after_clears_the_count() -> None:
    budget = RestartBudget(max_restarts=3, window=600.0, reset_after=300.0)
    restarts = (0.0, 10.0, 20.0)
    assert in_window(restarts, 319.0, budget, healthy_since=20.0) == restarts
    assert in_window(restarts, 320.0, budget, healthy_since=20.0) == ()
    decision = decide_restart(restarts, 320.0, budget, healthy_since=20.0)
    assert (decision.attempt, decision.restarts) == (1, (320.0,))


def test_a_zero_budget_is_exhausted_by_the_first_failure() -> None:
    assert decide_restart((), 0.0, RestartBudget(max_restarts=0), None).exhausted


@given(budgets, gaps, st.floats(0.0, 1_000.0))
def test_the_kept_restarts_never_exceed_the_budget_and_all_lie_in_the_window(
    budget: RestartBudget, failure_gaps: list[float], healthy_for: float
) -> None:
    restarts: tuple[float, ...] = ()
    now = 0.0
    for gap in failure_gaps:
        now += gap
        decision = decide_restart(restarts, now, budget, healthy_since=None)
        assert len(decision.restarts) <= budget.max_restarts
        assert all(now - t < budget.window for t in decision.restarts)
        assert decision.exhausted == (len(in_window(restarts, now, budget, None))
                                      >= budget.max_restarts)
        if not decision.exhausted:
            assert decision.attempt == len(decision.restarts)
            assert decision.restarts[-1] == now
        restarts = decision.restarts
    later = now + healthy_for
    kept = in_window(restarts, later, budget, healthy_since=now)
    if later - now >= budget.reset_after:
        assert kept == ()
    else:
        assert kept == tuple(t for t in restarts if later - t < budget.window)


@given(budgets, gaps)
def test_failures_spaced_wider_than_the_window_are_never_exhausted(
    budget: RestartBudget, failure_gaps: list[float]
) -> None:
    restarts: tuple[float, ...] = ()
    now = 0.0
    for gap in failure_gaps:
        now += budget.window * 1.01 + gap
        decision = decide_restart(restarts, now, budget, healthy_since=None)
        assert decision.exhausted == (budget.max_restarts == 0)
        restarts = decision.restarts
