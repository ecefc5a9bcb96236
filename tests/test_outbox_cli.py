"""`warden outbox` shows each endpoint's backlog and dead letters, and queues dead letters again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from actors.delivery import Outcome
from actors.endpoint import Route
from actors.outbox import FILE_NAME, Outbox, StoredEvent
from actors.outbox_queue import Answer

REPO = Path(__file__).resolve().parents[1]
SECRET = "whsec_ZGVtby1zZWNyZXQtZGVtby1zZWNyZXQtZGVtbw=="


def warden(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "warden", *args], capture_output=True,
                          text=True, timeout=60, cwd=REPO, env=env, check=False)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "supervisor.yaml"
    path.write_text(f"state_dir: {tmp_path / 'state'}\n"
                    "webhook:\n  url: http://127.0.0.1:9/hook?key=s3cret\n  keep_delivered: 2h\n")
    return path


@pytest.fixture
def two_endpoints(tmp_path: Path) -> Path:
    path = tmp_path / "two.yaml"
    path.write_text(f"state_dir: {tmp_path / 'state'}\n"
                    "webhooks:\n"
                    f"  - {{id: crm, url: 'http://127.0.0.1:9/crm', secret: '{SECRET}'}}\n"
                    f"  - {{id: audit, url: 'http://127.0.0.1:9/audit', secret: '{SECRET}'}}\n")
    return path


def answer(box: Outbox, endpoint: str, event: StoredEvent, outcome: Outcome, status: int,
           error: str) -> None:
    box.endpoint(endpoint).settle([Answer(event.pos, outcome, status, error, 1.8e9, 0.01)])


def test_it_shows_pending_oldest_and_dead_letters(config_file: Path, tmp_path: Path) -> None:
    box = Outbox(tmp_path / "state" / FILE_NAME)
    try:
        dead = box.append("acct-1", "message.received", {})
        answer(box, "default", dead, Outcome.DEAD_LETTER, 400, "HTTP 400: bad payload")
        head = box.append("acct-1", "message.received", {})
        answer(box, "default", head, Outcome.RETRY, 503, "HTTP 503")
        box.append("acct-2", "session.started", {})
    finally:
        box.close()

    result = warden("outbox", "-c", str(config_file))

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[2].split() == ["endpoint", "default", "http://127.0.0.1:9/hook?redacted"]  # no key
    assert lines[3].split()[:2] == ["pending", "2"] and "oldest accepted" in lines[3]
    assert lines[4].split() == ["dead", "letters", "1"]
    assert lines[5].split()[:2] == ["delivered", "0"] and "kept 2h" in lines[5]
    assert head.id in lines[6] and "1 failed attempt, last: HTTP 503" in lines[6]
    assert any(dead.id in line and "HTTP 400: bad payload" in line for line in lines[7:])
    assert "s3cret" not in result.stdout


def test_requeue_moves_a_dead_letter_back(config_file: Path, tmp_path: Path) -> None:
    box = Outbox(tmp_path / "state" / FILE_NAME)
    try:
        events = [box.append("acct-1", "message.received", {"i": i}) for i in range(3)]
        for event in events:
            answer(box, "default", event, Outcome.DEAD_LETTER, 422, "HTTP 422")
    finally:
        box.close()

    one = warden("outbox", "-c", str(config_file), "requeue", events[0].id)
    again = warden("outbox", "-c", str(config_file), "requeue", events[0].id)
    unknown = warden("outbox", "-c", str(config_file), "requeue", "evt_nosuchevent")
    rest = warden("outbox", "-c", str(config_file), "requeue", "--all-dead")

    assert one.returncode == 0, one.stderr
    assert again.returncode == 2 and "not a dead letter" in again.stderr
    assert unknown.returncode == 2 and "no event evt_nosuchevent" in unknown.stderr
    assert rest.returncode == 0 and "default: requeued 2 dead letters" in rest.stdout
    box = Outbox(tmp_path / "state" / FILE_NAME)
    try:
        assert [w.pos for w in box.endpoint("default").waiting(0, 10)] == [
            e.pos for e in events]
        assert box.endpoint("default").stats().dead_letters == 0
    finally:
        box.close()


def test_each_endpoint_is_shown_and_requeued_on_its_own(two_endpoints: Path,
                                                        tmp_path: Path) -> None:
    box = Outbox(tmp_path / "state" / FILE_NAME, routes=[Route("crm"), Route("audit")])
    try:
        event = box.append("acct-1", "message.received", {})
        answer(box, "crm", event, Outcome.DEAD_LETTER, 422, "HTTP 422: crm says no")
        answer(box, "audit", event, Outcome.DEAD_LETTER, 400, "HTTP 400: audit says no")
    finally:
        box.close()

    shown = warden("outbox", "-c", str(two_endpoints))
    only_crm = warden("outbox", "-c", str(two_endpoints), "requeue", event.id, "--endpoint",
                      "crm")
    nowhere = warden("outbox", "-c", str(two_endpoints), "requeue", "--all-dead",
                     "--endpoint", "billing")
    rest = warden("outbox", "-c", str(two_endpoints), "requeue", "--all-dead")

    assert shown.returncode == 0, shown.stderr
    assert "endpoint crm" in shown.stdout and "endpoint audit" in shown.stdout
    assert "crm says no" in shown.stdout and "audit says no" in shown.stdout
    assert only_crm.returncode == 0 and "crm: requeued" in only_crm.stdout
    assert "audit" not in only_crm.stdout
    assert nowhere.returncode == 2 and "no endpoint 'billing'" in nowhere.stderr
    assert "crm: requeued 0" in rest.stdout and "audit: requeued 1" in rest.stdout


def test_without_a_file_or_with_a_bad_config(config_file: Path, tmp_path: Path) -> None:
    empty = warden("outbox", "-c", str(config_file))
    bad = tmp_path / "bad.yaml"
    bad.write_text("webhook:\n  secret: whsec_***\n")
    broken = warden("outbox", "-c", str(bad))

    assert empty.returncode == 0 and "nothing queued yet" in empty.stdout
    assert broken.returncode == 2 and "webhook.secret" in broken.stderr


def test_a_corrupted_outbox_is_one_line_and_exit_2(config_file: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / FILE_NAME).write_bytes(b"this is no database" * 100)

    result = warden("outbox", "-c", str(config_file))

    assert result.returncode == 2
    assert "is corrupted" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
