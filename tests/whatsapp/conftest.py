"""Fixtures: one Playwright driver per test module; per test, a double and browsers on fresh
profiles, all stopped at the end of the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.driver import Driver
from tests.whatsapp import browser
from tests.whatsapp.browser import Browser
from tests.whatsapp.double import DoubleOptions, WhatsAppDouble


@pytest.fixture(scope="module")
def driver() -> Iterator[Driver]:
    started = Driver("whatsapp-double-tests").start()
    browser.use(started)
    yield started
    browser.use(None)
    started.stop()


@pytest.fixture
def make_double() -> Iterator[Callable[..., WhatsAppDouble]]:
    """`make_double(**options)`: a running double with those `DoubleOptions`."""
    started: list[WhatsAppDouble] = []

    def make(**options: Any) -> WhatsAppDouble:
        double = WhatsAppDouble(DoubleOptions(**options)).start()
        assert isinstance(double, WhatsAppDouble)
        started.append(double)
        return double

    yield make
    for double in started:
        double.stop()


@pytest.fixture
def double(make_double: Callable[..., WhatsAppDouble]) -> WhatsAppDouble:
    return make_double()


@pytest.fixture
def launch(driver: Driver, tmp_path: Path) -> Iterator[Callable[..., Browser]]:
    """`launch(double, profile="a")`: Chromium on `tmp_path/profile`, closed after the test."""
    launched: list[Browser] = []

    def start(double: WhatsAppDouble, profile: str = "a") -> Browser:
        opened = Browser(tmp_path / profile, double.url).launch()
        launched.append(opened)
        return opened

    yield start
    for opened in launched:
        opened.close()
