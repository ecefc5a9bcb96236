"""What is counted is shown: a thread abandoned after a kill that did not free it is in
`/sessions` (`abandoned`), in `warden status` (a column once any is non-zero) and in
`warden_abandoned_total`, counted as it happens."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry

from actors.views import session_json
from runtime import ChildState, EventName, LifecycleEvent, Liveness, StatusBoard
from tests.actors.test_views import NOW, make_status
from tests.runtime.fakes import Harness
from warden.control import format_table
from warden.metrics import Metrics


def test_an_abandoned_thread_is_on_the_session_and_in_the_metric() -> None:
    harness = Harness()
    registry = CollectorRegistry()
    Metrics(registry, harness.board, events=harness.bus)
    try:
        probe = harness.probe
        runtime = harness.start(harness.spec(probe.spec(
            "acct-1", kind="session", shutdown_timeout=0.2,
            liveness=Liveness(heartbeat_timeout=None))))
        harness.wait_state("acct-1", ChildState.HEALTHY)
        harness.block("acct-1")  # blocked on something no kill frees
        kill_ran = threading.Event()
        probe.ctx("acct-1").add_kill_hook(kill_ran.set)
        assert registry.get_sample_value("warden_abandoned_total") == 0
        runtime.restart("acct-1")
        harness.events.wait("acct-1", EventName.CHILD_ABANDONED)
        assert kill_ran.is_set()
        assert registry.get_sample_value("warden_abandoned_total") == 1
        harness.wait_status("acct-1", lambda s: s.abandoned_threads == 1, "abandoned")
        status = harness.status("acct-1")
        assert session_json(status, NOW)["abandoned"] == 1
    finally:
        harness.close()


def test_the_metric_counts_every_child_as_it_happens_and_never_goes_back() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry, StatusBoard())
    for child, kind in (("acct-1", "session"), ("driver-1", "driver"), ("webhook", "")):
        metrics.observe(LifecycleEvent(name=EventName.CHILD_ABANDONED, supervisor="sessions",
                                       child=child, at=NOW, kind=kind))
    metrics.observe(LifecycleEvent(name=EventName.CHILD_KILLED, supervisor="sessions",
                                   child="acct-1", at=NOW, kind="session"))
    assert registry.get_sample_value("warden_abandoned_total") == 3


def test_status_shows_an_abandoned_column_only_once_one_is_not_zero() -> None:
    calm = [session_json(make_status("acct-1"), NOW), session_json(make_status("acct-2"), NOW)]
    assert "ABANDONED" not in format_table(calm, NOW)
    stuck = [calm[0], session_json(make_status("acct-2", abandoned_threads=2), NOW)]
    header, first, second = format_table(stuck, NOW).splitlines()
    assert header.split()[-1] == "ABANDONED"
    assert first.split()[-1] == "0" and second.split()[-1] == "2"
    assert header.index("ABANDONED") == second.rindex("2")
