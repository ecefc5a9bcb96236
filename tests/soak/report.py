"""A soak report holds a finished soak to its contract: what was pushed against what arrived,
each injected fault against the restart it caused, and the memory trend; printed as a table.

Everything here is a pure function of what the soak recorded, so it can be read and tested
apart from the processes. `Report.problems` lists every broken promise; empty means pass.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tests.soak.injector import Fault, Injection
from tests.soak.receiver import Received
from tests.soak.verdicts import Outcome, Restart, Verdict, restart_matches, restarts_of
from tests.soak.workload import Pushed, Sample

__all__ = ["Report", "analyse"]

WARM_UP = 30.0  # runtime memory samples this soon after a start are left out of the trend


def _quantiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"median": statistics.median(ordered), "p95": pick(0.95), "p99": pick(0.99),
            "max": ordered[-1]}


def _thirds(values: Sequence[float]) -> tuple[float, float] | None:
    if len(values) < 3:
        return None
    third = len(values) // 3
    return statistics.median(values[:third]), statistics.median(values[-third:])


@dataclass
class Report:
    seed: int
    seconds: float
    pushed: int = 0
    delivered_unique: int = 0
    recovered: int = 0  # messages first delivered from the app's store by reconciliation
    message_duplicates: int = 0
    missing: list[str] = field(default_factory=list)
    wrong_bodies: int = 0
    events: int = 0
    event_duplicates: int = 0
    seq_gaps: dict[str, list[int]] = field(default_factory=dict)
    seq_conflicts: list[str] = field(default_factory=list)
    out_of_order: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    unexplained: list[Restart] = field(default_factory=list)
    restarts_by_reason: Counter[str] = field(default_factory=Counter)
    metrics_mismatch: list[str] = field(default_factory=list)
    health_failed: list[str] = field(default_factory=list)
    recovery: dict[str, dict[str, float]] = field(default_factory=dict)
    latency: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    runtime_starts: int = 0
    unhealthy_at_end: list[str] = field(default_factory=list)
    exit_code: int | None = None
    stop_seconds: float | None = None  # from SIGTERM to the runtime's exit
    leftovers: list[str] = field(default_factory=list)
    memory: dict[str, tuple[float, float]] = field(default_factory=dict)
    memory_note: str = ""
    other_problems: list[str] = field(default_factory=list)

    def problems(self, memory_bound: float | None, *, loaded_host: bool = False) -> list[str]:
        """Every broken promise. `memory_bound` (e.g. 0.5 = +50 %) fails memory growth beyond
        it; None only reports. `loaded_host` forgives a fault beaten by a heartbeat restart:
        on a starved host the heartbeat is the watch that trips first, whatever the fault."""
        found = list(self.other_problems)
        if self.missing:
            found.append(f"{len(self.missing)} pushed messages never reached the receiver: "
                         f"{self.missing[:5]}")
        if self.wrong_bodies:
            found.append(f"{self.wrong_bodies} messages arrived with another body")
        for session, gaps in self.seq_gaps.items():
            found.append(f"{session}: seq gaps at {gaps[:10]}")
        found += self.seq_conflicts
        if self.out_of_order:
            found.append(f"{self.out_of_order} events first arrived after a later seq")
        # A restart for another reason than the fault's is a misdiagnosis, unless the run also
        # shows restarts of that reason that no fault explains (a loaded host, a tight
        # heartbeat): then the fault was merely beaten to it, and those restarts are listed.
        spurious = {r.reason for r in self.unexplained} | ({"heartbeat"} if loaded_host else set())
        for o in self.outcomes:
            if o.verdict is Verdict.MISSED or (o.verdict is Verdict.WRONG_REASON
                                              and o.reason not in spurious):
                found.append(f"{o.injection.fault} on {o.injection.session} at "
                             f"{o.injection.at:.1f}: {o.verdict} {o.reason or ''} {o.note}"
                             .rstrip())
        found += self.metrics_mismatch
        found += [f"session failed: {s}" for s in self.health_failed]
        if self.counts.get("bad_signatures"):
            found.append(f"{self.counts['bad_signatures']} webhooks with a bad signature")
        found += [f"not healthy at the end: {s}" for s in self.unhealthy_at_end]
        if self.exit_code != 0:
            found.append(f"warden run exited {self.exit_code} after SIGTERM")
        if self.leftovers:
            found.append(f"processes left after the runtime exited: {self.leftovers}")
        if memory_bound is not None:
            for what, (first, last) in self.memory.items():
                if first > 0 and last > first * (1 + memory_bound):
                    found.append(f"{what} grew from {first / 2**20:.0f} to "
                                 f"{last / 2**20:.0f} MiB (bound +{memory_bound:.0%})")
        return found

    def table(self) -> str:
        lines = [f"soak: seed {self.seed}, {self.seconds:g}s of faults, "
                 f"{self.runtime_starts} runtime starts"]
        lines.append(f"{'fault':<15}{'n':>4}{'detected':>10}{'already':>9}{'rt-kill':>9}"
                     f"{'wrong':>7}{'missed':>8}{'detect median/max s':>22}")
        by_fault: dict[Fault, list[Outcome]] = defaultdict(list)
        for o in self.outcomes:
            by_fault[o.injection.fault].append(o)
        for fault in Fault:
            rows = by_fault.get(fault, [])
            n = Counter(o.verdict for o in rows)
            lat = [o.latency for o in rows
                   if o.verdict is Verdict.DETECTED and o.latency is not None]
            shown = f"{statistics.median(lat):.1f} / {max(lat):.1f}" if lat else "-"
            wrong = "".join(f" {o.reason}" for o in rows if o.verdict is Verdict.WRONG_REASON)
            lines.append(f"{fault!s:<15}{len(rows):>4}{n[Verdict.DETECTED] + n[Verdict.DONE]:>10}"
                         f"{n[Verdict.ALREADY_RESTARTING]:>9}{n[Verdict.RUNTIME_KILLED]:>9}"
                         f"{n[Verdict.WRONG_REASON]:>7}{n[Verdict.MISSED]:>8}{shown:>22}"
                         + (f"  (wrong:{wrong})" if wrong else ""))
        lines.append("restarts by reason (webhooks): " + ", ".join(
            f"{k}={v}" for k, v in sorted(self.restarts_by_reason.items())))
        lines.append("metrics vs webhooks (last start): " + (
            "agree" if not self.metrics_mismatch else "; ".join(self.metrics_mismatch)))
        lines.append(f"restarts no fault explains: {len(self.unexplained)} " + ", ".join(
            f"{r.session}:{r.reason}" for r in self.unexplained))
        for reason, q in sorted(self.recovery.items()):
            lines.append(f"recovery after {reason:<9}: median {q['median']:.2f}s, "
                         f"p95 {q['p95']:.2f}s, max {q['max']:.2f}s")
        lines.append(f"messages: pushed {self.pushed}, delivered {self.delivered_unique} "
                     f"({self.recovered} recovered from the app's store), "
                     f"missing {len(self.missing)}, duplicates {self.message_duplicates}")
        if self.latency:
            lines.append(f"push -> receiver latency: median {self.latency['median']:.3f}s, "
                         f"p95 {self.latency['p95']:.3f}s, p99 {self.latency['p99']:.3f}s, "
                         f"max {self.latency['max']:.3f}s")
        lines.append(f"events: {self.events} deliveries, {self.event_duplicates} duplicates, "
                     f"seq gaps {sum(map(len, self.seq_gaps.values()))}, "
                     f"out of order {self.out_of_order}")
        lines.append("receiver: " + ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items())))
        for what, (first, last) in sorted(self.memory.items()):
            change = (last / first - 1) * 100 if first else 0.0
            lines.append(f"memory {what:<13}: first third {first / 2**20:7.1f} MiB, "
                         f"last third {last / 2**20:7.1f} MiB ({change:+.1f}%)")
        if self.memory_note:
            lines.append(f"memory: {self.memory_note}")
        took = "" if self.stop_seconds is None else f" after {self.stop_seconds:.1f}s"
        lines.append(f"exit on SIGTERM: {self.exit_code}{took}; leftover processes: "
                     f"{len(self.leftovers)}")
        return "\n".join(lines)


def analyse(report: Report, pushed: Sequence[Pushed], events: Sequence[Received],
            injections: Sequence[Injection], samples: Sequence[Sample],
            incarnations: Sequence[float]) -> Report:
    """Fill `report` from what the soak recorded."""
    report.runtime_starts = len(incarnations)
    _messages(report, pushed, events)
    _sequences(report, events)
    restarts = restarts_of(events)
    report.restarts_by_reason = Counter(r.reason for r in restarts)
    report.outcomes, report.unexplained = restart_matches(injections, restarts, events)
    report.health_failed = sorted({f"{e.session_id} ({e.data.get('reason')})" for e in events
                                   if e.type == "session.health_failed"})
    recovered: dict[str, list[float]] = defaultdict(list)
    for e in {e.id: e for e in events if e.type == "session.recovered"}.values():
        if e.data.get("reason") is None:  # cleared without a restart (e.g. logged in again)
            continue
        recovered[str(e.data.get("reason"))].append(float(e.data.get("recovery_seconds", 0.0)))
    report.recovery = {k: _quantiles(v) for k, v in recovered.items()}
    _memory(report, samples, incarnations)
    return report


def _messages(report: Report, pushed: Sequence[Pushed], events: Sequence[Received]) -> None:
    bodies = {p.id: p for p in pushed}
    first: dict[str, Received] = {}
    seen: Counter[str] = Counter()
    for e in events:
        if e.type != "message.received":
            continue
        message_id = str(e.data.get("message_id"))
        seen[message_id] += 1
        first.setdefault(message_id, e)
        if message_id in bodies and e.data.get("body") != bodies[message_id].body:
            report.wrong_bodies += 1
    report.pushed = len(pushed)
    report.delivered_unique = sum(1 for m in bodies if m in seen)
    report.missing = [m for m in bodies if m not in seen]
    report.message_duplicates = sum(n - 1 for n in seen.values())
    report.recovered = sum(1 for m in bodies if m in first and first[m].data.get("recovered"))
    report.latency = _quantiles([first[m].received_at - p.at for m, p in bodies.items()
                                 if m in first])


def _sequences(report: Report, events: Sequence[Received]) -> None:
    report.events = len(events)
    ids: dict[tuple[str, int], set[tuple[str, str]]] = defaultdict(set)
    last_first: dict[str, int] = {}
    for e in events:
        key = (e.session_id, e.seq)
        if key not in ids and e.seq < last_first.get(e.session_id, 0):
            report.out_of_order += 1
        if key not in ids:
            last_first[e.session_id] = max(e.seq, last_first.get(e.session_id, 0))
        ids[key].add((e.id, e.webhook_id))
    report.event_duplicates = len(events) - len(ids)
    by_session: dict[str, set[int]] = defaultdict(set)
    for (session, seq), pairs in ids.items():
        by_session[session].add(seq)
        if len(pairs) > 1:
            report.seq_conflicts.append(f"{session} seq {seq} arrived as {sorted(pairs)}")
    for session, seqs in sorted(by_session.items()):
        gaps = sorted(set(range(1, max(seqs) + 1)) - seqs)
        if gaps:
            report.seq_gaps[session] = gaps


def _memory(report: Report, samples: Sequence[Sample], incarnations: Sequence[float]) -> None:
    """First third against last third (medians). The runtime's own figures restart with each
    start, so they are read over its longest-lived start, past its warm-up."""
    def warm(s: Sample) -> bool:
        started = incarnations[s.incarnation - 1] if s.incarnation else 0.0
        return s.runtime_rss is not None and s.at - started >= WARM_UP

    runs: dict[int, list[Sample]] = defaultdict(list)
    for s in filter(warm, samples):
        runs[s.incarnation].append(s)
    longest = max(runs.values(), key=len, default=[])
    if longest:
        report.memory_note = (f"runtime over its longest start: {len(longest)} samples, "
                              f"{longest[-1].at - longest[0].at:.0f}s")
    series: Mapping[str, list[float]] = {
        "runtime RSS": [float(s.runtime_rss or 0) for s in longest],
        "drivers PSS": [float(s.drivers_pss) for s in longest],
        "browsers PSS": [float(s.browsers_pss) for s in samples if s.browser_processes],
    }
    for what, values in series.items():
        thirds = _thirds(values)
        if thirds is not None:
            report.memory[what] = thirds
