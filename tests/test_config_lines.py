"""A config knows the line of every key written, and the shipped file writes every key there is
with its default value."""

from __future__ import annotations

from pathlib import Path

from actors.webhook import WebhookConfig
from warden.config import load_config, parse_config

ROOT = Path(__file__).resolve().parent.parent

EVERY_KEY = {
    "state_dir", "http.listen", "http.token", "http.metrics_public", "browser.executable",
    "browser.args", "browser.sessions_per_driver", "webhook.url", "webhook.secret",
    "webhook.timeout", "webhook.retry.schedule", "webhook.retry.jitter",
    "webhook.keep_delivered", "policies.default.heartbeat.interval",
    "policies.default.heartbeat.timeout", "policies.default.canary.interval",
    "policies.default.canary.timeout", "policies.default.canary.failures",
    "policies.default.activity.timeout", "policies.default.memory.limit",
    "policies.default.restart.max_restarts", "policies.default.restart.window",
    "policies.default.restart.backoff.initial", "policies.default.restart.backoff.factor",
    "policies.default.restart.backoff.max", "policies.default.restart.backoff.jitter",
    "policies.default.restart.reset_after", "policies.default.restart.cooldown",
    "policies.default.on_exhausted", "sessions[0].id", "sessions[0].adapter", "sessions[0].url",
    "sessions[0].policy", "simulator.listen",
}


def test_the_shipped_file_writes_every_key_with_its_default() -> None:
    config = load_config(ROOT / "supervisor.yaml", environ={})
    assert set(config.lines) >= EVERY_KEY, EVERY_KEY - set(config.lines)
    assert config.webhook == WebhookConfig()


def test_a_key_is_found_on_its_line_and_an_absent_one_on_its_nearest_parent() -> None:
    config = parse_config("# a comment\nhttp:\n  listen: 127.0.0.1:3001\nsessions:\n"
                          "  - id: a\n    url: http://127.0.0.1:9/a\n", "/w/s.yaml", {})
    assert config.line("http.listen") == 3
    assert config.line("http.token") == 2
    assert config.line("sessions[0].url") == 6
    assert config.line("state_dir") == 0
