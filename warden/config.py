"""Warden's configuration: `supervisor.yaml` read, defaulted and validated once, at the edge.

Everything downstream takes these frozen dataclasses and never re-checks them. A relative
`state_dir` is relative to the config file's directory, except under systemd's
`StateDirectory=` (`$STATE_DIRECTORY`) or for a config under /etc, where it is relative to
that state directory (`/var/lib/warden` for /etc): state never lands in /etc.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from actors.adapters import BUILTIN_ADAPTERS, load_adapter
from actors.endpoint import DEFAULT_ENDPOINT, WebhookConfig, matching_types
from actors.front_config import HttpConfig
from actors.ids import SESSION_ID_RULE, is_session_id
from actors.policy import CanaryPolicy, Policy
from actors.webhook_event import EventType
from httpkit import is_loopback, split_listen
from runtime import Backoff, OnExhausted, RestartBudget
from runtime.units import parse_duration, parse_size
from runtime.yamlsource import ConfigError, Located, Problem, load_yaml
from warden.credentials import credential_text, token_problem

__all__ = [
    "MAX_CONFIG_BYTES",
    "BrowserConfig",
    "Config",
    "ConfigError",
    "SessionConfig",
    "SimulatorConfig",
    "load_config",
    "parse_config",
]

# What built-in adapters bring: a default url, a policy named after them.
ADAPTER_URLS = {name: url for name in BUILTIN_ADAPTERS
                if (url := load_adapter(name).default_url) is not None}
ADAPTER_POLICIES = {name: policy for name in BUILTIN_ADAPTERS
                    if (policy := load_adapter(name).default_policy) is not None}
ADAPTER_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
MAX_CONFIG_BYTES = 1 << 20  # a config of a thousand sessions is about 100 KiB
ETC_STATE_DIR = Path("/var/lib/warden")
ENDPOINT_KEYS = frozenset({"url", "secret", "timeout", "retry", "keep_delivered", "events",
                           "sessions", "connections"})


@dataclass(frozen=True, slots=True)
class BrowserConfig:
    executable: str = "auto"
    args: tuple[str, ...] = ()
    sessions_per_driver: int = 16


@dataclass(frozen=True, slots=True)
class SessionConfig:
    id: str
    adapter: str
    url: str
    policy_name: str
    policy: Policy


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    host: str = "127.0.0.1"
    port: int = 3002


@dataclass(frozen=True, slots=True)
class Config:
    file: str
    state_dir: Path
    http: HttpConfig
    browser: BrowserConfig
    webhooks: tuple[WebhookConfig, ...]  # the endpoints, in config order
    policies: Mapping[str, Policy]
    sessions: tuple[SessionConfig, ...]
    simulator: SimulatorConfig | None
    # The line of every key written, by path (`http.listen`, `sessions[2].url`): where a reload
    # that cannot be applied points.
    lines: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)

    def line(self, path: str) -> int:
        """The line `path` was written on, else that of its nearest written parent (0: none)."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path.rpartition(".")[0]
        return 0

    @property
    def webhook(self) -> WebhookConfig:
        """The endpoint `default`, else the first one (the demo sink verifies with its secret)."""
        for endpoint in self.webhooks:
            if endpoint.id == DEFAULT_ENDPOINT:
                return endpoint
        return self.webhooks[0] if self.webhooks else WebhookConfig()


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate `path`; raises ConfigError naming every problem with its line."""
    file = str(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(file, [Problem(0, "", f"cannot read: {exc.strerror}")]) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(file, [Problem(0, "", f"the file is larger than {MAX_CONFIG_BYTES} "
                                                "bytes; is it the right file?")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(file, [Problem(line, "", "not UTF-8 text")]) from None
    return parse_config(text, file, environ)


def parse_config(text: str, file: str = "<config>",
                 environ: Mapping[str, str] | None = None) -> Config:
    root = load_yaml(text, file, environ)
    reader = _Reader(file)
    folder = Path(file).resolve().parent if file != "<config>" else Path.cwd()
    config = reader.config(root, folder, environ)
    if reader.problems or config is None:
        raise ConfigError(file, reader.problems)
    return config


T = TypeVar("T")


class _Reader:
    """Turns `Located` YAML into config dataclasses, collecting every problem on the way."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.lines: dict[str, int] = {}

    def fail(self, where: Located, message: str, path: str | None = None) -> None:
        self.problems.append(Problem(where.line, where.path if path is None else path, message))

    def mapping(self, node: Located, allowed: frozenset[str]) -> dict[str, Located] | None:
        if not isinstance(node.value, dict):
            self.fail(node, f"expected a mapping, got {_kind(node.value)}")
            return None
        for key, value in node.value.items():
            self.lines[node.child_path(key)] = node.key_lines.get(key, value.line)
            if key not in allowed:
                self.problems.append(Problem(
                    node.key_lines.get(key, value.line), node.child_path(key),
                    f"unknown key (expected one of: {', '.join(sorted(allowed))})"))
        return dict(node.value)

    def convert(self, node: Located | None, parse: Callable[[Any], T], default: T) -> T:
        if node is None:
            return default
        try:
            return parse(node.value)
        except (ValueError, TypeError) as exc:
            plain = node.as_plain()  # `${N:-3}` is the string "3": a number where one is wanted
            if plain is not node.value:
                try:
                    return parse(plain)
                except (ValueError, TypeError):
                    pass
            self.fail(node, str(exc))
            return default

    # --- sections -----------------------------------------------------------------------------

    def config(self, root: Located, folder: Path,
               environ: Mapping[str, str] | None = None) -> Config | None:
        top = self.mapping(root, frozenset(
            {"state_dir", "http", "browser", "webhook", "webhooks", "policies", "sessions",
             "simulator"}))
        if top is None:
            return None
        given = self.convert(top.get("state_dir"), _string, None)
        policies = self.policies(top.get("policies"))
        return Config(
            file=self.file,
            state_dir=_state_dir(given, folder, os.environ if environ is None else environ),
            http=self.http(top.get("http")),
            browser=self.browser(top.get("browser")),
            webhooks=self.webhooks(top.get("webhook"), top.get("webhooks"),
                                   root.key_lines.get("webhooks")),
            policies=policies,
            sessions=self.sessions(top.get("sessions"), policies),
            simulator=self.simulator(top.get("simulator")),
            lines=self.lines,
        )

    def http(self, node: Located | None) -> HttpConfig:
        if node is None:
            return HttpConfig()
        keys = self.mapping(node, frozenset({"listen", "token", "metrics_public"}))
        if keys is None:
            return HttpConfig()
        host, port = self.convert(keys.get("listen"), lambda v: split_listen(_string(v)),
                                  ("127.0.0.1", 3001))
        token = self.convert(keys.get("token"), _token, "")
        if token and (problem := token_problem(token)):
            self.fail(keys["token"], problem)
        if not token and not is_loopback(host):
            self.fail(keys.get("listen") or node,
                      f"listening on {host} (not loopback) needs http.token to be set")
        return HttpConfig(host=host, port=port, token=token,
                          metrics_public=self.convert(keys.get("metrics_public"), _bool, True))

    def browser(self, node: Located | None) -> BrowserConfig:
        if node is None:
            return BrowserConfig()
        keys = self.mapping(node, frozenset({"executable", "args", "sessions_per_driver"}))
        if keys is None:
            return BrowserConfig()
        default = BrowserConfig()
        return BrowserConfig(
            executable=self.convert(keys.get("executable"), _string, default.executable),
            args=tuple(self.convert(keys.get("args"), _string_list, [])),
            sessions_per_driver=self.convert(keys.get("sessions_per_driver"), _positive_int,
                                             default.sessions_per_driver),
        )

    def webhooks(self, single: Located | None, several: Located | None,
                 key_line: int | None) -> tuple[WebhookConfig, ...]:
        if single is not None and several is not None:
            self.problems.append(Problem(
                several.line if key_line is None else key_line, several.path,
                "give either webhook (one endpoint) or webhooks (a list), not both"))
            return ()
        if several is None:
            if single is None:
                return (WebhookConfig(),)
            keys = self.mapping(single, ENDPOINT_KEYS)
            return (WebhookConfig(),) if keys is None else (self.endpoint(keys, DEFAULT_ENDPOINT),)
        if not isinstance(several.value, list):
            self.fail(several, f"expected a list of endpoints, got {_kind(several.value)}")
            return ()
        seen: dict[str, int] = {}
        endpoints = []
        for item in several.value:
            keys = self.mapping(item, ENDPOINT_KEYS | {"id"})
            if keys is None:
                continue
            missing = [k for k in ("id", "url", "secret") if k not in keys]
            if missing:
                self.fail(item, f"missing key{'s' if len(missing) > 1 else ''}: "
                                f"{', '.join(missing)}")
            endpoint_id = self.convert(keys.get("id"), _endpoint_id, "")
            if endpoint_id and endpoint_id in seen:
                self.fail(keys["id"], f"duplicate endpoint id {endpoint_id!r} "
                                      f"(first at line {seen[endpoint_id]})")
            elif endpoint_id:
                seen[endpoint_id] = keys["id"].line
            endpoints.append(self.endpoint(keys, endpoint_id))
        return tuple(endpoints)

    def endpoint(self, keys: dict[str, Located], endpoint_id: str) -> WebhookConfig:
        default = WebhookConfig()
        schedule, jitter = default.schedule, default.jitter
        retry = keys.get("retry")
        if retry is not None:
            retry_keys = self.mapping(retry, frozenset({"schedule", "jitter"}))
            if retry_keys is not None:
                schedule = tuple(self.convert(retry_keys.get("schedule"), _durations,
                                              list(schedule)))
                jitter = self.convert(retry_keys.get("jitter"), _fraction, jitter)
        return WebhookConfig(
            id=endpoint_id,
            url=self.convert(keys.get("url"), _http_url, default.url),
            secret=self.convert(keys.get("secret"), _secret, default.secret),
            timeout=self.convert(keys.get("timeout"), _positive_duration, default.timeout),
            schedule=schedule,
            jitter=jitter,
            keep_delivered=self.convert(keys.get("keep_delivered"), parse_duration,
                                        default.keep_delivered),
            events=tuple(self.convert(keys.get("events"), _event_globs, [])),
            sessions=tuple(self.convert(keys.get("sessions"), _session_ids, [])),
            connections=self.convert(keys.get("connections"), _positive_int,
                                     default.connections),
        )

    def policies(self, node: Located | None) -> dict[str, Policy]:
        policies = {"default": Policy(), **ADAPTER_POLICIES}
        if node is None:
            return policies
        if not isinstance(node.value, dict):
            self.fail(node, f"expected a mapping of policy names, got {_kind(node.value)}")
            return policies
        for name, value in node.value.items():  # a built-in one redefined starts from itself
            policies[name] = self.policy(value, ADAPTER_POLICIES.get(name, Policy()))
        return policies

    def policy(self, node: Located, base: Policy) -> Policy:
        keys = self.mapping(node, frozenset(
            {"heartbeat", "canary", "activity", "memory", "restart", "on_exhausted"}))
        if keys is None:
            return base
        hb_interval, hb_timeout = base.heartbeat_interval, base.heartbeat_timeout
        if (hb := self.section(keys.get("heartbeat"), {"interval", "timeout"}, allow_off=False)):
            hb_interval = self.convert(hb.get("interval"), _positive_duration, hb_interval)
            hb_timeout = self.convert(hb.get("timeout"), _positive_duration, hb_timeout)
            if hb_timeout <= hb_interval:
                self.fail(hb.get("timeout") or keys["heartbeat"],
                          "must be longer than heartbeat.interval")
        canary = base.canary
        node_canary = keys.get("canary")
        if _is_off(node_canary):
            canary = None
        elif (cn := self.section(node_canary, {"interval", "timeout", "failures"})):
            canary = canary or CanaryPolicy()
            canary = CanaryPolicy(
                interval=self.convert(cn.get("interval"), _positive_duration, canary.interval),
                timeout=self.convert(cn.get("timeout"), _positive_duration, canary.timeout),
                failures=self.convert(cn.get("failures"), _positive_int, canary.failures),
            )
        activity = base.activity_timeout
        if _is_off(keys.get("activity")):
            activity = None
        elif (act := self.section(keys.get("activity"), {"timeout"})):
            activity = self.convert(act.get("timeout"), _positive_duration, activity)
        memory = base.memory_limit
        if _is_off(keys.get("memory")):
            memory = None
        elif (mem := self.section(keys.get("memory"), {"limit"})):
            memory = self.convert(mem.get("limit"), _positive_size, memory)
        return Policy(
            heartbeat_interval=hb_interval,
            heartbeat_timeout=hb_timeout,
            canary=canary,
            activity_timeout=activity,
            memory_limit=memory,
            budget=self.budget(keys.get("restart"), keys.get("on_exhausted")),
        )

    def budget(self, node: Located | None, on_exhausted: Located | None) -> RestartBudget:
        base = RestartBudget()
        exhausted = self.convert(on_exhausted, _on_exhausted, base.on_exhausted)
        keys = self.section(node, {"max_restarts", "window", "backoff", "reset_after",
                                   "cooldown"}, allow_off=False)
        if not keys:
            return RestartBudget(on_exhausted=exhausted)
        backoff = base.backoff
        if (bk := self.section(keys.get("backoff"), {"initial", "factor", "max", "jitter"},
                               allow_off=False)):
            backoff = Backoff(
                initial=self.convert(bk.get("initial"), parse_duration, backoff.initial),
                factor=self.convert(bk.get("factor"), _factor, backoff.factor),
                max=self.convert(bk.get("max"), parse_duration, backoff.max),
                jitter=self.convert(bk.get("jitter"), _fraction, backoff.jitter),
            )
        return RestartBudget(
            max_restarts=self.convert(keys.get("max_restarts"), _non_negative_int,
                                      base.max_restarts),
            window=self.convert(keys.get("window"), _positive_duration, base.window),
            backoff=backoff,
            reset_after=self.convert(keys.get("reset_after"), _positive_duration,
                                     base.reset_after),
            on_exhausted=exhausted,
            cooldown=(None if _is_off(keys.get("cooldown"))
                      else self.convert(keys.get("cooldown"), _positive_duration, base.cooldown)),
        )

    def section(self, node: Located | None, allowed: set[str],
                allow_off: bool = True) -> dict[str, Located] | None:
        if node is None:
            return None
        if _is_off(node) and not allow_off:
            self.fail(node, "cannot be off")
            return None
        return self.mapping(node, frozenset(allowed))

    def sessions(self, node: Located | None,
                 policies: Mapping[str, Policy]) -> tuple[SessionConfig, ...]:
        if node is None:
            return ()
        if not isinstance(node.value, list):
            self.fail(node, f"expected a list of sessions, got {_kind(node.value)}")
            return ()
        seen: dict[str, int] = {}
        sessions = []
        for item in node.value:
            keys = self.mapping(item, frozenset({"id", "adapter", "url", "policy"}))
            if keys is None:
                continue
            if "id" not in keys:
                self.fail(item, "missing key: id")
                continue
            session_id = self.convert(keys["id"], _session_id, "")
            if session_id and session_id in seen:
                self.fail(keys["id"], f"duplicate session id {session_id!r} "
                                      f"(first at line {seen[session_id]})")
            seen.setdefault(session_id, keys["id"].line)
            adapter = self.convert(keys.get("adapter"), _adapter, "simulator")
            default_url = ADAPTER_URLS.get(adapter, "")
            if "url" not in keys and not default_url:
                self.fail(item, "missing key: url")
            url = self.convert(keys.get("url"), _http_url, default_url)
            policy_name = self.convert(keys.get("policy"), _string,
                                       adapter if adapter in ADAPTER_POLICIES else "default")
            if policy_name not in policies:
                self.fail(keys["policy"], f"unknown policy {policy_name!r} "
                                          f"(defined: {', '.join(sorted(policies))})")
            sessions.append(SessionConfig(session_id, adapter, url, policy_name,
                                          policies.get(policy_name, Policy())))
        return tuple(sessions)

    def simulator(self, node: Located | None) -> SimulatorConfig | None:
        if node is None:
            return None
        keys = self.mapping(node, frozenset({"listen"}))
        if keys is None:
            return None
        host, port = self.convert(keys.get("listen"), lambda v: split_listen(_string(v)),
                                  ("127.0.0.1", 3002))
        if not is_loopback(host):
            self.fail(keys.get("listen") or node, "the simulator listens on loopback only")
        return SimulatorConfig(host, port)


def _kind(value: object) -> str:
    return {dict: "a mapping", list: "a list", type(None): "nothing"}.get(
        type(value), f"{type(value).__name__} {value!r}")


def _is_off(node: Located | None) -> bool:
    return node is not None and (node.value is False or node.value == "off")


def _string(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string, got {_kind(value)}")
    return value


def _token(value: object) -> str:
    """The token as written; unset (`token:` or `token: ~` in the file itself) is empty."""
    return "" if value is None else credential_text(value)


def _state_dir(given: str | None, folder: Path, environ: Mapping[str, str]) -> Path:
    """`state_dir` made absolute: see the module's docstring."""
    if given is not None and Path(given).is_absolute():
        return Path(given)
    systemd = environ.get("STATE_DIRECTORY", "").split(":")[0]
    if systemd:
        base = Path(systemd)
    elif folder == Path("/etc") or Path("/etc") in folder.parents:
        base = ETC_STATE_DIR
    else:
        return folder / (given or "var")
    return base / given if given else base


def _string_list(value: object) -> list[str]:
    if not isinstance(value, list):
        raise ValueError(f"expected a list of strings, got {_kind(value)}")
    items = [v.value for v in value]
    if not all(isinstance(i, str) for i in items):
        raise ValueError("expected a list of strings")
    return items


def _durations(value: object) -> list[float]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"expected a non-empty list of durations, got {_kind(value)}")
    return [parse_duration(v.value) for v in value]


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {_kind(value)}")
    return value


def _positive_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"expected a whole number of at least 1, got {_kind(value)}")
    return value


def _non_negative_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a whole number of at least 0, got {_kind(value)}")
    return value


def _fraction(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise ValueError(f"expected a number from 0 up to (not including) 1, got {_kind(value)}")
    return float(value)


def _factor(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 1:
        raise ValueError(f"expected a number of at least 1, got {_kind(value)}")
    return float(value)


def _positive_duration(value: object) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"must be longer than 0, got {value!r}")
    return seconds


def _positive_size(value: object) -> int:
    size = parse_size(value)
    if size <= 0:
        raise ValueError(f"must be larger than 0, got {value!r}")
    return size


def _on_exhausted(value: object) -> OnExhausted:
    choices = " | ".join(OnExhausted)
    if not isinstance(value, str) or value not in set(OnExhausted):
        raise ValueError(f"expected one of {choices}, got {value!r}")
    return OnExhausted(value)


def _session_id(value: object) -> str:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not is_session_id(text):
        raise ValueError(f"expected {SESSION_ID_RULE}, got {value!r}")
    return text


def _endpoint_id(value: object) -> str:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not is_session_id(text):
        raise ValueError(f"expected {SESSION_ID_RULE}, got {value!r}")
    if text == "events":  # GET /webhooks/events/{id} is an event's route
        raise ValueError("'events' is reserved; choose another endpoint id")
    return text


def _event_globs(value: object) -> list[str]:
    globs = _string_list(value)
    if not globs:
        raise ValueError("expected at least one event type or glob (leave `events` out for all)")
    for glob in globs:
        if not matching_types([glob]):
            raise ValueError(f"{glob!r} matches no event type (known: "
                             f"{', '.join(t.value for t in EventType)})")
    return globs


def _session_ids(value: object) -> list[str]:
    ids = [_session_id(v.value) for v in value] if isinstance(value, list) else None
    if not ids:
        raise ValueError(f"expected a non-empty list of session ids, got {_kind(value)}")
    return ids


def _adapter(value: object) -> str:
    text = _string(value)
    if text not in BUILTIN_ADAPTERS and not ADAPTER_PATH.match(text):
        builtin = ", ".join(sorted(BUILTIN_ADAPTERS))
        raise ValueError(
            f"unknown adapter {text!r} (built-in: {builtin}; or 'package.module:Class')")
    if text not in BUILTIN_ADAPTERS:
        from actors.adapters import load_adapter  # imports Playwright: only for custom ones

        # Importing runs the module: whatever it raises, or a sys.exit(), is its problem.
        try:
            load_adapter(text)  # a ValueError saying why it cannot be used
        except ValueError:
            raise
        except SystemExit as exc:
            raise ValueError(f"adapter {text!r}: importing it called sys.exit({exc.code!r})"
                             ) from None
        except Exception as exc:
            module = text.partition(":")[0]
            why = (str(exc).splitlines() or [""])[0]
            raise ValueError(f"adapter {text!r}: importing {module} raised "
                             f"{type(exc).__name__}: {why}") from None
    return text


def _http_url(value: object) -> str:
    text = _string(value)
    if not re.match(r"^https?://[^\s/]+(/\S*)?$", text):
        raise ValueError(f"expected an http:// or https:// URL, got {text!r}")
    return text


def _secret(value: object) -> str:
    text = credential_text(value)
    if text.startswith("whsec_"):
        try:
            key = base64.b64decode(text.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("a whsec_ secret must be followed by base64 (e.g. whsec_"
                             "ZGVtby1zZWNyZXQ=); the value given is not valid base64") from None
        if len(key) < 16:
            raise ValueError(f"the whsec_ key decodes to {len(key)} bytes; use at least 16")
    elif len(text) < 16:
        raise ValueError(f"a secret must be at least 16 characters, got {len(text)}")
    return text
