"""End to end under fire: `warden run` with five simulator sessions, a steady flow of messages,
and a random fault every few seconds (silent, hung, killed and leaking browsers, logouts, manual
restarts, a webhook receiver that goes down, kill -9 of the runtime itself). Nothing may be
lost, every fault must meet the right restart, and the runtime must exit clean.

The bounded soak runs inside `make test`, beside other suites on two cores: it reports memory
without judging it, and forgives a fault beaten to its restart by a heartbeat timeout (the watch
a starved host trips first). The long soak (`make soak`) judges both.

WARDEN_SOAK_SECONDS sets how long faults are injected, WARDEN_SOAK_SEED repeats a run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.soak.harness import run_soak, soak_settings
from tests.soak.injector import Pacing

pytestmark = pytest.mark.browser


@pytest.mark.timeout(900)
def test_soak_bounded(tmp_path: Path) -> None:
    report = run_soak(tmp_path, soak_settings(80.0))
    problems = report.problems(memory_bound=None, loaded_host=True)
    assert not problems, "\n".join(problems)


@pytest.mark.soak
@pytest.mark.timeout(0)
def test_soak_long(tmp_path: Path) -> None:
    settings = soak_settings(1800.0)
    # Fewer kills of the runtime, so that one start lives long enough to show a memory trend.
    settings = replace(settings, pacing=Pacing(runtime_kill_gap=max(40.0, settings.seconds / 4)))
    report = run_soak(tmp_path, settings)
    problems = report.problems(memory_bound=0.5)
    assert not problems, "\n".join(problems)
