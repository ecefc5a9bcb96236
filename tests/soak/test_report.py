"""The soak's verdicts on made-up records: each broken promise is caught, and the allowed
irregularities (duplicates, faults swallowed by a restart already under way) are not failures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from tests.soak.injector import Fault, Injection
from tests.soak.receiver import Received
from tests.soak.report import Report, analyse
from tests.soak.verdicts import metrics_mismatch
from tests.soak.workload import Pushed, Sample

T0 = 1_800_000_000.0


def event(session: str, seq: int, type: str, at: float, data: Mapping[str, Any] | None = None,
          id: str | None = None) -> Received:
    stamp = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")
    event_id = id or f"evt_{session}_{seq}"
    return Received(webhook_id=event_id, id=event_id, type=type, session_id=session, seq=seq,
                    timestamp=stamp.replace("+00:00", "Z"), data=dict(data or {}),
                    received_at=at + 0.1)


def restarting(session: str, seq: int, at: float, reason: str) -> Received:
    return event(session, seq, "session.restarting", at, {"reason": reason})


def message(session: str, seq: int, at: float, message_id: str, body: str = "hi") -> Received:
    return event(session, seq, "message.received", at,
                 {"message_id": message_id, "body": body})


def report_of(events: Sequence[Received], injections: Sequence[Injection] = (),
              pushed: Sequence[Pushed] = (), samples: Sequence[Sample] = ()) -> Report:
    report = Report(seed=1, seconds=60)
    report.exit_code = 0
    return analyse(report, pushed, events, injections, samples, [T0 - 100])


def test_a_fault_met_by_the_restart_it_should_cause_passes() -> None:
    report = report_of([restarting("a", 1, T0 + 5, "canary")],
                       [Injection(T0, Fault.SILENT, "a")])
    assert [o.verdict for o in report.outcomes] == ["detected"]
    assert report.outcomes[0].latency == 5.0
    assert report.problems(None) == []


def test_a_fault_without_a_restart_is_missed() -> None:
    report = report_of([restarting("b", 1, T0 + 5, "heartbeat")],
                       [Injection(T0, Fault.HANG, "a")])
    assert [o.verdict for o in report.outcomes] == ["missed"]
    assert [r.session for r in report.unexplained] == ["b"]
    assert any("hang on a" in p for p in report.problems(None))


def test_a_restart_for_another_reason_after_the_fault_is_a_wrong_reason() -> None:
    report = report_of([restarting("a", 1, T0 + 8, "canary")], [Injection(T0, Fault.LEAK, "a")])
    assert [(o.verdict, o.reason) for o in report.outcomes] == [("wrong_reason", "canary")]
    assert len(report.problems(None)) == 1
    assert len(report.problems(None, loaded_host=True)) == 1


def test_on_a_loaded_host_a_fault_beaten_by_a_heartbeat_restart_is_forgiven() -> None:
    report = report_of([restarting("a", 1, T0 + 8, "heartbeat")], [Injection(T0, Fault.LEAK, "a")])
    assert len(report.problems(None)) == 1
    assert report.problems(None, loaded_host=True) == []


def test_a_wrong_reason_the_run_also_shows_without_any_fault_is_only_reported() -> None:
    report = report_of([restarting("a", 1, T0 + 8, "heartbeat"),
                        restarting("b", 1, T0 + 30, "heartbeat")],
                       [Injection(T0, Fault.LEAK, "a")])
    assert [o.verdict for o in report.outcomes] == ["wrong_reason"]
    assert [(r.session, r.reason) for r in report.unexplained] == [("b", "heartbeat")]
    assert report.problems(None) == []


def test_a_fault_on_a_session_already_restarting_or_a_killed_runtime_is_swallowed() -> None:
    report = report_of(
        [restarting("a", 1, T0 + 0.3, "canary")],
        [Injection(T0, Fault.HANG, "a"), Injection(T0 + 10, Fault.LEAK, "b"),
         Injection(T0 + 12, Fault.RUNTIME_KILL, None)])
    assert [o.verdict for o in report.outcomes] == [
        "already_restarting", "runtime_killed", "done"]
    assert report.problems(None) == []


def test_a_logout_is_met_by_auth_required_and_spends_no_restart() -> None:
    report = report_of([event("a", 1, "session.auth_required", T0 + 1)],
                       [Injection(T0, Fault.LOGOUT, "a", until=T0 + 5)])
    assert [o.verdict for o in report.outcomes] == ["detected"]
    assert report.problems(None) == []
    report = report_of([], [Injection(T0, Fault.LOGOUT, "a", until=T0 + 5)])
    assert [o.verdict for o in report.outcomes] == ["missed"]


def test_every_pushed_message_must_arrive_but_duplicates_are_only_counted() -> None:
    pushed = [Pushed("a", "m1", "hi", T0), Pushed("a", "m2", "hi", T0), Pushed("a", "m3", "hi", T0)]
    events = [message("a", 1, T0 + 1, "m1"), message("a", 2, T0 + 1, "m2"),
              message("a", 3, T0 + 2, "m1")]
    report = report_of(events, pushed=pushed)
    assert (report.delivered_unique, report.message_duplicates, report.missing) == (2, 1, ["m3"])
    assert len(report.problems(None)) == 1


def test_seq_must_run_from_one_without_gaps_conflicts_or_reordering() -> None:
    events = [event("a", 1, "session.started", T0), event("a", 3, "session.started", T0),
              event("a", 2, "session.started", T0), event("b", 1, "session.started", T0),
              event("b", 1, "session.started", T0, id="evt_other"),
              event("c", 2, "session.started", T0)]
    report = report_of(events)
    assert report.seq_gaps == {"c": [1]}
    assert report.out_of_order == 1
    assert len(report.seq_conflicts) == 1 and "b seq 1" in report.seq_conflicts[0]


def test_a_redelivered_event_is_a_duplicate_not_a_gap() -> None:
    events = [event("a", 1, "session.started", T0), event("a", 2, "session.started", T0),
              event("a", 1, "session.started", T0), event("a", 2, "session.started", T0)]
    report = report_of(events)
    assert (report.event_duplicates, report.out_of_order, report.seq_gaps) == (2, 0, {})
    assert report.problems(None) == []


def test_memory_growth_fails_only_beyond_the_bound() -> None:
    samples = [Sample(T0 + i, 1, 100 * 2**20 * (1 + i // 3), 0, 2**30, 40) for i in range(9)]
    report = report_of([], samples=samples)
    first, last = report.memory["runtime RSS"]
    assert last == 3 * first
    assert report.problems(None) == []
    assert any("runtime RSS grew" in p for p in report.problems(0.5))
    assert not any("browsers PSS" in p for p in report.problems(0.5))


def test_metrics_must_count_the_restarts_the_webhooks_told_of_since_the_last_start() -> None:
    events = [restarting("a", 1, T0 - 10, "crash"), restarting("a", 2, T0 + 1, "crash"),
              restarting("a", 3, T0 + 2, "manual")]
    assert metrics_mismatch({("a", "crash"): 1, ("a", "manual"): 1}, events, T0) == []
    assert metrics_mismatch({("a", "crash"): 2, ("a", "manual"): 1}, events, T0) != []
    assert metrics_mismatch({("a", "crash"): 1}, events, T0) != []


def test_a_failed_session_a_bad_signature_and_a_dirty_exit_are_problems() -> None:
    report = report_of([event("a", 1, "session.health_failed", T0, {"reason": "crash"})])
    report.counts = {"bad_signatures": 1}
    report.exit_code = 1
    report.leftovers = ["123 chromium"]
    assert len(report.problems(None)) == 4
