"""Memory sampling on a fixture /proc: trees in one scan, anonymous memory, PSS tree by tree."""

from __future__ import annotations

from pathlib import Path

from actors.memory import (
    PAGE,
    MemoryReading,
    MemorySampler,
    MemoryWatch,
    anonymous_bytes,
    pss_bytes,
    trees,
)
from runtime import ChildContext, FakeClock, Scheduler

MiB = 2**20


def fake_proc(root: Path, processes: dict[int, tuple[int, int, int, int]]) -> Path:
    """`pid: (ppid, resident pages, shared pages, pss kB)` as /proc files."""
    for pid, (ppid, resident, shared, pss) in processes.items():
        folder = root / str(pid)
        folder.mkdir(parents=True)
        # A command name with spaces and a parenthesis, as Chromium's threads have.
        (folder / "stat").write_bytes(f"{pid} (chrome (x) y) S {ppid} 1 1 0".encode())
        (folder / "statm").write_bytes(f"9999 {resident} {shared} 1 0 100 0\n".encode())
        (folder / "smaps_rollup").write_bytes(
            f"00400000-ff [rollup]\nRss: 1 kB\nPss: {pss} kB\nPss_Anon: 1 kB\n".encode())
    (root / "self").mkdir()  # not a pid: skipped
    return root


TREE = {
    1: (0, 10, 10, 4),          # init
    100: (1, 1000, 400, 8000),  # browser main
    101: (100, 500, 100, 3000),  # renderer
    102: (101, 50, 10, 100),    # a grandchild
    200: (1, 700, 300, 5000),   # another browser
}


def test_one_scan_finds_every_tree_and_their_members(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, TREE)
    found = trees([100, 200, 999], proc)
    assert sorted(found[100]) == [100, 101, 102]
    assert found[200] == [200]
    assert found[999] == [999]  # gone: itself only, read as nothing


def test_anonymous_memory_is_resident_minus_shared_and_a_gone_pid_counts_nothing(
        tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, TREE)
    assert anonymous_bytes([100, 101, 102, 999], proc) == (600 + 400 + 40) * PAGE
    assert pss_bytes([100, 101, 102, 999], proc) == (8000 + 3000 + 100) * 1024


def test_each_sample_reads_every_tree_and_pss_one_tree_at_a_time_oldest_first(
        tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, TREE)
    clock = FakeClock()
    ctx = ChildContext("memory", 1, lambda _: None, clock, Scheduler(clock))
    watch = MemoryWatch()
    readings: dict[int, list[MemoryReading]] = {100: [], 200: []}
    unwatch = {root: watch.watch(root, readings[root].append) for root in readings}
    sampler = MemorySampler(ctx, watch, interval=2.0, pss_spacing=4.0, proc=proc)
    for _ in range(5):  # at 0, 2, 4, 6, 8 s: PSS at 0 (one tree), 4 (the other), 8 (the first)
        sampler.sample()
        clock.advance(2.0)
    with_pss = [[r.pss is not None for r in readings[root]] for root in (100, 200)]
    assert with_pss in ([[True, False, False, False, True], [False, False, True, False, False]],
                        [[False, False, True, False, False], [True, False, False, False, True]])
    assert {r.anonymous for r in readings[100]} == {(600 + 400 + 40) * PAGE}
    unwatch[200]()
    clock.advance(4.0)
    sampler.sample()
    assert readings[100][-1].pss == (8000 + 3000 + 100) * 1024
    assert len(readings[200]) == 5
