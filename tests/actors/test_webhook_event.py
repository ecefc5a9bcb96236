"""An event's body: the documented keys in order, its time to the millisecond as datetime says."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from actors.webhook_event import EventType, event_body, iso_millis


@given(st.floats(min_value=-1e9, max_value=4e9, allow_nan=False, allow_infinity=False))
def test_the_time_is_what_datetime_says_cut_to_the_millisecond(at: float) -> None:
    expected = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")
    assert iso_millis(at) == expected.replace("+00:00", "Z")


def test_a_body_has_the_keys_in_order_and_escapes_what_is_not_ascii() -> None:
    body = event_body("evt_x", "message.received", 1_800_000_000.9996, 'acct-"1"', 7,
                      '{"body":"h\\u00e9"}')
    assert body.isascii()
    assert list(json.loads(body)) == ["id", "type", "timestamp", "session_id", "seq", "data"]
    assert json.loads(body)["timestamp"] == "2027-01-15T08:00:00.999Z"
    assert json.loads(body)["session_id"] == 'acct-"1"'


def test_the_types_include_what_the_app_work_reports() -> None:
    assert {"session.offline", "session.reconciled"} <= {t.value for t in EventType}
