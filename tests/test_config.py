"""Config: supervisor.yaml read, defaulted and validated once; errors name their line."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.adapters.whatsapp import WhatsAppAdapter
from actors.front_config import HttpConfig
from actors.policy import CanaryPolicy, Policy
from runtime import Backoff, OnExhausted, RestartBudget
from warden.config import Config, ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parent.parent
SESSION = "sessions:\n  - id: acct-1\n    url: http://127.0.0.1:3002/chat/acct-1\n"


def parse(text: str, **env: str) -> Config:
    return parse_config(text, "f.yaml", environ=env)


def errors(text: str, **env: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(text, **env)
    return info.value.render().splitlines()


# --- what a valid file gives ----------------------------------------------------------------


def test_the_embedded_default_is_valid_and_its_policy_is_the_builtin_default() -> None:
    config = load_config(ROOT / "supervisor.yaml", environ={})
    assert [s.id for s in config.sessions] == ["acct-1", "acct-2", "acct-3"]
    assert config.policies["default"] == Policy()
    assert config.sessions[0].policy == Policy()
    assert config.http == HttpConfig(host="127.0.0.1", port=3001, token="", metrics_public=True)
    assert config.simulator is not None and config.simulator.port == 3002
    assert config.state_dir == ROOT / "var"


def test_the_builtin_defaults_are_the_values_of_the_spec() -> None:
    policy = Policy()
    assert (policy.heartbeat_interval, policy.heartbeat_timeout) == (2.0, 10.0)
    assert policy.canary == CanaryPolicy(interval=10.0, timeout=5.0, failures=2)
    assert (policy.activity_timeout, policy.memory_limit) == (1800.0, 500 * 2**20)
    assert policy.budget == RestartBudget(
        max_restarts=3, window=600.0, backoff=Backoff(1.0, 2.0, 30.0, 0.2), reset_after=300.0,
        on_exhausted=OnExhausted.GIVE_UP)


def test_a_policy_sets_any_subset_and_the_rest_is_default() -> None:
    config = parse("policies:\n  fast:\n    restart:\n      max_restarts: 5\n"
                   "      backoff: {max: 2m}\n    on_exhausted: escalate\n"
                   "    canary: off\n    memory: {limit: 1GiB}\n"
                   + SESSION + "    policy: fast\n")
    fast = config.sessions[0].policy
    assert fast == Policy(
        canary=None, memory_limit=2**30,
        budget=RestartBudget(max_restarts=5, backoff=Backoff(max=120.0),
                             on_exhausted=OnExhausted.ESCALATE))
    assert config.sessions[0].policy_name == "fast"
    assert config.policies["default"] == Policy()


@pytest.mark.parametrize("section", ["canary", "activity", "memory"])
def test_canary_activity_and_memory_may_be_off(section: str) -> None:
    policy = parse(f"policies:\n  p:\n    {section}: off\n").policies["p"]
    assert {"canary": policy.canary, "activity": policy.activity_timeout,
            "memory": policy.memory_limit}[section] is None


def test_variables_come_from_the_environment_with_defaults() -> None:
    text = ("http:\n  listen: ${LISTEN:-127.0.0.1:3001}\n  token: ${WARDEN_API_TOKEN:-}\n"
            "webhook:\n  secret: ${SECRET:-whsec_ZGVtby1zZWNyZXQtZGVtby1zZWNyZXQtZGVtbw==}\n")
    defaulted = parse(text)
    assert (defaulted.http.port, defaulted.http.token) == (3001, "")
    given = parse(text, LISTEN="0.0.0.0:8080", WARDEN_API_TOKEN="t0ken",
                  SECRET="a-plain-secret-of-enough-length")
    assert (given.http.host, given.http.port, given.http.token) == ("0.0.0.0", 8080, "t0ken")
    assert given.webhook.secret == "a-plain-secret-of-enough-length"


def test_a_relative_state_dir_is_relative_to_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "w.yaml"
    path.parent.mkdir()
    path.write_text("state_dir: data\n")
    assert load_config(path).state_dir == tmp_path / "conf" / "data"
    path.write_text(f"state_dir: {tmp_path / 'abs'}\n")
    assert load_config(path).state_dir == tmp_path / "abs"


def test_an_empty_file_is_all_defaults() -> None:
    config = parse("")
    assert config.sessions == ()
    assert config.simulator is None
    assert config.policies == {"default": Policy(), "whatsapp": WhatsAppAdapter.default_policy}


# --- every error names its line and key path ---------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("bogus: 1\n", "f.yaml:1: bogus: unknown key (expected one of: browser, http, policies, "
                   "sessions, simulator, state_dir, webhook, webhooks)"),
    ("http:\n  listen: 127.0.0.1:1\n  tokn: x\n",
     "f.yaml:3: http.tokn: unknown key (expected one of: listen, metrics_public, token)"),
    ("policies:\n  p:\n    heartbeat: {interval: 1s, every: 2s}\n",
     "f.yaml:3: policies.p.heartbeat.every: unknown key (expected one of: interval, timeout)"),
    (SESSION + "    polcy: default\n",
     "f.yaml:4: sessions[0].polcy: unknown key (expected one of: adapter, id, policy, url)"),
])
def test_unknown_keys_are_errors(text: str, expected: str) -> None:
    assert errors(text) == [expected]


def test_duplicate_session_ids_are_errors_that_point_at_the_first() -> None:
    assert errors(SESSION + "  - id: acct-1\n    url: http://x/\n") == [
        "f.yaml:4: sessions[1].id: duplicate session id 'acct-1' (first at line 2)"]


def test_an_unknown_policy_name_is_an_error() -> None:
    assert errors(SESSION + "    policy: fast\n") == [
        "f.yaml:4: sessions[0].policy: unknown policy 'fast' (defined: default, whatsapp)"]


def test_an_unknown_on_exhausted_is_an_error() -> None:
    (line,) = errors("policies:\n  p:\n    on_exhausted: explode\n")
    assert line.startswith("f.yaml:3: policies.p.on_exhausted: ")
    assert "explode" in line


@pytest.mark.parametrize(("text", "expected"), [
    ("webhook:\n  timeout: 15\n", "f.yaml:2: webhook.timeout: expected a duration such as "
                                  "250ms, 5s, 10m or 2h, got 15 (did you mean '15s'?)"),
    ("policies:\n  p:\n    restart: {window: 10 minutes}\n",
     "f.yaml:3: policies.p.restart.window: expected a duration such as 250ms, 5s, 10m or 2h, "
     "got '10 minutes'"),
    ("policies:\n  p:\n    activity: {timeout: 0s}\n",
     "f.yaml:3: policies.p.activity.timeout: must be longer than 0, got '0s'"),
    ("policies:\n  p:\n    memory: {limit: 500MB!}\n",
     "f.yaml:3: policies.p.memory.limit: expected a size such as 500MiB or 1GiB, got '500MB!'"),
    ("policies:\n  p:\n    heartbeat: {interval: 5s, timeout: 5s}\n",
     "f.yaml:3: policies.p.heartbeat.timeout: must be longer than heartbeat.interval"),
    ("policies:\n  p:\n    heartbeat: off\n", "f.yaml:3: policies.p.heartbeat: cannot be off"),
    ("policies:\n  p:\n    restart: {max_restarts: -1}\n",
     "f.yaml:3: policies.p.restart.max_restarts: expected a whole number of at least 0, "
     "got int -1"),
    ("policies:\n  p:\n    restart: {backoff: {jitter: 1.5}}\n",
     "f.yaml:3: policies.p.restart.backoff.jitter: expected a number from 0 up to "
     "(not including) 1, got float 1.5"),
])
def test_bad_durations_sizes_and_numbers_are_errors(text: str, expected: str) -> None:
    assert errors(text) == [expected]


@pytest.mark.parametrize("bad_id", ["'has space'", "' x'", "''", "a/b", "x" * 65, "é"])
def test_bad_session_ids_are_errors(bad_id: str) -> None:
    (line,) = errors(f"sessions:\n  - id: {bad_id}\n    url: http://x/\n")
    assert line.startswith("f.yaml:2: sessions[0].id: expected 1-64 of A-Z a-z 0-9 _ -")


def test_a_session_needs_an_id_and_a_url() -> None:
    assert errors("sessions:\n  - adapter: simulator\n") == [
        "f.yaml:2: sessions[0]: missing key: id"]
    assert errors("sessions:\n  - id: a\n") == ["f.yaml:2: sessions[0]: missing key: url"]


def test_a_non_loopback_listen_needs_a_token() -> None:
    assert errors("http:\n  listen: 0.0.0.0:3001\n") == [
        "f.yaml:2: http.listen: listening on 0.0.0.0 (not loopback) needs http.token to be set"]
    assert parse("http:\n  listen: 0.0.0.0:3001\n  token: t\n").http.token == "t"


def test_an_unset_variable_is_an_error_with_its_line() -> None:
    assert errors("webhook:\n  url: ${HOOK_URL}\n") == [
        "f.yaml:2: webhook.url: environment variable HOOK_URL is not set "
        "(write ${HOOK_URL:-default} for a default)"]


def test_yaml_syntax_errors_and_duplicate_keys_are_errors_with_their_line() -> None:
    (syntax,) = errors("http:\n  listen: [127.0.0.1\nsessions: []\n")
    assert syntax.startswith("f.yaml:2: (top): not valid YAML")  # where the `[` opens
    assert "at line 3" in syntax  # and where the parser gave up
    assert errors("http:\n  listen: 127.0.0.1:1\n  listen: 127.0.0.1:2\n") == [
        "f.yaml:3: http.listen: duplicate key (first at line 2)"]


def test_every_problem_is_reported_at_once_in_line_order() -> None:
    lines = errors("bogus: 1\nwebhook:\n  timeout: soon\n" + SESSION + "    policy: nope\n")
    assert [line.split(":")[1] for line in lines] == ["1", "3", "7"]


def test_a_missing_file_is_an_error() -> None:
    with pytest.raises(ConfigError, match="cannot read: No such file"):
        load_config("/nonexistent/warden.yaml")


# --- found by these tests, fixed in warden/config.py --------------------------------------------


def test_two_invalid_ids_are_not_also_a_duplicate() -> None:
    lines = errors("sessions:\n  - id: 'bad id'\n    url: http://x/\n"
                   "  - id: 'bad id'\n    url: http://x/\n")
    assert len(lines) == 2


def test_a_memory_limit_must_be_positive() -> None:
    assert errors("policies:\n  p:\n    memory: {limit: 0MiB}\n")


def test_an_unknown_on_exhausted_names_the_choices() -> None:
    (line,) = errors("policies:\n  p:\n    on_exhausted: explode\n")
    assert "give_up" in line and "escalate" in line


# --- YAML that used to end in a traceback ---------------------------------------------------


def test_merge_keys_share_a_policy_and_explicit_keys_win() -> None:
    config = parse("policies:\n  base: &base\n    canary: off\n    memory: {limit: 1GiB}\n"
                   "  strict:\n    <<: *base\n    memory: {limit: 300MiB}\n")
    assert config.policies["strict"].canary is None
    assert config.policies["strict"].memory_limit == 300 * 2**20


@pytest.mark.parametrize("value", ["!!int abc", "!!float xyz", "!!timestamp 2024-13-45"])
def test_a_value_yaml_cannot_build_is_an_error_on_its_line(value: str) -> None:
    (line,) = errors(f"state_dir: var\nhttp:\n  metrics_public: {value}\n")
    assert line.startswith("f.yaml:3: http.metrics_public: cannot read")


def test_a_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"state_dir: var\n# caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.render() == f"{path}:2: (top): not UTF-8 text"


def test_an_adapter_that_cannot_be_imported_fails_the_check() -> None:
    (line,) = errors("sessions:\n  - id: a\n    url: http://x/\n    adapter: nosuchpkg.mod:Thing\n")
    assert line.startswith("f.yaml:4: sessions[0].adapter: adapter 'nosuchpkg.mod:Thing': "
                           "cannot import nosuchpkg.mod")


def test_a_failed_session_is_tried_again_after_the_cooldown_unless_it_is_off() -> None:
    default, off, short = (parse(f"policies:\n  p:\n    restart: {{cooldown: {v}}}\n")
                           .policies["p"].budget.cooldown for v in ("15m", "off", "30s"))
    assert (default, off, short) == (900.0, None, 30.0)
    assert parse("").policies["default"].budget.cooldown == 900.0
    assert errors("policies:\n  p:\n    restart: {cooldown: 0s}\n")


def test_sessions_share_a_driver_per_shard_of_a_configured_size() -> None:
    assert parse("").browser.sessions_per_driver == 16
    assert parse("browser: {sessions_per_driver: 4}\n").browser.sessions_per_driver == 4
    (line,) = errors("browser: {sessions_per_driver: 0}\n")
    assert "browser.sessions_per_driver" in line


def test_a_whatsapp_session_needs_no_url_and_gets_a_policy_safe_for_a_real_account() -> None:
    config = parse("sessions:\n  - {id: phone-1, adapter: whatsapp}\n"
                   "  - {id: phone-2, adapter: whatsapp, policy: default}\n")
    first, second = config.sessions
    assert (first.url, first.policy_name) == ("https://web.whatsapp.com/", "whatsapp")
    assert first.policy.canary is not None and first.policy.canary.interval == 300.0
    assert second.policy == Policy()
    redefined = parse("policies:\n  whatsapp: {canary: {interval: 10m}}\n"
                      "sessions:\n  - {id: phone-1, adapter: whatsapp}\n").sessions[0].policy
    assert redefined.canary == CanaryPolicy(interval=600.0, timeout=30.0, failures=2)
    (line,) = errors("sessions:\n  - {id: a}\n")
    assert "missing key: url" in line  # the simulator has no address of its own
# --- webhook endpoints --------------------------------------------------------------------------

SECRET = "whsec_ZGVtby1zZWNyZXQtZGVtby1zZWNyZXQtZGVtbw=="


def endpoints(*items: str) -> str:
    return "webhooks:\n" + "".join(items)


def endpoint(endpoint_id: str, url: str = "http://127.0.0.1:9/hook", extra: str = "") -> str:
    return (f"  - id: {endpoint_id}\n    url: {url}\n    secret: {SECRET}\n" + extra)


def test_a_single_webhook_is_the_endpoint_default_and_wants_everything() -> None:
    (only,) = parse("webhook:\n  url: http://127.0.0.1:9/x\n").webhooks
    assert (only.id, only.url, only.events, only.sessions) == (
        "default", "http://127.0.0.1:9/x", (), ())
    assert only.route().wants("session.offline", "anyone")
    (builtin,) = parse("").webhooks
    assert builtin.id == "default" and builtin.url.endswith("/demo/webhook")


def test_several_endpoints_each_with_their_filters_and_retry() -> None:
    config = parse(endpoints(
        endpoint("crm", extra="    events: [message.received]\n    sessions: [acct-1, acct-2]\n"
                              "    timeout: 5s\n    connections: 4\n"
                              "    retry: {schedule: [0s, 1m], jitter: 0}\n"),
        endpoint("audit", "https://audit.example/warden", "    events: ['session.*']\n")))
    crm, audit = config.webhooks
    assert (crm.id, crm.events, crm.sessions, crm.timeout, crm.connections, crm.schedule,
            crm.jitter) == ("crm", ("message.received",), ("acct-1", "acct-2"), 5.0, 4,
                            (0.0, 60.0), 0.0)
    assert crm.route().wants("message.received", "acct-2")
    assert not crm.route().wants("message.received", "acct-3")
    assert not crm.route().wants("session.started", "acct-1")
    assert audit.route().wants("session.reconciled", "acct-9")
    assert not audit.route().wants("message.received", "acct-9")
    assert config.webhook is crm  # no `default`: the first one verifies the demo sink


def test_giving_both_webhook_and_webhooks_is_an_error() -> None:
    assert errors("webhook:\n  url: http://x/\n" + endpoints(endpoint("a"))) == [
        "f.yaml:3: webhooks: give either webhook (one endpoint) or webhooks (a list), not both"]


@pytest.mark.parametrize(("item", "expected"), [
    (endpoint("a", url="ftp://127.0.0.1/hook"),
     "f.yaml:3: webhooks[0].url: expected an http:// or https:// URL, got 'ftp://127.0.0.1/hook'"),
    (endpoint("a", extra="    events: [message.sent]\n"),
     "f.yaml:5: webhooks[0].events: 'message.sent' matches no event type (known: "
     "message.received, session.started, session.restarting, session.recovered, "
     "session.health_failed, session.auth_required, session.offline, session.reconciled, "
     "session.stopped)"),
    (endpoint("a", extra="    events: []\n"),
     "f.yaml:5: webhooks[0].events: expected at least one event type or glob (leave `events` "
     "out for all)"),
    (endpoint("a b"), "f.yaml:2: webhooks[0].id: expected 1-64 of A-Z a-z 0-9 _ -, got 'a b'"),
    (endpoint("events"), "f.yaml:2: webhooks[0].id: 'events' is reserved; choose another "
                         "endpoint id"),
    (endpoint("a", extra="    connections: 0\n"),
     "f.yaml:5: webhooks[0].connections: expected a whole number of at least 1, got int 0"),
    (endpoint("a", extra="    sessions: [acct 1]\n"),
     "f.yaml:5: webhooks[0].sessions: expected 1-64 of A-Z a-z 0-9 _ -, got 'acct 1'"),
    ("  - id: a\n    url: http://x/\n", "f.yaml:2: webhooks[0]: missing key: secret"),
    ("  - {}\n", "f.yaml:2: webhooks[0]: missing keys: id, url, secret"),
    (endpoint("a", extra="    secrt: x\n"),
     "f.yaml:5: webhooks[0].secrt: unknown key (expected one of: connections, events, id, "
     "keep_delivered, retry, secret, sessions, timeout, url)"),
])
def test_a_bad_endpoint_is_an_error_on_its_line(item: str, expected: str) -> None:
    assert errors(endpoints(item)) == [expected]


def test_a_duplicate_endpoint_id_points_at_the_first() -> None:
    assert errors(endpoints(endpoint("crm"), endpoint("crm"))) == [
        "f.yaml:5: webhooks[1].id: duplicate endpoint id 'crm' (first at line 2)"]


def test_an_empty_list_is_no_endpoint_at_all() -> None:
    assert parse("webhooks: []\n").webhooks == ()
