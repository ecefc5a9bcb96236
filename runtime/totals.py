"""Totals are a child's named counts over all its incarnations: those banked plus the live ones.

Each incarnation counts from zero in its `ChildContext`; its counts are banked when it ends,
so a total never goes back when the child restarts (a counter that did would fire alerts).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from types import MappingProxyType

from runtime.context import ChildContext

__all__ = ["Totals"]

_NONE: Mapping[str, int] = MappingProxyType({})


class Totals:
    """The counts of one child record; used on its supervisor's thread only."""

    __slots__ = ("_banked", "_live", "_merged", "_merged_of")

    def __init__(self) -> None:
        self._banked: Counter[str] = Counter()  # counts of the incarnations that ended
        self._live: ChildContext | None = None  # the incarnation whose counts are not banked
        self._merged: Mapping[str, int] = _NONE  # banked + live, as merged for `_merged_of`
        self._merged_of: Mapping[str, int] | None = None

    def follow(self, ctx: ChildContext) -> None:
        """A new incarnation counts from now on (what the last one counted is banked)."""
        self.bank()
        self._live = ctx

    def bank(self) -> None:
        """The live incarnation has ended: keep what it counted."""
        if self._live is not None:
            self._banked.update(self._live.counts)
            self._live = None
            self._merged_of = None

    def read(self) -> Mapping[str, int]:
        """Banked plus live counts, by name."""
        live = self._live.counts if self._live is not None else _NONE
        if not self._banked:
            return live
        if live is not self._merged_of:  # read at every publication: merge only what changed
            merged = dict(live)
            for name, n in self._banked.items():
                merged[name] = merged.get(name, 0) + n
            self._merged, self._merged_of = MappingProxyType(merged), live
        return self._merged
