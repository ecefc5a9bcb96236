"""Today's practice, side by side: the health monitor most WhatsApp-Web gateways ship (check every
5 min, restart after 30 min without an inbound message, give up after 3 attempts) beside Warden's
default policy, on the same simulated day of messages and faults.

Warden's side is the real runtime (Runtime, Supervisor, restart budget and backoff) supervising
model sessions that report like `actors.session.BrowserSession`, on a FakeClock stepped 1 s
while anything is amiss and 5 s while all is calm; the monitor's side is event-driven on the
same model app, with the runtime's `decide_restart`. Per fault: time to detect and to recover;
overall: false restarts, and messages the app had to hold while a session was deaf. Figures only.
Run: `.venv/bin/python -m bench.bench_practice [--seed N] [--hours H] [--sessions N]`
(WARDEN_BENCH_QUICK=1: 6 hours).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

from actors.policy import Policy
from bench.common import median, percentile
from bench.practice.monitor import PracticePolicy, run_practice
from bench.practice.report import Summary, summarize
from bench.practice.scenario import FaultKind, make_scenario
from bench.practice.warden_run import WardenRun

SEED = 20240611
QUICK = os.environ.get("WARDEN_BENCH_QUICK") == "1"
PRACTICE = "today's practice (5 min / 30 min / 3)"
LENIENT = "same, attempts reset on reconnect"
WARDEN = "Warden default"


def main(seed: int | None = None, *, sessions: int = 10, hours: float | None = None,
         faults_per_kind: int = 2) -> dict[str, Any]:
    seed = int(os.environ.get("WARDEN_PRACTICE_SEED", SEED)) if seed is None else seed
    hours = (6.0 if QUICK else 24.0) if hours is None else hours
    scenario = make_scenario(seed, sessions=sessions, hours=hours,
                             faults_per_kind=faults_per_kind)
    print(f"seed {seed}: {sessions} sessions, {hours:g} h, "
          f"{sum(len(p.arrivals) for p in scenario.sessions)} messages, "
          f"{len(scenario.faults)} faults")
    started = time.perf_counter()
    summaries = {}
    for key, label, policy in (("practice", PRACTICE, PracticePolicy()),
                               ("lenient", LENIENT, PracticePolicy(reset_on_ready=True))):
        app, monitor = run_practice(scenario, policy)
        summaries[key] = summarize(label, scenario, app, monitor.give_ups)
    practice_seconds = time.perf_counter() - started
    started = time.perf_counter()
    with _quiet_logs():
        run = WardenRun(scenario, Policy())
        summaries["warden"] = summarize(WARDEN, scenario, run.run(), len(run.app.given_up))
    warden_seconds = time.perf_counter() - started

    comparison = _comparison(list(summaries.values()))
    faults = _fault_rows(summaries["practice"], summaries["warden"])
    print(_markdown(comparison))
    print()
    print(_markdown(faults))
    figures: dict[str, Any] = {
        "seed": seed, "sessions": sessions, "hours": hours,
        "messages": summaries["warden"].messages, "faults": len(scenario.faults),
        "warden_steps": run.steps,
        "warden_run_seconds": round(warden_seconds, 2),
        "practice_run_seconds": round(practice_seconds, 3),
    }
    for key, summary in summaries.items():
        figures.update(_numbers(key, summary))
    figures["comparison"] = comparison
    figures["fault_rows"] = faults
    return figures


def _comparison(summaries: list[Summary]) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []

    def row(figure: str, make: Any) -> None:
        rows.append({"figure": figure, **{s.name: make(s) for s in summaries}})

    for kind in FaultKind:
        row(f"{kind}: detected after", lambda s, k=kind: _spread(s.detections(k)))
    for kind in FaultKind:
        row(f"{kind}: hearing again after", lambda s, k=kind: _spread(s.recoveries(k)))
    row("faults never acted on that day", lambda s: f"{s.undetected} of {len(s.faults)}" + (
        f" (+{s.masked} on a session still deaf)" if s.masked else ""))
    row("restarts", lambda s: str(s.restarts))
    row("false restarts (of quiet sessions)",
        lambda s: f"{s.false_restarts} ({s.quiet_false_restarts})")
    row("sessions given up (budget spent)", lambda s: str(s.given_up))
    row("messages delayed", lambda s: f"{len(s.delays)} of {s.messages}")
    row("  by restarts of healthy sessions", lambda s: str(s.delayed_outside_faults))
    row("  still held at end of day", lambda s: str(s.held_at_end))
    row("delay (median, p95, max)", lambda s: ", ".join(
        _duration(f(s.delays)) for f in (median, lambda d: percentile(d, 95),
                                          lambda d: max(d, default=math.nan))))
    return rows


def _fault_rows(practice: Summary, warden: Summary) -> list[dict[str, str]]:
    rows = []
    for p, w in zip(practice.faults, warden.faults, strict=True):
        hour, minute = divmod(int(p.at) // 60, 60)
        rows.append({
            "fault": str(p.kind), "session": f"{p.session} ({p.profile})",
            "at": f"{hour:02d}:{minute:02d}",
            "practice: detected": ("session still deaf from an earlier fault" if p.masked
                                   else _acted(p.detected_after, p.reason)),
            "practice: hearing again": "-" if p.masked else _duration(p.recovered_after),
            "practice: msgs held": str(p.delayed),
            "Warden: detected": _acted(w.detected_after, w.reason),
            "Warden: hearing again": _duration(w.recovered_after),
            "Warden: msgs held": str(w.delayed),
        })
    return rows


def _numbers(key: str, s: Summary) -> dict[str, float]:
    out: dict[str, float] = {}
    for kind in FaultKind:
        seen = [v if v is not None else math.inf for v in s.detections(kind)]
        back = [v if v is not None else math.inf for v in s.recoveries(kind)]
        out[f"{key}_{kind}_detect_min_s"] = min(seen, default=math.nan)
        out[f"{key}_{kind}_detect_max_s"] = max(seen, default=math.nan)
        out[f"{key}_{kind}_recover_max_s"] = max(back, default=math.nan)
        out[f"{key}_{kind}_never_detected"] = seen.count(math.inf)
    out[f"{key}_faults_on_deaf_sessions"] = s.masked
    out[f"{key}_false_restarts"] = s.false_restarts
    out[f"{key}_quiet_false_restarts"] = s.quiet_false_restarts
    out[f"{key}_given_up"] = s.given_up
    out[f"{key}_messages_delayed"] = len(s.delays)
    out[f"{key}_delay_median_s"] = median(s.delays)
    out[f"{key}_delay_p95_s"] = percentile(s.delays, 95)
    out[f"{key}_delay_max_s"] = max(s.delays, default=math.nan)
    out[f"{key}_held_at_end"] = s.held_at_end
    return out


def _spread(values: Sequence[float | None]) -> str:
    """Each value, shortest first, when there are a few; else the median and the worst."""
    seen = sorted(v if v is not None else math.inf for v in values)
    if not seen:
        return "-"
    if len(seen) <= 3:
        return " / ".join(_duration(v) for v in seen)
    return f"median {_duration(median(seen))}, max {_duration(seen[-1])}"


def _acted(after: float | None, reason: str | None) -> str:
    return "never" if after is None else f"{_duration(after)} ({reason})"


def _duration(seconds: float | None) -> str:
    if seconds is None or math.isinf(seconds):
        return "never"
    if math.isnan(seconds):
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _markdown(rows: list[dict[str, str]]) -> str:
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row[h] for h in header) + " |" for row in rows]
    return "\n".join(lines)


@contextlib.contextmanager
def _quiet_logs() -> Iterator[None]:
    """Crashes and restarts are the point here: keep their logs off the figures."""
    loggers = [logging.getLogger(name) for name in ("pykka", "warden.events", "runtime")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.bench_practice", description=__doc__)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--hours", type=float)
    parser.add_argument("--faults-per-kind", type=int, default=2)
    args = parser.parse_args()
    main(args.seed, sessions=args.sessions, hours=args.hours,
         faults_per_kind=args.faults_per_kind)
