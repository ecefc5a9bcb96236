"""Log output: one line per record, JSON on request, and no noise from killed browsers."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from runtime.events import LifecycleEvent
from runtime.vocabulary import EventName, Reason
from warden.logs import configure_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    filters = list(logging.getLogger("asyncio").filters)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("asyncio").filters[:] = filters


def test_json_lines_carry_the_lifecycle_event(restore_logging: None,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", "INFO")
    event = LifecycleEvent(EventName.RESTART_SCHEDULED, "sessions", "acct-1", 1800.0,
                           reason=Reason.CANARY, attempt=1, delay=1.0)
    logging.getLogger("warden.events").warning(event.describe(), extra={"event": event.fields()})
    line = json.loads(capsys.readouterr().err.strip())
    assert line["level"] == "warning"
    assert line["event"]["name"] == "restart_scheduled"
    assert line["event"]["reason"] == "canary"


def test_the_echo_of_a_killed_driver_is_dropped_and_other_errors_kept(
        restore_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("text", "INFO")
    asyncio_log = logging.getLogger("asyncio")
    asyncio_log.error("Future exception was never retrieved\nfuture: <Future finished "
                      "exception=Exception('Connection closed while reading from the driver')>")
    asyncio_log.error("a real problem")
    err = capsys.readouterr().err
    assert "a real problem" in err
    assert "reading from the driver" not in err
