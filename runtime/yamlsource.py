"""A YAML source keeps the line of every value and fills in `${VAR}` / `${VAR:-default}`.

Validation reads `Located` values so every error can say `FILE:LINE: key.path: what is wrong`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

__all__ = ["ConfigError", "Located", "Problem", "load_yaml"]

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True, slots=True)
class Problem:
    line: int
    path: str
    message: str


class ConfigError(Exception):
    """One or more problems in a config file, each with its line and key path."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        self.problems = sorted(problems, key=lambda p: (p.line, p.path))
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(f"{self.file}:{p.line}: {p.path or '(top)'}: {p.message}"
                         for p in self.problems)


@dataclass(slots=True)
class Located:
    """A value and where it was written. Mappings hold `Located` values, as do sequences."""

    value: Any
    line: int
    path: str
    key_lines: dict[str, int] = field(default_factory=dict)

    def child_path(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else key


def load_yaml(text: str, file: str, environ: Mapping[str, str] | None = None) -> Located:
    """Parse `text`; raises ConfigError for YAML syntax errors, duplicate keys, unset variables."""
    env = os.environ if environ is None else environ
    loader = yaml.SafeLoader(text)
    problems: list[Problem] = []
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(file, [_syntax_problem(exc)]) from None
    finally:
        loader.dispose()
    if node is None:
        return Located({}, 1, "")
    located = _convert(node, "", loader, env, problems)
    if problems:
        raise ConfigError(file, problems)
    return located


def _syntax_problem(exc: yaml.MarkedYAMLError) -> Problem:
    """Both ends of a syntax error: where the broken construct starts (the context mark) and
    where the parser gave up. An unclosed bracket or quote is reported where it opens, often
    many lines before the parser notices; other errors where they are."""
    start, stop = exc.context_mark, exc.problem_mark
    problem = exc.problem or "broken"
    context = exc.context or ""
    if start is None or stop is None or not context.startswith("while ") or start.line == stop.line:
        mark = stop or start
        return Problem(mark.line + 1 if mark else 1, "", f"not valid YAML: {problem}")
    unclosed = any(word in context for word in ("flow", "quoted"))
    if unclosed:
        return Problem(start.line + 1, "", f"not valid YAML: {context} that starts here: "
                                           f"{problem} at line {stop.line + 1}")
    return Problem(stop.line + 1, "", f"not valid YAML: {problem} ({context} that starts at "
                                      f"line {start.line + 1})")


def _convert(node: yaml.Node, path: str, loader: yaml.SafeLoader, env: Mapping[str, str],
             problems: list[Problem]) -> Located:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out = Located({}, line, path)
        own = {id(k) for k, _ in node.value if k.tag != _MERGE}
        try:
            loader.flatten_mapping(node)  # `<<: *defaults` merge keys, as YAML 1.1 has them
        except yaml.MarkedYAMLError as exc:
            problems.append(Problem(line, path, f"cannot merge: {exc.problem}"))
            return Located(None, line, path)
        merged: set[str] = set()
        for key_node, value_node in node.value:
            key_value = _construct(key_node, path, loader, problems)
            if key_value is _INVALID:
                continue
            key = str(key_value)
            key_line = key_node.start_mark.line + 1
            child_path = out.child_path(key)
            if id(key_node) not in own:  # from a merge: an explicit key of the same name wins
                if key in merged or any(str(k.value) == key for k, _ in node.value
                                        if id(k) in own):
                    continue
                merged.add(key)
            elif key in out.value and key not in merged:
                problems.append(Problem(key_line, child_path,
                                        f"duplicate key (first at line {out.key_lines[key]})"))
                continue
            out.key_lines[key] = key_line
            out.value[key] = _convert(value_node, child_path, loader, env, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        out = Located([], line, path)
        for i, item in enumerate(node.value):
            out.value.append(_convert(item, out.child_path(i), loader, env, problems))
        return out
    assert isinstance(node, yaml.ScalarNode)
    if "${" in node.value:
        try:
            text = _substitute(node.value, env)
        except KeyError as exc:
            name = exc.args[0]
            problems.append(Problem(line, path, f"environment variable {name} is not set "
                                                f"(write ${{{name}:-default}} for a default)"))
            return Located(None, line, path)
        if node.style is None:  # plain scalars are typed after substitution: ${N:-3} is an int
            tag = loader.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
            node = yaml.ScalarNode(tag, text, node.start_mark, node.end_mark)
        else:
            return Located(text, line, path)
    value = _construct(node, path, loader, problems)
    return Located(None if value is _INVALID else value, line, path)


_MERGE = "tag:yaml.org,2002:merge"
_INVALID = object()


def _construct(node: yaml.Node, path: str, loader: yaml.SafeLoader,
               problems: list[Problem]) -> Any:
    """The Python value of a scalar node; a problem (and `_INVALID`) if YAML cannot make one,
    e.g. `!!int abc` or `!!timestamp 2024-13-45`."""
    try:
        return loader.construct_object(node)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
        reason = getattr(exc, "problem", None) or str(exc)
        problems.append(Problem(node.start_mark.line + 1, path,
                                f"cannot read {node.value!r} as {node.tag.rsplit(':', 1)[-1]}: "
                                f"{reason}"))
        return _INVALID


def _substitute(text: str, env: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = env.get(name)
        if default is not None:  # like the shell: ${VAR:-d} also replaces an empty VAR
            return value if value else default
        if value is None:
            raise KeyError(name)
        return value

    return _VAR.sub(replace, text)
