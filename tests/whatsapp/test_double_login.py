"""Login on the double, seen from the page: a logout shows the QR code (UNPAIRED), whose text
`ref,staticKey,identityKey,advSecret,platform` follows Conn.ref; a scan of the current one
logs in, a stale one is refused; the QR goes idle and Cmd.refreshQR() brings it back;
pairing by code; CONFLICT and Socket.takeover(); blocking states."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.async_api import Page

from tests.helpers import wait_until
from tests.whatsapp.browser import Browser, js, run, seen, state_is, wait_js, watch
from tests.whatsapp.control import ControlError
from tests.whatsapp.double import WhatsAppDouble
from tests.whatsapp.snippets import PAIRING_CODE_JS, QR_TEXT_JS, TAKEOVER_JS

pytestmark = pytest.mark.browser

Launch = Callable[..., Browser]
FRIEND = "15550100002@c.us"
PAIRING_ALPHABET = set("123456789ABCDEFGHJKLMNPQRSTVWXYZ")

CANVAS_GREY = """() => {
  const canvas = document.querySelector('[data-ref] canvas');
  if (!canvas || !canvas.width) return null;
  const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
  const grey = new Array(canvas.width * canvas.height);
  for (let i = 0; i < grey.length; i++) grey[i] = data[4 * i];
  return { width: canvas.width, height: canvas.height, grey };
}"""


def after_logout(page: Page) -> Page:
    """The page reloads itself on a logout (as WhatsApp Web does): hook the new one."""
    run(page.wait_for_url(lambda url: url.endswith("/?post_logout=1")))
    wait_js(page, "() => typeof window.require === 'function'")
    watch(page)
    return page


def scan_current(double: WhatsAppDouble) -> None:
    """Scan the QR code shown now; again if it rotated between reading and scanning."""

    def scan() -> bool:
        shown = double.control.state()["qr"]
        try:
            return shown is not None and double.control.scan(shown)["logged_in"] is True
        except ControlError:
            return False

    assert wait_until(scan), "no scan of the current QR code succeeded"


def decode_canvas(page: Page) -> str:
    zxingcpp = pytest.importorskip("zxingcpp")
    image = wait_js(page, CANVAS_GREY)
    pixels = bytes(image["grey"])
    view = memoryview(pixels).cast("B", (image["height"], image["width"]))
    [code] = zxingcpp.read_barcodes(view)
    return str(code.text)


def test_a_logout_shows_a_qr_code_that_rotates_and_a_scan_logs_in(
        make_double: Callable[..., WhatsAppDouble], launch: Launch) -> None:
    double = make_double(qr_interval=0.4)
    page = launch(double).open()
    state_is(page, "CONNECTED")
    double.control.push(FRIEND, "before the logout")
    wait_js(page, "() => window.__seen.adds.length === 1")
    double.control.fault("logout")
    after_logout(page)
    state_is(page, "UNPAIRED")
    assert js(page, "() => window.require('WAWebUserPrefsMeUser').getMaybeMePnUser()") is None
    assert js(page, "() => window.require('WAWebCollections').Chat.getModelsArray().length") == 0
    first = wait_js(page, "() => document.querySelector('[data-ref]').getAttribute('data-ref')")
    assert first == js(page, QR_TEXT_JS) == double.control.state()["qr"]
    ref, static, identity, adv, platform = first.split(",")
    assert ref.startswith("2@") and platform == "WEB"
    assert {len(static), len(identity), len(adv)} == {44}  # 32 bytes in base64
    wait_js(page, "(ref) => window.require('WAWebConnModel').Conn.ref !== ref", ref)
    assert seen(page)["refs"][-1] == js(page, "() => window.require('WAWebConnModel').Conn.ref")
    shown = js(page, QR_TEXT_JS)
    assert shown != first and shown.split(",")[1:] == first.split(",")[1:]
    wait_js(page, "(text) => document.querySelector('[data-ref]').getAttribute('data-ref')"
                  " === text", shown)
    with pytest.raises(ControlError) as stale:
        double.control.scan(first)
    assert stale.value.status == 409 and "stale" in str(stale.value)
    scan_current(double)
    state_is(page, "CONNECTED")
    assert "PAIRING" in seen(page)["states"]
    assert js(page, "() => window.require('WAWebUserPrefsMeUser').getMaybeMePnUser()"
                    "._serialized") == double.wid
    wait_js(page, "() => window.require('WAWebSocketModel').Socket.hasSynced")


def test_the_qr_code_on_the_canvas_decodes_to_the_text_the_page_holds(
        make_double: Callable[..., WhatsAppDouble], launch: Launch) -> None:
    pytest.importorskip("segno")
    double = make_double(auto_link=False)
    page = launch(double).open()
    state_is(page, "UNPAIRED")
    text = wait_js(page, "() => document.querySelector('[data-ref]').getAttribute('data-ref')")
    wait_js(page, "() => document.querySelector('[data-ref] canvas').width > 0")
    assert decode_canvas(page) == text == double.control.state()["qr"]


def test_the_qr_goes_idle_after_its_refs_and_refresh_qr_brings_it_back(
        make_double: Callable[..., WhatsAppDouble], launch: Launch) -> None:
    double = make_double(auto_link=False, qr_interval=0.5, qr_refs=2)
    page = launch(double).open()
    state_is(page, "UNPAIRED_IDLE")
    assert double.control.state()["qr"] is None
    refs = len(seen(page)["refs"])
    js(page, "() => window.require('WAWebCmd').Cmd.refreshQR()")
    state_is(page, "UNPAIRED")
    assert len(seen(page)["refs"]) > refs
    scan_current(double)
    state_is(page, "CONNECTED")


def test_a_pairing_code_has_8_characters_and_confirming_it_logs_in(
        make_double: Callable[..., WhatsAppDouble], launch: Launch) -> None:
    double = make_double(auto_link=False)
    page = launch(double).open()
    state_is(page, "UNPAIRED")
    request = PAIRING_CODE_JS
    wrong = js(page, request, "15550199999")
    with pytest.raises(ControlError) as refused:
        double.control.pair(wrong)
    assert refused.value.status == 409
    code = js(page, request, double.options.phone)
    assert len(code) == 8 and set(code) <= PAIRING_ALPHABET
    assert double.control.state()["pairing_code"] == code
    double.control.pair(f"{code[:4]}-{code[4:]}")
    state_is(page, "CONNECTED")


def test_start_alt_linking_flow_needs_the_pairing_type_and_initialization(
        make_double: Callable[..., WhatsAppDouble], launch: Launch) -> None:
    double = make_double(auto_link=False)
    page = launch(double).open()
    state_is(page, "UNPAIRED")
    failed = js(page, """async () => {
      try {
        await window.require('WAWebAltDeviceLinkingApi').startAltLinkingFlow('1555', true);
        return null;
      } catch (error) { return String(error); }
    }""")
    assert "initializeAltDeviceLinking" in failed


def test_conflict_stops_delivery_until_takeover(double: WhatsAppDouble, launch: Launch) -> None:
    page = launch(double).open()
    state_is(page, "CONNECTED")
    double.control.fault("conflict")
    state_is(page, "CONFLICT")
    message_id = double.control.push(FRIEND, "while in conflict")
    assert double.control.state()["deliveries"] == {}
    js(page, TAKEOVER_JS)
    state_is(page, "CONNECTED")
    wait_js(page, "(id) => window.__seen.adds.some((m) => m.id === id && m.isNewMsg)", message_id)
    assert seen(page)["states"][-2:] == ["OPENING", "CONNECTED"]


def test_a_second_page_on_the_same_profile_puts_the_first_in_conflict(
        double: WhatsAppDouble, launch: Launch) -> None:
    browser = launch(double)
    first = browser.open()
    state_is(first, "CONNECTED")
    second = browser.open()
    state_is(second, "CONNECTED")
    state_is(first, "CONFLICT")
    js(first, TAKEOVER_JS)
    state_is(first, "CONNECTED")
    state_is(second, "CONFLICT")


def test_socket_logout_unlinks_this_browser(double: WhatsAppDouble, launch: Launch) -> None:
    page = launch(double).open()
    state_is(page, "CONNECTED")
    js(page, "() => { window.require('WAWebSocketModel').Socket.logout(); }")
    after_logout(page)
    state_is(page, "UNPAIRED")
    assert double.control.state()["logged_in"] is False
    double.control.login()
    state_is(page, "CONNECTED")


@pytest.mark.parametrize("blocked", ["TOS_BLOCK", "PROXYBLOCK"])
def test_a_blocking_state_ends_the_connection(double: WhatsAppDouble, launch: Launch,
                                              blocked: str) -> None:
    page = launch(double).open()
    state_is(page, "CONNECTED")
    double.control.socket_state(blocked)
    state_is(page, blocked)
    assert wait_until(lambda: double.control.state()["connections"] == 0)
    assert seen(page)["states"][-1] == blocked

