"""An Avro writer specialised to ``window_aggregate.v3``: the worker emits one record per link and closed
window, each with up to thousands of cells, and fastavro's writer walks the schema for every field of
every cell. This writes the fields in the schema's order, with the encoded forms of repeated strings
(dimension values) cached. ``tests/unit/schemas/test_aggregate_writer.py`` checks it against fastavro.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from schemas.aggregates import WindowAggregate

CACHED_STRINGS = 100_000
"""Most encoded strings (and cells) kept; a cache starts afresh past it."""


def _long(value: int) -> bytes:
    """A zigzag varint."""
    n = (value << 1) ^ (value >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


SMALL_COUNTS = 1 << 13
_SMALL = [_long(value) for value in range(SMALL_COUNTS)]
"""Encoded counts below ``SMALL_COUNTS``: most counts are."""


def _count(value: int) -> bytes:
    return _SMALL[value] if 0 <= value < SMALL_COUNTS else _long(value)


class AggregateWriter:
    """Writes ``WindowAggregate`` bodies in the ``window_aggregate.v3`` schema (without the header)."""

    def __init__(self) -> None:
        self._strings: dict[str, bytes] = {}
        self._cells: dict[tuple[str, ...], bytes] = {}

    def _str(self, value: str) -> bytes:
        encoded = self._strings.get(value)
        if encoded is None:
            raw = value.encode()
            encoded = _long(len(raw)) + raw
            if len(self._strings) >= CACHED_STRINGS:
                self._strings.clear()
            self._strings[value] = encoded
        return encoded

    def body(self, aggregate: WindowAggregate) -> bytes:
        """Return the Avro body of ``aggregate``."""
        s = self._str
        parts = [
            s(aggregate.granularity),
            _long(aggregate.window_start_ms),
            _long(aggregate.window_end_ms),
            s(aggregate.link_id),
            s(aggregate.account_id),
            b"\x00" if aggregate.slug is None else b"\x02" + s(aggregate.slug),
            _long(aggregate.clicks),
            _long(aggregate.clicks - aggregate.bot),
            _long(aggregate.bot),
        ]
        if aggregate.countries:
            parts.append(_long(len(aggregate.countries)))
            for country, (clicks, bot) in aggregate.countries.items():
                parts.append(b"\x00" if country is None else b"\x02" + s(country))
                parts.append(_count(clicks) + _count(clicks - bot) + _count(bot))
        parts.append(b"\x00")
        if aggregate.cells:
            parts.append(_long(len(aggregate.cells)))
            cells = self._cells
            if len(cells) >= CACHED_STRINGS:
                cells.clear()
            strings = self._strings.__getitem__
            small = _SMALL
            append = parts.append
            for cell, (clicks, bot) in aggregate.cells.items():
                encoded = cells.get(cell)
                if encoded is None:
                    try:  # every value seen before (most cells): no Python call per value
                        encoded = b"".join(map(strings, cell))
                    except KeyError:
                        encoded = b"".join(map(s, cell))
                    cells[cell] = encoded
                append(encoded)
                append(small[clicks] if 0 <= clicks < SMALL_COUNTS else _long(clicks))
                append(small[bot] if 0 <= bot < SMALL_COUNTS else _long(bot))
        parts.append(b"\x00")
        parts.append(_long(len(aggregate.humans)) + aggregate.humans)
        parts.append(_long(len(aggregate.bots)) + aggregate.bots)
        parts.append(_long(aggregate.revision))
        return b"".join(parts)
