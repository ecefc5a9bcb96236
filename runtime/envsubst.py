"""Environment substitution fills `${VAR}` and `${VAR:-default}` in config text from a mapping.

A default may itself hold references (`${A:-${B:-x}}`, up to `MAX_NESTING` deep) and is read
only when it is used, as in the shell. `$${` stands for a literal `${`; any other `$` is kept.
Anything else that starts with `${` is an error. Errors say where (a column) and what, never
the text around it: the text is often a secret.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["MAX_NESTING", "SubstitutionError", "UnsetVariable", "substitute"]

MAX_NESTING = 8
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SubstitutionError(ValueError):
    """A malformed `${...}`; the message names the column, never the value."""


class UnsetVariable(SubstitutionError):
    """`${NAME}` without a default, and NAME is not set."""

    def __init__(self, name: str) -> None:
        super().__init__(f"environment variable {name} is not set "
                         f"(write ${{{name}:-default}} for a default)")
        self.name = name


def substitute(text: str, env: Mapping[str, str]) -> str:
    """`text` with every reference replaced; raises SubstitutionError (or UnsetVariable)."""
    value, _, _ = _Scanner(text, env).text(0, depth=0, inner=False, resolve=True)
    return value


class _Scanner:
    """A recursive-descent reading of one string; `inner` text ends at its closing brace."""

    def __init__(self, text: str, env: Mapping[str, str]) -> None:
        self.source = text
        self.env = env

    def text(self, i: int, *, depth: int, inner: bool, resolve: bool) -> tuple[str, int, bool]:
        """The value of the text from `i` up to the end (or, `inner`, up to a `}`): the value,
        where it stopped, and whether it stopped at a `}`."""
        source, parts = self.source, []
        while i < len(source):
            if source.startswith("$${", i):
                parts.append("${")
                i += 3
            elif source.startswith("${", i):
                value, i = self.reference(i, depth=depth, resolve=resolve)
                parts.append(value)
            elif inner and source[i] == "}":
                return "".join(parts), i, True
            else:
                start = i
                i = _next_special(source, i + 1)
                parts.append(source[start:i])
        return "".join(parts), i, False

    def reference(self, start: int, *, depth: int, resolve: bool) -> tuple[str, int]:
        """The value of the `${...}` at `start`, and the index just after it."""
        column = start + 1
        match = _NAME.match(self.source, start + 2)
        if match is None:
            raise SubstitutionError(f"expected a variable name after the ${{ at column {column}")
        name, i = match.group(), match.end()
        given = self.env.get(name)
        if self.source.startswith("}", i):
            if given is None and resolve:
                raise UnsetVariable(name)
            return given or "", i + 1
        if not self.source.startswith(":-", i):
            if i >= len(self.source):
                raise SubstitutionError(f"the ${{{name} at column {column} is not closed "
                                        "(no matching })")
            raise SubstitutionError(f"expected }} or :- after ${{{name} at column {column}")
        if depth >= MAX_NESTING:
            raise SubstitutionError(f"defaults nested more than {MAX_NESTING} deep "
                                    f"at column {column}")
        # like the shell: ${VAR:-d} also replaces an empty VAR, and reads d only then
        default, i, closed = self.text(i + 2, depth=depth + 1, inner=True,
                                       resolve=resolve and not given)
        if not closed:
            raise SubstitutionError(f"the ${{{name} at column {column} is not closed "
                                    "(no matching })")
        return (given if given else default), i + 1


def _next_special(source: str, i: int) -> int:
    """The index of the next `$` or `}` at or after `i` (or the end)."""
    found = [p for p in (source.find("$", i), source.find("}", i)) if p >= 0]
    return min(found) if found else len(source)
