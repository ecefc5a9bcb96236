"""`warden run` refuses an outbox it cannot trust with one line, before any browser starts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from actors.outbox import FILE_NAME, Outbox
from actors.outbox_health import marker_path
from tests.test_run import WARDEN, browsers_of, free_port


def config(tmp_path: Path) -> Path:
    path = tmp_path / "supervisor.yaml"
    sim = free_port()
    path.write_text(f"state_dir: {tmp_path / 'state'}\n"
                    f"http:\n  listen: 127.0.0.1:{free_port()}\n"
                    "sessions:\n"
                    f"  - id: acct-1\n    url: http://127.0.0.1:{sim}/chat/acct-1\n"
                    f"simulator:\n  listen: 127.0.0.1:{sim}\n")
    return path


def run(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([WARDEN, "run", "-c", str(path)], capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.mark.parametrize("damage", ["corrupted", "missing"])
def test_an_unusable_outbox_is_refused_before_anything_starts(tmp_path: Path,
                                                              damage: str) -> None:
    path = config(tmp_path)
    outbox = tmp_path / "state" / FILE_NAME
    Outbox(outbox).close()
    if damage == "corrupted":
        outbox.write_bytes(b"\xff" * 8192)
    else:
        outbox.unlink()

    result = run(path)

    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{path}: {outbox}")
    assert ("is corrupted" if damage == "corrupted" else "is missing") in lines[0]
    assert "Traceback" not in result.stderr and "running" not in result.stderr
    assert not browsers_of(tmp_path / "state")
    assert marker_path(outbox).exists()  # nothing was made up in its place
    if damage == "missing":
        assert not outbox.exists()
