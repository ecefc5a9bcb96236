"""Fixtures for the page tests: one Playwright and one Chromium per module, a fresh profile
(browser context) per test, and a session id of its own for each test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Playwright, sync_playwright

from simulator import SimulatorServer
from tests.simulator.browser import ARGS, CHROMIUM, new_profile


@pytest.fixture
def sid() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer("127.0.0.1", 0) as server:
        yield server


@pytest.fixture(scope="module")
def pw() -> Iterator[Playwright]:
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def browser(pw: Playwright) -> Iterator[Browser]:
    chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def profile(browser: Browser) -> Iterator[BrowserContext]:
    context = new_profile(browser)
    yield context
    context.close()
