"""The dashboard, in real Chromium: it shows every session live and its buttons act on them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from actors.demo_sink import DemoSink
from tests.actors.test_demo_sink import SECRET, event, signed
from tests.actors.test_front import (
    Outbox,
    Script,
    call,
    fake_runtime,
    runtime_deps,
    serving,
)
from tests.actors.test_views import make_status
from tests.actors.test_webhook_routes import Board, World

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
IDS = ["acct-1", "acct-2", "acct-3"]


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 800})
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        yield page
    finally:
        context.close()


def row(page: Page, session: str):  # type: ignore[no-untyped-def]
    return page.locator(f'tr[data-session="{session}"]')


def test_it_shows_every_session_and_a_restart_changes_its_state_and_count(page: Page) -> None:
    script = Script(beat_after_restart=False)  # a restarted session stays `starting`
    with fake_runtime(IDS, script) as runtime, serving(runtime_deps(runtime)) as front:
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(front.url + "/")
        for session in IDS:
            expect(row(page, session)).to_have_attribute("data-state", "healthy")
            expect(row(page, session).locator(".col-restarts")).to_have_text("0 / 0")
        expect(row(page, "acct-1").locator(".col-memory")).to_have_text("100 MiB")
        expect(page.locator("#sum-healthy")).to_have_text("3")

        row(page, "acct-2").locator("button.restart").click()

        expect(row(page, "acct-2")).to_have_attribute("data-state", "starting")
        expect(row(page, "acct-2").locator(".state")).to_have_text("starting")
        expect(row(page, "acct-2").locator(".col-restarts")).to_have_text("0 / 1")
        expect(row(page, "acct-2").locator(".col-reason")).to_have_text("manual")
        expect(row(page, "acct-1")).to_have_attribute("data-state", "healthy")
        expect(page.locator("#notice")).to_contain_text("Session restart initiated")
        expect(page.locator("#events")).to_contain_text("restart_scheduled")
        assert call("GET", front.url + "/sessions/acct-2").body["restarts_total"] == 1
    assert requested and all(url.startswith(front.url) for url in requested), requested


def test_stop_and_start_buttons_follow_the_state(page: Page) -> None:
    with fake_runtime(IDS) as runtime, serving(runtime_deps(runtime)) as front:
        page.goto(front.url + "/")
        target = row(page, "acct-3")
        expect(target).to_have_attribute("data-state", "healthy")
        expect(target.locator("button.start")).to_be_hidden()
        target.locator("button.stop").click()
        expect(target).to_have_attribute("data-state", "stopped")
        expect(target.locator("button.stop")).to_be_hidden()
        target.locator("button.start").click()
        expect(target).to_have_attribute("data-state", "healthy")


def test_it_asks_for_the_token_once_and_keeps_it_for_the_tab(page: Page) -> None:
    with fake_runtime(IDS) as runtime, \
            serving(runtime_deps(runtime), token="s3cret") as front:
        page.goto(front.url + "/")
        expect(page.locator("#token-form")).to_be_visible()
        page.fill("#token-input", "not-it")
        page.click("#token-form button")
        expect(page.locator("#token-error")).to_have_text("That token was refused.")
        page.fill("#token-input", "s3cret")
        page.click("#token-form button")
        expect(row(page, "acct-1")).to_have_attribute("data-state", "healthy")
        expect(page.locator("#token-form")).to_be_hidden()
        assert page.evaluate("sessionStorage.getItem('warden.token')") == "s3cret"

        page.reload()
        expect(row(page, "acct-2")).to_have_attribute("data-state", "healthy")
        expect(page.locator("#token-form")).to_be_hidden()
        row(page, "acct-2").locator("button.restart").click()
        expect(row(page, "acct-2").locator(".col-restarts")).to_have_text("0 / 1")


def test_it_shows_the_webhook_outbox_events_and_the_demo_sink(page: Page) -> None:
    sink = DemoSink(SECRET)
    body = event(7, session="acct-3", type_="session.recovered")
    with fake_runtime(IDS) as runtime, \
            serving(runtime_deps(runtime, outbox=Outbox(), sink=sink)) as front:
        assert call("POST", front.url + "/demo/webhook", data=body,
                    headers=signed(body, msg_id="evt_7")).status == 204
        assert call("POST", front.url + "/demo/webhook", data=body).status == 401
        assert call("POST", front.url + "/sessions/acct-1/restart").status == 202
        page.goto(front.url + "/")
        expect(page.locator("#wh-pending")).to_have_text("3")
        expect(page.locator("#wh-oldest")).to_have_text("42s")
        expect(page.locator("#wh-dead")).to_have_text("1")
        expect(page.locator("#wh-delivered")).to_have_text("17")
        expect(page.locator("#sink")).to_contain_text("session.recovered")
        expect(page.locator("#sink")).to_contain_text("acct-3 #7")
        expect(page.locator("#sink-counts")).to_contain_text("1 verified, 1 rejected")
        expect(page.locator("#events")).to_contain_text("restart_scheduled sessions/acct-1")


def test_it_shows_the_endpoints_their_dead_letters_and_an_events_attempts(
        page: Page, tmp_path: Path) -> None:
    world = World(tmp_path)  # crm: one delivered, one dead letter, one pending; audit: one pending
    try:
        board = Board((make_status("webhook-crm", supervisor="root", kind="webhook", details={
            "endpoint": "crm", "endpoint_state": "paused"}),))
        with fake_runtime(IDS) as runtime, serving(runtime_deps(
                runtime, board=board, webhooks=world.webhooks)) as front:
            page.goto(front.url + "/")
            crm = page.locator('#endpoints tr[data-endpoint="crm"]')
            expect(crm).to_have_attribute("data-state", "paused")
            expect(crm.locator(".col-dead")).to_have_text("1")
            expect(crm.locator(".col-url")).to_have_text("https://crm.example/hook?redacted")
            expect(page.locator('#endpoints tr[data-endpoint="audit"] .col-pending')).to_have_text(
                "1")
            expect(page.locator("#outbox-health")).to_have_text("outbox ok")

            dead = page.locator(f'#dead-letters li[data-event="{world.message.id}"]')
            expect(dead).to_contain_text("acct-1 #2")
            expect(dead).to_contain_text("HTTP 400")
            dead.locator("button.event-link").click()
            crm_attempts = page.locator('#event-detail .delivery[data-endpoint="crm"]')
            expect(crm_attempts).to_contain_text("crm: dead")
            expect(crm_attempts.locator("tr")).to_have_count(3)  # a header and two attempts
            expect(crm_attempts).to_contain_text("HTTP 503: busy")

            dead.locator("button.requeue").click()
            expect(page.locator("#notice")).to_contain_text("crm: requeued 1 dead letter")
            expect(crm.locator(".col-dead")).to_have_text("0")
            expect(page.locator("#dead-letters")).to_contain_text("No dead letters.")
            expect(crm.locator(".col-pending")).to_have_text("2")
    finally:
        world.outbox.close()
