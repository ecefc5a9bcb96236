"""Fixtures for every test here (a module may define its own): a fake clock, and an outbox
file of its own per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.outbox import FILE_NAME, Outbox
from runtime.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(wall_epoch=1_800_000_000.0)


@pytest.fixture
def outbox(tmp_path: Path, clock: FakeClock) -> Iterator[Outbox]:
    box = Outbox(tmp_path / FILE_NAME, clock)
    yield box
    box.close()
