"""Deploy files: alert rules are valid, keep hosts apart and print readable numbers; with the
Grafana dashboard they use only metrics Warden exports; the systemd unit asks for what `warden
run` does, ships no token and is hardened."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
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


# --- several hosts, readable numbers ---------------------------------------------------------


def rules() -> list[dict[str, object]]:
    groups = yaml.safe_load((DEPLOY / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_alert_values_are_formatted_for_people() -> None:
    for rule in rules():
        for text in dict(rule.get("annotations") or {}).values():  # type: ignore[call-overload]
            for use in re.findall(r"\{\{[^}]*\$value[^}]*\}\}", text):
                assert re.search(r"\|\s*(printf|humanize)", use), (rule["alert"], use)


def test_alert_rules_keep_instances_apart() -> None:
    for rule in rules():
        expr = str(rule["expr"])
        for clause in re.findall(r"\b(?:by|on)\s*\(([^)]*)\)", expr):
            assert "instance" in clause, (rule["alert"], clause)
        assert "job=" not in expr.replace(" ", ""), rule["alert"]  # any job name works
        for text in dict(rule.get("annotations") or {}).values():  # type: ignore[call-overload]
            if "query" in text:
                assert "$labels.instance" in text, (rule["alert"], text)


PROMTOOL_TESTS = """
rule_files: [%(rules)s]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'warden_session_restarts_total{instance="a:3001",session="acct-1",reason="crash"}'
        values: '0 0 0 1 2 3 3 3 3 3 3 3'
      - series: 'warden_session_restarts_total{instance="b:3001",session="acct-1",reason="crash"}'
        values: '0 0 0 1 2 3 4 5 6 6 6 6'
      - series: 'up{instance="a:3001", job="warden-eu"}'
        values: '1 1 1 0 0 0 0 0 0 0 0 0'
      - series: 'warden_actor_mailbox_size{instance="a:3001", job="warden-eu", actor="front"}'
        values: '0 0 0'
      - series: 'up{instance="n:9100", job="node"}'
        values: '0 0 0 0 0 0 0 0 0 0 0 0'
    alert_rule_test:
      - eval_time: 10m
        alertname: WardenSessionCrashLoop
        exp_alerts:
          - exp_labels: {severity: warning, instance: "a:3001", session: acct-1}
            exp_annotations:
              summary: "Session acct-1 on a:3001 restarted 3 times in 15 minutes"
          - exp_labels: {severity: warning, instance: "b:3001", session: acct-1}
            exp_annotations:
              summary: "Session acct-1 on b:3001 restarted 6 times in 15 minutes"
      - eval_time: 10m
        alertname: WardenDown
        exp_alerts:
          - exp_labels: {severity: critical, instance: "a:3001", job: warden-eu}
            exp_annotations:
              summary: "Warden on a:3001 is not answering Prometheus scrapes"
"""


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_sees_each_host_alert_on_its_own(tmp_path: Path) -> None:
    tests = tmp_path / "alerts_test.yml"
    tests.write_text(PROMTOOL_TESTS % {"rules": DEPLOY / "alerts.yml"})
    result = subprocess.run(["promtool", "test", "rules", str(tests)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_session_state_panel_is_an_instant_table_per_host() -> None:
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    (panel,) = [p for p in dashboard["panels"] if p["title"] == "Session state"]
    (target,) = panel["targets"]
    assert panel["type"] == "table"
    assert (target["instant"], target["range"], target["format"]) == (True, False, "table")
    assert "instance" in target["expr"]


# --- the unit -------------------------------------------------------------------------------------


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in (DEPLOY / "warden.service").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_the_unit_ships_no_token() -> None:
    unit = (DEPLOY / "warden.service").read_text()
    assert not re.search(r"^Environment=.*(TOKEN|SECRET)", unit, re.M | re.I)
    assert "EnvironmentFile=-/etc/warden/env" in unit


def test_the_unit_runs_as_its_own_user_with_its_own_state_and_closed_files() -> None:
    settings = unit_settings()
    assert settings.get("DynamicUser") == ["yes"] or "User" in settings
    for key, value in (("StateDirectory", "warden"), ("UMask", "0077"),
                       ("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                       ("ProtectHome", "yes"), ("PrivateTmp", "yes")):
        assert settings.get(key) == [value], key
    assert "MemoryDenyWriteExecute" not in settings  # V8 and Node need executable memory
    # Chromium's sandbox makes user, pid and net namespaces and calls chroot
    restricted = settings["RestrictNamespaces"][0].lstrip("~").split()
    assert not {"user", "pid", "net"} & set(restricted)
    assert any("chroot" in f.split() for f in settings["SystemCallFilter"])


def analyze_security_works() -> bool:
    if shutil.which("systemd-analyze") is None:
        return False
    probe = subprocess.run(["systemd-analyze", "security", "--help"], capture_output=True,
                           text=True, timeout=30)
    return "--offline" in probe.stdout


@pytest.mark.skipif(not analyze_security_works(),
                    reason="systemd-analyze security --offline is not available")
def test_systemd_rates_the_unit_ok() -> None:
    result = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--threshold=25",
                             str(DEPLOY / "warden.service")], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    score = re.search(r"Overall exposure level for warden.service: ([\d.]+)", result.stdout)
    assert score is not None and float(score.group(1)) <= 2.5, result.stdout[-300:]
