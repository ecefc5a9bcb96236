"""Config against hostile or careless input: tokens and secrets from the environment stay the
strings they are, placeholders are refused, errors never echo a secret, the state directory
never lands in /etc, and oversized files are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from warden.config import MAX_CONFIG_BYTES, Config, ConfigError, load_config, parse_config

TOKEN = "http:\n  listen: 0.0.0.0:3001\n  token: ${WARDEN_API_TOKEN}\n"
SECRET = "webhook:\n  secret: ${WARDEN_WEBHOOK_SECRET}\n"


def parse(text: str, file: str = "f.yaml", **env: str) -> Config:
    return parse_config(text, file, environ=env)


def errors(text: str, **env: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(text, **env)
    return info.value.render().splitlines()


# --- tokens and secrets from the environment --------------------------------------------------


@pytest.mark.parametrize("token", ["12345678901234567890", "true", "0x1F", "1e3", "no", "-.inf"])
def test_a_token_that_looks_like_a_number_or_boolean_is_that_string(token: str) -> None:
    assert parse(TOKEN, WARDEN_API_TOKEN=token).http.token == token


@pytest.mark.parametrize("secret", ["1234567890123456789012", "123456789012345678.0"])
def test_a_secret_that_looks_like_a_number_is_that_string(secret: str) -> None:
    assert parse(SECRET, WARDEN_WEBHOOK_SECRET=secret).webhook.secret == secret


@pytest.mark.parametrize("token", ["null", "~", "None", "NULL", "undefined"])
def test_a_token_that_says_nothing_is_neither_empty_nor_a_token(token: str) -> None:
    (line,) = errors(TOKEN, WARDEN_API_TOKEN=token)
    assert line.startswith("f.yaml:3: http.token: ")
    assert "placeholder" in line


@pytest.mark.parametrize("token", ["change-me", "changeme", "CHANGE_ME", "secret", "token",
                                   "password", "your-token-here", "<token>", "xxxxxxxx",
                                   "REPLACE_ME", "api-token", "example"])
def test_well_known_placeholders_are_refused_without_being_echoed(token: str) -> None:
    for text, env in ((TOKEN, {"WARDEN_API_TOKEN": token}),
                      (f"http:\n  listen: 127.0.0.1:3001\n  token: '{token}'\n", {})):
        assert errors(text, **env) == [  # the whole message: the value is not in it
            "f.yaml:3: http.token: is a well-known placeholder, not a secret: generate one, "
            "e.g. with `openssl rand -hex 32`"]


@pytest.mark.parametrize("token", ["has space", "tab\there", "new\nline", "nul\x01"])
def test_a_token_with_spaces_or_control_characters_is_refused_without_echo(token: str) -> None:
    (line,) = errors(TOKEN, WARDEN_API_TOKEN=token)
    assert line.startswith("f.yaml:3: http.token: ")
    assert "spaces or control characters" in line
    assert token.split()[0] not in line


@pytest.mark.parametrize(("text", "secret"), [
    ("http:\n  token: 31337\n", "31337"),
    ("http:\n  token: [a, b]\n", "'a'"),
    ("webhook:\n  secret: 1234567890123456789\n", "1234567890123456789"),
    ("webhook:\n  secret: 12345\n", "12345"),
])
def test_a_token_or_secret_of_the_wrong_kind_in_the_file_is_not_echoed(
        text: str, secret: str) -> None:
    (line,) = errors(text)
    assert line.startswith("f.yaml:2: ")
    assert "quotes" in line or "string" in line
    assert secret not in line


def test_a_short_secret_from_the_environment_is_refused_without_echo() -> None:
    (line,) = errors(SECRET, WARDEN_WEBHOOK_SECRET="31337")
    assert line == "f.yaml:2: webhook.secret: a secret must be at least 16 characters, got 5"


def test_an_unclosed_placeholder_is_an_error_not_the_token() -> None:
    (line,) = errors("http:\n  listen: 0.0.0.0:3001\n  token: ${WARDEN_API_TOKEN\n",
                     WARDEN_API_TOKEN="a-real-token-value")
    assert line.startswith("f.yaml:3: http.token: ") and "not closed" in line
    assert "a-real-token-value" not in line


def test_substituted_numbers_and_booleans_still_work_where_one_is_wanted() -> None:
    config = parse("http:\n  metrics_public: ${PUBLIC:-false}\n"
                   "browser:\n  sessions_per_driver: ${PER:-4}\n", PER="8")
    assert (config.http.metrics_public, config.browser.sessions_per_driver) == (False, 8)
    (line,) = errors("browser:\n  sessions_per_driver: ${PER}\n", PER="many")
    assert line.startswith("f.yaml:2: browser.sessions_per_driver: expected a whole number")


# --- where state lives ----------------------------------------------------------------------------


def test_the_default_state_dir_never_lands_in_etc() -> None:
    assert parse("", "/etc/warden/supervisor.yaml").state_dir == Path("/var/lib/warden")
    assert parse("state_dir: var\n", "/etc/warden/supervisor.yaml").state_dir == Path(
        "/var/lib/warden/var")
    assert parse("state_dir: /srv/w\n", "/etc/warden/supervisor.yaml").state_dir == Path("/srv/w")


def test_systemd_state_directory_is_the_base_of_a_relative_state_dir(tmp_path: Path) -> None:
    file = str(tmp_path / "supervisor.yaml")
    state = "/var/lib/private/warden"
    assert parse("", file, STATE_DIRECTORY=f"{state}:/var/lib/other").state_dir == Path(state)
    assert parse("state_dir: var\n", file, STATE_DIRECTORY=state).state_dir == Path(state) / "var"
    assert parse("", "/etc/warden/w.yaml", STATE_DIRECTORY=state).state_dir == Path(state)
    assert parse("", file).state_dir == tmp_path / "var"  # elsewhere: beside the config file


# --- files ----------------------------------------------------------------------------------------


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"# " + b"x" * MAX_CONFIG_BYTES + b"\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.render().startswith(f"{path}:0: (top): the file is larger than ")


def test_a_directory_is_not_a_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path)
