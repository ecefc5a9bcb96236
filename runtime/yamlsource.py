"""A YAML source keeps the line of every value and fills in `${VAR}` / `${VAR:-default}`.

Validation reads `Located` values so every error can say `FILE:LINE: key.path: what is wrong`.
Hostile text costs little: aliases may expand a document to at most `MAX_VALUES` values and
collections nest at most `MAX_DEPTH` deep, both counted while the text is read, so an alias
bomb or a deep bracket is refused before anything is built.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import yaml

from runtime.envsubst import SubstitutionError, substitute

__all__ = ["MAX_DEPTH", "MAX_VALUES", "ConfigError", "Located", "Problem", "load_yaml"]

# The shipped config has about 100 values; a thousand sessions would have about 10,000.
MAX_VALUES = 50_000
MAX_DEPTH = 64


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
    substituted: bool = False  # a scalar with `${...}`: its value is the string it became

    def as_plain(self) -> Any:
        """The value as YAML would type the same text written plainly (`3` an int, `true` a
        bool): for keys that want a number from a substituted string."""
        if not (self.substituted and isinstance(self.value, str)):
            return self.value
        loader = yaml.SafeLoader("")
        try:
            tag = loader.resolve(yaml.ScalarNode, self.value, (True, False))  # type: ignore[no-untyped-call]
            return loader.construct_object(yaml.ScalarNode(tag, self.value))
        except (yaml.YAMLError, ValueError, TypeError, OverflowError):
            return self.value
        finally:
            loader.dispose()

    def child_path(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else key


def load_yaml(text: str, file: str, environ: Mapping[str, str] | None = None) -> Located:
    """Parse `text`; raises ConfigError for YAML syntax errors, duplicate keys, unset variables."""
    env = os.environ if environ is None else environ
    problems: list[Problem] = []
    try:
        loader = _BoundedLoader(text)
    except yaml.reader.ReaderError as exc:
        raise ConfigError(file, [_reader_problem(exc, text)]) from None
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(file, [_syntax_problem(exc)]) from None
    except yaml.reader.ReaderError as exc:
        raise ConfigError(file, [_reader_problem(exc, text)]) from None
    finally:
        loader.dispose()
    if node is None:
        return Located({}, 1, "")
    located = _convert(node, "", loader, env, problems)
    if problems:
        raise ConfigError(file, problems)
    return located


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, counting while it composes: every node is 1 value and every
    alias the size of what it names, so the count is the size of the expanded document."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._sizes: dict[int, int] = {}  # id(node) -> its expanded size, once composed
        self._total = 0
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event: yaml.AliasEvent = self.peek_event()  # type: ignore[no-untyped-call]
            target = self.anchors.get(event.anchor)
            if target is not None:
                mark = cast(yaml.Mark, event.start_mark)
                size = self._sizes.get(id(target))
                if size is None:  # its anchor is still open: the alias is inside it
                    raise yaml.composer.ComposerError(
                        None, None, f"found a recursive alias *{event.anchor}", mark)
                self._count(size, mark, f"*{event.anchor}")
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(
                    None, None, f"values nested more than {MAX_DEPTH} levels deep", mark)
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is None:
            return None
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        self._sizes[id(node)] = 1 + sum(self._sizes.get(id(c), 1) for c in children)
        self._count(1, node.start_mark, None)
        return node

    def _count(self, size: int, mark: yaml.Mark, alias: str | None) -> None:
        self._total += size
        if self._total > MAX_VALUES:
            what = (f"aliases expand the document to more than {MAX_VALUES} values "
                    f"({alias} used here)" if alias else f"more than {MAX_VALUES} values")
            raise yaml.composer.ComposerError(None, None, what, mark)


def _reader_problem(exc: yaml.reader.ReaderError, text: str) -> Problem:
    """A character YAML does not allow (NUL, other control characters), at its line."""
    line = text.count("\n", 0, max(exc.position, 0)) + 1
    return Problem(line, "", f"not valid YAML: character #x{exc.character:04x} at line {line} "
                             "is not allowed (control characters cannot appear in YAML)")


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
        # Substituted text stays a string: a token "null" or "123" is that token, never
        # nothing or a number (`Located.as_plain` types it for keys that want one).
        try:
            return Located(substitute(node.value, env), line, path, substituted=True)
        except SubstitutionError as exc:
            problems.append(Problem(line, path, str(exc)))
            return Located(None, line, path)
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
