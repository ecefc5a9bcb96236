"""A YAML source keeps each value's line and fills in ${VAR} and ${VAR:-default}."""

from __future__ import annotations

import time
import tracemalloc

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
        "s3cret", "fallback", "used", "7", "7", "pre-s3cret-post", ""]


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


# --- hostile input: bounded, and always a located error ------------------------------------------


def alias_bomb(per_level: int, levels: int) -> str:
    lines = ["a0: &a0 [x, y, z]"]
    for level in range(1, levels + 1):
        refs = ", ".join([f"*a{level - 1}"] * per_level)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_once_in_bounded_memory() -> None:
    tracemalloc.start()
    began = time.perf_counter()
    try:
        with pytest.raises(ConfigError) as info:
            load_yaml(alias_bomb(9, 9), "bomb.yaml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - began < 2.0
    assert peak < 20 * 2**20
    (problem,) = info.value.problems
    assert problem.line == 6  # the alias that takes the document past the bound
    assert "aliases expand" in problem.message and "*a4 used here" in problem.message


def test_aliases_within_the_bound_still_work() -> None:
    root = load_yaml("base: &b {x: 1}\nuse: *b\nmerged:\n  <<: *b\n  y: 2\n", "f.yaml")
    assert value(root, "use", "x") == 1
    assert (value(root, "merged", "x"), value(root, "merged", "y")) == (1, 2)


def test_a_recursive_alias_is_an_error_not_a_crash() -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml("ok: 1\na: &a [1, *a]\n", "f.yaml")
    assert info.value.render().startswith("f.yaml:2: (top): not valid YAML: ")
    assert "recursive" in info.value.render()


def test_brackets_nested_thousands_deep_are_an_error_with_a_line() -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml("ok: 1\nx: " + "[" * 5000 + "\n", "f.yaml")
    (problem,) = info.value.problems
    assert problem.line == 2
    assert "nested more than" in problem.message


@pytest.mark.parametrize(("text", "line"), [("a: 1\nb: x\x00y\n", 2), ("a: \x07\n", 1),
                                            ("a: 1\n\ufffeb: 2\n", 2)])
def test_a_control_character_is_an_error_with_its_line(text: str, line: int) -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml(text, "f.yaml")
    (problem,) = info.value.problems
    assert problem.line == line
    assert "not valid YAML" in problem.message and "character" in problem.message


# --- environment substitution ---------------------------------------------------------------------


def test_substituted_values_stay_strings_whatever_they_look_like() -> None:
    env = {"T": "null", "U": "~", "N": "12345", "B": "true", "F": "1.5", "E": ""}
    root = load_yaml("a: ${T}\nb: ${U}\nc: ${N}\nd: ${B}\ne: ${F}\nf: ${E:-no}\ng: ${E}\n",
                     "f.yaml", environ=env)
    assert [value(root, k) for k in "abcdefg"] == ["null", "~", "12345", "true", "1.5", "no", ""]
    assert root.value["c"].substituted and not load_yaml("c: 1\n", "f").value["c"].substituted
    assert root.value["c"].as_plain() == 12345  # for keys that want a number


def test_a_default_may_hold_another_variable_and_is_read_only_when_used() -> None:
    env = {"B": "bee", "A": "ay"}
    root = load_yaml("a: ${X:-${B}}\nb: ${X:-${Y:-deep}}\nc: ${A:-${UNSET}}\n"
                     "d: ${X:-pre-${B}-post}\n", "f.yaml", environ=env)
    assert [value(root, k) for k in "abcd"] == ["bee", "deep", "ay", "pre-bee-post"]
    with pytest.raises(ConfigError) as info:
        load_yaml("a: ${X:-${UNSET}}\n", "f.yaml", environ={})
    assert "environment variable UNSET is not set" in info.value.render()


def test_a_doubled_dollar_keeps_a_literal_placeholder() -> None:
    root = load_yaml("a: pa$${NOT}ss\nb: $5 and $x\n", "f.yaml", environ={"NOT": "no"})
    assert (value(root, "a"), value(root, "b")) == ("pa${NOT}ss", "$5 and $x")


@pytest.mark.parametrize(("text", "says"), [
    ("${WARDEN_API_TOKEN", "not closed"),
    ("x-${A:-${B}", "not closed"),
    ("${}", "expected a variable name"),
    ("${1A}", "expected a variable name"),
    ("${A-b}", "expected } or :-"),
    ("${A:?b}", "expected } or :-"),
    ("${A:-hunter2-literal", "not closed"),
    ("hunter2${", "expected a variable name"),
])
def test_a_malformed_placeholder_is_an_error_that_does_not_echo_the_value(
        text: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml(f"http:\n  token: {text}\n", "f.yaml", environ={"A": "s3cr3t-value"})
    rendered = info.value.render()
    assert rendered.startswith("f.yaml:2: http.token: ")
    assert says in rendered
    assert "s3cr3t" not in rendered and "hunter2" not in rendered
