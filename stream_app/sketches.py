"""Unique visitors that merge: HyperLogLog sketches of visitor keys (Apache DataSketches).

A ``Uniques`` counts distinct 64-bit visitor keys in a few kilobytes at most. Two sketches merge into the
sketch of the union of what each saw, so a window's sketch merges across buckets, partitions and workers,
and minute sketches merge into hours and hours into days, without ever counting a visitor twice.

The sketches are DataSketches' HLL (``lg_k`` 12, 4-bit registers), whose compact bytes any DataSketches
library (Java, C++, Python) reads: the aggregates topic carries them as they are.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from datasketches import hll_sketch, hll_union, tgt_hll_type

LG_K = 12
"""log2 of the sketch's registers: 4,096 registers, at most ~2 KiB serialised."""

RELATIVE_STANDARD_ERROR = 1.04 / math.sqrt(1 << LG_K)
"""The HLL estimator's relative standard error at ``LG_K`` (about 1.6 %); small counts are exact or
nearly so (the sketch keeps a list of keys until it has a few hundred)."""

_TYPE = tgt_hll_type.HLL_4


class Uniques:
    """A mergeable distinct count of visitor keys."""

    __slots__ = ("_sketch",)

    def __init__(self, sketch: hll_sketch | None = None) -> None:
        self._sketch = sketch if sketch is not None else hll_sketch(LG_K, _TYPE)

    def add(self, visitor: int) -> None:
        """Count ``visitor`` (a 64-bit key; counting it again changes nothing)."""
        self._sketch.update(visitor)

    def add_all(self, visitors: Iterable[int]) -> None:
        """Count every key of ``visitors``."""
        update = self._sketch.update
        for visitor in visitors:
            update(visitor)

    def merge(self, other: Uniques) -> None:
        """Add everything ``other`` counted."""
        if other.is_empty():
            return
        union = hll_union(LG_K)
        union.update(self._sketch)
        union.update(other._sketch)
        self._sketch = union.get_result(_TYPE)

    def estimate(self) -> float:
        """The estimated number of distinct visitors."""
        return float(self._sketch.get_estimate())

    def bounds(self, std_devs: int = 2) -> tuple[float, float]:
        """(lower, upper) bounds of the true count at ``std_devs`` standard deviations (1, 2 or 3)."""
        return float(self._sketch.get_lower_bound(std_devs)), float(self._sketch.get_upper_bound(std_devs))

    def is_empty(self) -> bool:
        """True when nothing was counted."""
        return bool(self._sketch.is_empty())

    def to_bytes(self) -> bytes:
        """The sketch's compact DataSketches serialisation."""
        return bytes(self._sketch.serialize_compact())

    @classmethod
    def from_bytes(cls, data: bytes) -> Uniques:
        """Read a sketch written by ``to_bytes`` (or any DataSketches HLL sketch)."""
        return cls(hll_sketch.deserialize(data))

    def __eq__(self, other: object) -> bool:
        """Sketches are equal when they serialise the same (the same keys counted, in effect)."""
        if not isinstance(other, Uniques):
            return NotImplemented
        return self.to_bytes() == other.to_bytes()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Uniques(~{self.estimate():.0f})"

    def copy(self) -> Uniques:
        """An independent copy."""
        return Uniques.from_bytes(self.to_bytes())


def union(sketches: Iterable[Uniques]) -> Uniques:
    """One sketch counting every visitor any of ``sketches`` counted."""
    merged = hll_union(LG_K)
    empty = True
    for sketch in sketches:
        if not sketch.is_empty():
            merged.update(sketch._sketch)
            empty = False
    return Uniques() if empty else Uniques(merged.get_result(_TYPE))
