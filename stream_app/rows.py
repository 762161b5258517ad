"""A partition's window rows over a key-value store, written as a log: a base row and per-batch segments.

Rewriting every touched row on every batch costs the size of the state, not of the batch: an hour or day
row holds thousands of cells and sketches. So a batch appends, per touched row, one segment holding only
its delta (``<row key>|<n>``), and a row is rewritten whole (its base, ``<row key>``) only every
``segments_per_row`` batches and when its window closes, its segments deleted after. Reading a row is its
base with the segments after it merged in, in order; a segment at or below the base's applied offset was
merged into the base already (a crash between rewriting a base and deleting its segments) and is skipped.

Rows being written are kept in memory, merged; the store only ever sees appends and compactions.

A segment is stored as ``{"o": last_offset, "l": {link_id: [account_id, total, bot, [[dimension values,
total, bot], ...], slug, [human visitor keys], [bot visitor keys]]}}``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from stream_app.aggregation import BOT_SHIFT, CLICK_MASK, Row, decode_row, encode_row, packed, row_key
from stream_app.folding import Delta, LinkDelta, merge

SEGMENTS_PER_ROW = 16
"""Segments a row gathers before it is rewritten whole."""


class RowStore(Protocol):
    """Key-value storage of one partition's rows (and its meta row), as JSON-ready values."""

    def get(self, key: str) -> Any | None:
        """Return the value stored under ``key``, or None."""
        ...

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` durably (changelog-backed in the worker); it is not changed after."""
        ...

    def delete(self, key: str) -> None:
        """Forget ``key``."""
        ...


def encode_delta(delta: Delta, cache: dict[Any, Any] | None = None) -> dict[str, Any]:
    """Return ``delta`` as a stored segment.

    ``cache`` is shared by the calls of one batch, whose coarser windows share their finer windows' link
    deltas (``stream_app.folding``): each link delta is encoded once (under its ``id``), and a delta made of
    exactly the link deltas of one before it (a batch within one minute: its minute, hour and day deltas) is
    the same segment object, so a ``RowStore`` that remembers the value it last encoded encodes it once.
    """
    shared: tuple[Any, ...] | None = None
    if cache is not None:
        shared = (delta.last_offset, *map(id, delta.links.values()))
        segment = cache.get(shared)
        if segment is not None:
            return segment  # type: ignore[no-any-return]
    links: dict[str, list[Any]] = {}
    for link_id, link in delta.links.items():
        encoded = None if cache is None else cache.get(id(link))
        if encoded is None:
            encoded = [
                link.account_id,
                link.total,
                link.bot,
                [(cell, counts & CLICK_MASK, counts >> BOT_SHIFT) for cell, counts in link.cells.items()],
                link.slug,
                list(link.humans),
                list(link.bots),
            ]
            if cache is not None:
                cache[id(link)] = encoded
        links[link_id] = encoded
    segment = {"o": delta.last_offset, "l": links}
    if cache is not None:
        cache[shared] = segment
    return segment


def decode_delta(data: dict[str, Any]) -> Delta:
    """Return the delta stored as segment ``data``."""
    return Delta(
        data["o"],
        {
            link_id: LinkDelta(
                account_id,
                total,
                bot,
                {tuple(cell): packed(n, bots) for cell, n, bots in cells},
                slug,
                set(humans),
                set(bots),
            )
            for link_id, (account_id, total, bot, cells, slug, humans, bots) in data["l"].items()
        },
    )


class RowLog:
    """The rows of one source partition: merged in memory while written, stored as base + segments.

    Args:
        partition: the source partition.
        store: where rows live.
        max_cells: the cell cap applied when deltas are merged (the same on replay as the first time).
        segments_per_row: segments a row gathers before it is rewritten whole.
    """

    def __init__(
        self,
        partition: int,
        store: RowStore,
        *,
        max_cells: int,
        segments_per_row: int = SEGMENTS_PER_ROW,
    ) -> None:
        self._partition = partition
        self._store = store
        self._max_cells = max_cells
        self._per_row = segments_per_row
        self._rows: dict[tuple[str, int, int], Row] = {}
        self._segments: dict[tuple[str, int, int], int] = {}
        """Segment keys present per row in memory (stale ones included): the next one goes after them."""
        self._sealed: dict[tuple[str, int, int], int] = {}
        """The applied offsets of rows sealed since this log was made (their windows closed): a late click
        is checked for a replay against them without reading the row back."""

    def row(self, gran: str, start: int, bucket: int) -> Row:
        """Return a row to write to (empty when new), kept in memory until ``seal``."""
        key = (gran, start, bucket)
        found = self._rows.get(key)
        if found is None:
            self._sealed.pop(key, None)
            found, self._segments[key] = self._read(self._key(key))
            self._rows[key] = found
        return found

    def applied(self, gran: str, start: int, bucket: int) -> int:
        """Return the last source offset applied to a row, -1 for none."""
        sealed = self._sealed.get((gran, start, bucket))
        if sealed is not None:
            return sealed
        return self.row(gran, start, bucket).last_offset

    def apply(
        self, gran: str, start: int, bucket: int, delta: Delta, cache: dict[Any, Any] | None = None
    ) -> None:
        """Merge ``delta`` into a row and append it to the row's segments (rewriting the row when due).

        ``cache``: shared by the calls of one batch (see ``encode_delta``).
        """
        key = (gran, start, bucket)
        merge(self.row(gran, start, bucket), delta, self._max_cells)
        stored = self._key(key)
        count = self._segments[key]
        self._store.set(f"{stored}|{count}", encode_delta(delta, cache))
        self._segments[key] = count + 1
        if count + 1 >= self._per_row:
            self._compact(key)

    def peek(self, gran: str, start: int, bucket: int) -> Row | None:
        """Return a row to read (the one in memory if written to), None when it has no clicks."""
        found = self._rows.get((gran, start, bucket))
        if found is not None:
            return found
        row, _ = self._read(row_key(gran, start, self._partition, bucket))
        return row if row.links or row.last_offset >= 0 else None

    def seal(self, gran: str, start: int, buckets: Iterable[int]) -> None:
        """Rewrite a window's rows whole (it has closed: no more segments come) and let memory go."""
        for bucket in buckets:
            key = (gran, start, bucket)
            row = self._rows.pop(key, None)
            if row is not None:
                if self._segments.get(key):
                    self._compact(key, row)
                self._segments.pop(key, None)
                self._sealed[key] = row.last_offset

    def drop(self, gran: str, start: int, buckets: Iterable[int]) -> None:
        """Forget a window's rows, segments included."""
        for bucket in buckets:
            key = (gran, start, bucket)
            self._rows.pop(key, None)
            self._segments.pop(key, None)
            self._sealed.pop(key, None)
            stored = self._key(key)
            self._delete_segments(stored, self._count_segments(stored))
            self._store.delete(stored)

    def _key(self, key: tuple[str, int, int]) -> str:
        gran, start, bucket = key
        return row_key(gran, start, self._partition, bucket)

    def _read(self, stored: str) -> tuple[Row, int]:
        data = self._store.get(stored)
        row = Row() if data is None else decode_row(data)
        count = 0
        while (segment := self._store.get(f"{stored}|{count}")) is not None:
            if segment["o"] > row.last_offset:
                merge(row, decode_delta(segment), self._max_cells)
            count += 1
        return row, count

    def _count_segments(self, stored: str) -> int:
        count = 0
        while self._store.get(f"{stored}|{count}") is not None:
            count += 1
        return count

    def _compact(self, key: tuple[str, int, int], row: Row | None = None) -> None:
        stored = self._key(key)
        self._store.set(stored, encode_row(self._rows[key] if row is None else row))
        self._delete_segments(stored, self._segments[key])
        self._segments[key] = 0

    def _delete_segments(self, stored: str, count: int) -> None:
        # Last first: a crash in between leaves a prefix, which reading still finds (and skips).
        for index in reversed(range(count)):
            self._store.delete(f"{stored}|{index}")
