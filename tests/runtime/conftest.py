"""The `harness` fixture: a FakeClock world for supervision tests, torn down completely."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.runtime.fakes import Harness


@pytest.fixture
def harness() -> Iterator[Harness]:
    h = Harness()
    yield h
    h.close()
