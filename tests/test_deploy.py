"""Deploy files: alert rules are valid and, with the Grafana dashboard, use only metrics Warden
exports; the systemd unit asks for what `warden run` does."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from runtime.status import StatusBoard
from warden.metrics import Metrics

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
NAME = re.compile(r"\bwarden_[a-z_]+")


def exported() -> set[str]:
    registry = CollectorRegistry()
    Metrics(registry, StatusBoard())
    text = generate_latest(registry).decode()
    names = set(re.findall(r"^# TYPE (\S+)", text, re.M))
    # a histogram h is scraped as h_bucket, h_sum and h_count; a counter c as c_total
    return names | {f"{n}_{s}" for n in names for s in ("bucket", "sum", "count", "total")}


def used_in(text: str) -> set[str]:
    return set(NAME.findall(text))


def test_alert_rules_use_only_exported_metrics() -> None:
    used = used_in((DEPLOY / "alerts.yml").read_text())
    assert used and used <= exported(), used - exported()


def test_the_grafana_dashboard_uses_only_exported_metrics() -> None:
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    used = used_in(exprs)
    assert used and used <= exported(), used - exported()


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_alert_rules() -> None:
    result = subprocess.run(["promtool", "check", "rules", str(DEPLOY / "alerts.yml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_systemd_unit_is_notify_with_a_watchdog_and_restarts_on_failure() -> None:
    unit = (DEPLOY / "warden.service").read_text()
    for line in ("Type=notify", "Restart=on-failure", "KillSignal=SIGTERM"):
        assert re.search(rf"^{line}$", unit, re.M), line
    assert re.search(r"^WatchdogSec=\d+$", unit, re.M)
    assert re.search(r"^ExecStart=\S+warden run -c \S+", unit, re.M)
