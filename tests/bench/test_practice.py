"""The side-by-side simulation's building blocks: the scenario, the model app, the monitor of
today's practice, and Warden's real runtime supervising model sessions on a fake clock."""

from __future__ import annotations

import pytest

from actors.policy import Policy
from bench.bench_practice import main
from bench.practice import (
    ChatApp,
    Fault,
    FaultKind,
    PracticePolicy,
    Scenario,
    SessionPlan,
    WardenRun,
    make_scenario,
    run_practice,
)
from bench.practice.report import summarize
from bench.practice.scenario import MIB

POLICY = Policy()  # Warden's default policy
PRACTICE = PracticePolicy()


def one_session(duration: float, *, arrivals: tuple[float, ...] = (),
                faults: tuple[tuple[FaultKind, float], ...] = (),
                profile: str = "quiet") -> Scenario:
    return Scenario(
        seed=1, duration=duration,
        sessions=(SessionPlan("s", profile, 0.0, arrivals),),
        faults=tuple(Fault(kind, "s", at) for kind, at in faults))


def every(seconds: float, duration: float) -> tuple[float, ...]:
    return tuple(float(t) for t in range(int(seconds), int(duration), int(seconds)))


# --- the scenario ---------------------------------------------------------------------------


def test_a_scenario_is_built_again_the_same_from_its_seed() -> None:
    assert make_scenario(5, hours=3) == make_scenario(5, hours=3)
    assert make_scenario(5, hours=3) != make_scenario(6, hours=3)


def test_a_scenario_has_each_fault_kind_the_asked_number_of_times_inside_the_day() -> None:
    scenario = make_scenario(11, sessions=10, hours=24, faults_per_kind=2)
    kinds = [f.kind for f in scenario.faults]
    assert sorted(kinds) == sorted([*FaultKind, *FaultKind])
    assert all(0 < f.at < scenario.duration for f in scenario.faults)
    ids = {p.id for p in scenario.sessions}
    assert all(f.session in ids for f in scenario.faults)


def test_messages_lull_at_night_and_quiet_sessions_go_hours_without_any() -> None:
    scenario = make_scenario(3, sessions=5, hours=24)
    busy = next(p for p in scenario.sessions if p.profile == "busy")
    night = sum(1 for t in busy.arrivals if t < 7 * 3600)
    day = sum(1 for t in busy.arrivals if 9 * 3600 <= t < 16 * 3600)
    assert night * 5 < day
    quiet = next(p for p in scenario.sessions if p.profile == "quiet")
    gaps = [b - a for a, b in zip((0.0, *quiet.arrivals), (*quiet.arrivals, 86400.0),
                                  strict=True)]
    assert max(gaps) > 3 * 3600


# --- the model app --------------------------------------------------------------------------


def test_the_app_holds_what_a_deaf_session_misses_and_delivers_it_on_the_next_connection() -> None:
    app = ChatApp(one_session(100.0, arrivals=(5.0, 12.0, 20.0),
                              faults=((FaultKind.SILENT, 10.0),)))
    first = app.connect("s", 0.0)
    app.strike(10.0)
    assert app.take(first, 30.0) == [5.0]
    assert not app.echoes(first, 30.0)
    decision = app.restart("s", 30.0, "canary")
    assert decision.fault is FaultKind.SILENT
    second = app.connect("s", 32.0)
    assert app.echoes(second, 32.0)
    assert app.take(second, 32.0) == [32.0, 32.0]
    assert app.deliveries("s") == [(5.0, 5.0), (12.0, 32.0), (20.0, 32.0)]
    record = app.faults[0]
    assert (record.detected_at, record.recovered_at, record.reason) == (30.0, 32.0, "canary")


def test_a_leaking_page_answers_until_it_thrashes_then_hangs() -> None:
    scenario = one_session(10_000.0, faults=((FaultKind.LEAK, 100.0),))
    app = ChatApp(scenario)
    conn = app.connect("s", 0.0)
    app.strike(100.0)
    assert app.memory(conn, 110.0) == scenario.base_memory + 10 * scenario.leak_rate
    thrash = scenario.deaf_at(scenario.faults[0])
    assert app.echoes(conn, thrash - 1)
    assert app.symptom(conn, thrash).value == "hung"


# --- today's practice -----------------------------------------------------------------------


def test_the_monitor_restarts_a_quiet_healthy_session_after_30_minutes_without_messages() -> None:
    scenario = one_session(3600.0)
    app, _ = run_practice(scenario, PRACTICE)
    first = app.restarts[0]
    up = scenario.launch  # its ready event is its last sign of life
    assert PRACTICE.inactive_after < first.at - up <= PRACTICE.inactive_after + PRACTICE.check_every
    assert first.fault is None and first.reason == "activity"
    summary = summarize("practice", scenario, app, 0)
    assert summary.false_restarts == summary.quiet_false_restarts == len(app.restarts) >= 1


def test_the_monitor_leaves_a_session_with_traffic_alone() -> None:
    scenario = one_session(3 * 3600.0, arrivals=every(600, 3 * 3600), profile="normal")
    app, monitor = run_practice(scenario, PRACTICE)
    assert app.restarts == []
    assert monitor.give_ups == 0


def test_the_monitor_gives_up_after_three_attempts_and_then_misses_a_real_fault() -> None:
    scenario = one_session(5 * 3600.0, arrivals=(4 * 3600.0 + 60,),
                           faults=((FaultKind.SILENT, 3 * 3600.0),))
    app, monitor = run_practice(scenario, PRACTICE)
    assert len(app.restarts) == PRACTICE.attempts
    assert monitor.give_ups == 1
    assert app.faults[0].detected_at is None
    assert app.deliveries("s") == [(4 * 3600.0 + 60, None)]  # held to the end of the day


def test_the_lenient_monitor_never_gives_up_and_catches_the_fault_within_35_minutes() -> None:
    lenient = PracticePolicy(reset_on_ready=True)
    scenario = one_session(5 * 3600.0, faults=((FaultKind.SILENT, 3 * 3600.0),))
    app, monitor = run_practice(scenario, lenient)
    assert monitor.give_ups == 0
    detected = app.faults[0].detected_at
    assert detected is not None
    assert detected - 3 * 3600.0 <= lenient.inactive_after + lenient.check_every


# --- Warden's runtime on the model ------------------------------------------------------------


def warden(scenario: Scenario) -> ChatApp:
    return WardenRun(scenario, POLICY).run()


def test_warden_restarts_a_silent_session_for_canary_within_interval_times_failures_plus_timeout(
) -> None:
    canary = POLICY.canary
    assert canary is not None
    onset = 300.0
    scenario = one_session(400.0, arrivals=(onset + 1, onset + 5), profile="normal",
                           faults=((FaultKind.SILENT, onset),))
    app = warden(scenario)
    record = app.faults[0]
    assert record.reason == "canary"
    assert record.detected_at is not None
    assert record.detected_at - onset <= canary.interval * canary.failures + canary.timeout
    assert record.recovered_at is not None
    assert [d for _, d in app.deliveries("s")] == [record.recovered_at] * 2
    assert len(app.restarts) == 1


@pytest.mark.parametrize(("kind", "reason"), [
    (FaultKind.HANG, "heartbeat"),
    (FaultKind.CRASH, "crash"),
    (FaultKind.LEAK, "memory"),
])
def test_warden_restarts_a_faulty_session_for_the_reason_its_fault_shows(
    kind: FaultKind, reason: str,
) -> None:
    onset = 120.0
    scenario = one_session(420.0, faults=((kind, onset),))
    app = warden(scenario)
    record = app.faults[0]
    assert record.reason == reason
    assert record.detected_at is not None and record.recovered_at is not None
    bound = {  # what the policy allows, plus one step of the simulation
        FaultKind.HANG: POLICY.heartbeat_timeout + 1,
        FaultKind.CRASH: 1.0,
        FaultKind.LEAK: (500 * MIB - scenario.base_memory) / scenario.leak_rate + 2 * 2.0 + 1,
    }[kind]
    assert record.detected_at - onset <= bound
    assert record.recovered_at > record.detected_at
    assert [r.fault for r in app.restarts] == [kind]


def test_warden_never_restarts_a_quiet_healthy_session() -> None:
    scenario = one_session(2 * 3600.0)  # four times the 30-minute activity timeout
    app = warden(scenario)
    assert app.restarts == []
    assert app.connections("s") == 1


def test_a_run_that_ends_while_a_session_hangs_leaves_nothing_running() -> None:
    app = warden(one_session(60.0, faults=((FaultKind.HANG, 57.0),)))
    assert app.faults[0].detected_at is None  # the conftest checks no thread is left behind


# --- the benchmark as a whole -----------------------------------------------------------------


def test_the_benchmark_prints_its_seed_and_returns_figures_for_both_designs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    figures = main(seed=3, sessions=4, hours=3, faults_per_kind=1)
    out = capsys.readouterr().out
    assert "seed 3" in out
    assert "| figure |" in out
    assert figures["seed"] == 3 and figures["faults"] == 4
    assert figures["warden_false_restarts"] == 0
    for kind in FaultKind:
        assert figures[f"warden_{kind}_never_detected"] == 0
    assert figures["practice_false_restarts"] > 0  # quiet and night-time sessions get restarted
    assert {row["figure"] for row in figures["comparison"]} >= {
        "false restarts (of quiet sessions)", "messages delayed"}
