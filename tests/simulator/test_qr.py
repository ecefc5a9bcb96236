"""Login codes: WhatsApp Web's shape, one per interval, derived from the time, a real QR code."""

from __future__ import annotations

import base64
import urllib.parse

import pytest
import segno
import zxingcpp

from simulator.qr import PLATFORM, QrRotation, render_svg


def test_a_code_has_whatsapp_webs_five_parts() -> None:
    code = QrRotation.begin(1000.0).at(1000.0)
    ref, static_key, identity_key, adv_secret, platform = code.payload.split(",")
    assert ref.startswith("2@") and platform == PLATFORM
    for key in (static_key, identity_key, adv_secret):
        assert len(base64.b64decode(key, validate=True)) == 32


def test_the_code_changes_every_interval_and_only_then() -> None:
    rotation = QrRotation.begin(1000.0, interval=20.0)
    first = rotation.at(1000.0)
    assert first.expires_at == 1020.0
    assert rotation.at(1019.999) == first and rotation.at(900.0) == first
    second = rotation.at(1020.0)
    assert second.payload != first.payload and second.expires_at == 1040.0
    assert second.payload.split(",")[1:] == first.payload.split(",")[1:]  # keys stay per attempt
    assert rotation.at(1020.0 + 20 * 1000).expires_at == 1020.0 + 20 * 1001


def test_refs_are_unpredictable_across_attempts_and_rotations() -> None:
    refs = {QrRotation.begin(0.0).at(t).payload.split(",")[0] for t in (0.0, 20.0)}
    refs |= {QrRotation.begin(0.0).at(0.0).payload.split(",")[0]}
    assert len(refs) == 3


def test_a_stale_code_is_one_of_this_attempt_shown_before() -> None:
    rotation = QrRotation.begin(0.0)
    old = rotation.at(0.0).payload
    assert not rotation.is_stale(old, 10.0)
    assert rotation.is_stale(old, 20.0)
    other = QrRotation.begin(0.0).at(0.0).payload
    assert not rotation.is_stale(other, 20.0)


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval"):
        QrRotation.begin(0.0, interval=0.0)


def test_the_image_is_a_qr_code_of_the_payload() -> None:
    payload = QrRotation.begin(0.0).at(0.0).payload
    uri = render_svg(payload)
    assert uri.startswith("data:image/svg+xml")
    assert "<svg" in urllib.parse.unquote(uri)
    rows = [bytes(0 if dark else 255 for dark in row)
            for row in segno.make_qr(payload).matrix_iter(scale=4, border=4)]
    image = memoryview(b"".join(rows)).cast("B", (len(rows), len(rows[0])))
    found = zxingcpp.read_barcodes(image)
    assert [(b.format, b.text) for b in found] == [(zxingcpp.BarcodeFormat.QRCode, payload)]
