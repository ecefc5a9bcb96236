"""The systemd unit reloads through `warden reload` on the file it runs, never by a bare signal:
the file is checked first and a refusal fails `systemctl reload`."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

UNIT = Path(__file__).resolve().parent.parent / "deploy" / "warden.service"


def command(key: str) -> list[str]:
    (line,) = re.findall(rf"^{key}=(.*)$", UNIT.read_text(), re.M)
    return shlex.split(line)


def test_exec_reload_runs_warden_reload_on_the_file_exec_start_runs() -> None:
    start, reload = command("ExecStart"), command("ExecReload")
    assert start[1:3] == ["run", "-c"] and reload[1:3] == ["reload", "-c"]
    assert reload[0] == start[0] and reload[3] == start[3]
