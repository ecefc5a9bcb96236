"""A YAML source keeps each value's line and fills in ${VAR} and ${VAR:-default}."""

from __future__ import annotations

import pytest

from runtime.yamlsource import ConfigError, Located, load_yaml


def value(node: Located, *path: str | int) -> object:
    for key in path:
        node = node.value[key]
    return node.value


def test_values_keep_their_line_and_key_path() -> None:
    root = load_yaml("a: 1\nb:\n  - x: hello\n    y: [1, 2]\n", "f.yaml")
    item = root.value["b"].value[0]
    assert (item.line, item.path) == (3, "b[0]")
    assert (item.value["y"].line, item.value["y"].path) == (4, "b[0].y")
    assert item.key_lines == {"x": 3, "y": 4}
    assert value(root, "b", 0, "x") == "hello"


def test_variables_are_replaced_from_the_given_environment() -> None:
    env = {"TOKEN": "s3cret", "EMPTY": "", "N": "7"}
    root = load_yaml(
        "a: ${TOKEN}\nb: ${MISSING:-fallback}\nc: ${EMPTY:-used}\nd: ${N:-3}\ne: '${N}'\n"
        "f: pre-${TOKEN}-post\ng: ${MISSING:-}\n", "f.yaml", environ=env)
    assert [value(root, k) for k in "abcdefg"] == [
        "s3cret", "fallback", "used", 7, "7", "pre-s3cret-post", None]


def test_an_unset_variable_without_default_is_an_error_with_its_line() -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml("ok: 1\nhttp:\n  token: ${WARDEN_NOPE}\n", "f.yaml", environ={})
    assert info.value.render() == (
        "f.yaml:3: http.token: environment variable WARDEN_NOPE is not set "
        "(write ${WARDEN_NOPE:-default} for a default)")


def test_a_duplicate_key_is_an_error_that_points_at_both() -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml("http:\n  listen: a\n  listen: b\n", "f.yaml")
    assert info.value.render() == "f.yaml:3: http.listen: duplicate key (first at line 2)"


@pytest.mark.parametrize(("text", "line"), [
    ("a: [1, 2\nb: 3\n", 1),  # the unclosed `[`, not where the parser gave up
    ("a: 1\n b: 2\n", 2),
    ("a:\n\t- 1\n", 2),
    ("a: 1\n---\nb: 2\n", 2),
])
def test_a_syntax_error_is_reported_with_its_line(text: str, line: int) -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml(text, "bad.yaml")
    (problem,) = info.value.problems
    assert problem.line == line
    assert info.value.render().startswith(f"bad.yaml:{line}: (top): ")


def test_a_broken_construct_is_named_where_it_starts_and_where_the_parser_gave_up() -> None:
    text = "a: 1\nb: {x: 1, y: 2\n" + "".join(f"c{i}: {i}\n" for i in range(20))
    with pytest.raises(ConfigError) as info:
        load_yaml(text, "bad.yaml")
    assert info.value.render() == (
        "bad.yaml:2: (top): not valid YAML: while parsing a flow mapping that starts here: "
        "expected ',' or '}', but got ':' at line 3")


def test_an_empty_file_is_an_empty_mapping() -> None:
    assert load_yaml("# nothing\n", "f.yaml").value == {}
