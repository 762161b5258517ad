"""The worker's state model: clicks with their dimension values, and window rows of per-link counts.

State is a set of rows, each belonging to one source partition. A row holds one window's counts for a
bucket of that partition's links, and the offset of the last source message applied to it: a message at or
below that offset was applied already (a replay after a crash) and is skipped, so at-least-once delivery
counts each click exactly once (``stream_app.folding``).

Per link a row keeps ``cells``: the cube of the dimension values seen together (one value per
``DIMENSIONS`` entry), each with its clicks and bots, so any filter combines with any grouping; and two
HLL sketches of visitor keys, of people and of bots (docs/analytics.md).

A ``Row`` is stored (``encode_row``, ``decode_row``) as compact, JSON-ready data::

    {"o": last_offset,
     "l": {link_id: [account_id, total, bot, [[[dimension values], total, bot], ...], slug,
                     humans sketch (base64) or None, bots sketch (base64) or None]}}
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from schemas.aggregates import DIMENSIONS as DIMENSIONS  # re-exported: the state's dimensions
from stream_app.sketches import Uniques

UNKNOWN = "unknown"
"""A missing dimension value (``DEFAULT_RULE`` for ``rule``, ``DIRECT`` for ``referer``)."""
DEFAULT_RULE = "default"
"""The rule of a click sent to the link's default destination."""
DIRECT = "direct"
"""The referer of a click without one."""
OTHER = "(other)"
"""What high-cardinality values become in a cell past ``MAX_CELLS``."""

UNKNOWN_COUNTRY = UNKNOWN
"""How a click without a known country is counted."""

MAX_CELLS = 1_000
"""Default cap on the cells of one link in one window (the worker setting ``max_cells``)."""

OVERFLOW_DIMENSIONS: tuple[str, ...] = ("region", "city", "referer", "url")
"""The dimensions replaced by ``OTHER`` in a new cell past the cap; the others stay exact."""

COUNTRY = DIMENSIONS.index("country")
"""Position of ``country`` in a cell key."""

Cell = tuple[str, ...]
"""One value per ``DIMENSIONS`` entry."""


def dims(
    *,
    country: str | None = None,
    continent: str | None = None,
    region: str | None = None,
    city: str | None = None,
    device: str | None = None,
    browser: str | None = None,
    os: str | None = None,
    referer: str | None = None,
    rule: str | None = None,
    url: str | None = None,
) -> Cell:
    """Return a cell key, a missing value named as everywhere (``UNKNOWN``, ``DEFAULT_RULE``, ``DIRECT``)."""
    return (
        country or UNKNOWN,
        continent or UNKNOWN,
        region or UNKNOWN,
        city or UNKNOWN,
        device or UNKNOWN,
        browser or UNKNOWN,
        os or UNKNOWN,
        referer or DIRECT,
        rule or DEFAULT_RULE,
        url or UNKNOWN,
    )


def overflow_cell(cell: Cell) -> Cell:
    """Return ``cell`` with its high-cardinality values (``OVERFLOW_DIMENSIONS``) replaced by ``OTHER``."""
    country, continent, _, _, device, browser, os, _, rule, _ = cell
    return (country, continent, OTHER, OTHER, device, browser, os, OTHER, rule, OTHER)


class Click(NamedTuple):
    """What aggregation needs of a click (a tuple: built once per message on the hot path)."""

    offset: int
    timestamp_ms: int
    link_id: str
    account_id: str
    dims: Cell
    """Its dimension values in ``DIMENSIONS`` order (see ``dims``)."""
    is_bot: bool
    slug: str | None = None
    visitor: int | None = None
    """The visitor key (a signed 64-bit integer), None when unknown."""

    @property
    def country(self) -> str | None:
        """The click's country, None when unknown."""
        country = self.dims[COUNTRY]
        return None if country == UNKNOWN else country


@dataclass(slots=True)
class Counts:
    """Clicks, and how many of them were bots."""

    total: int = 0
    bot: int = 0


BOT_SHIFT = 40
"""A cell counts its clicks and bots in one int, ``clicks + (bots << BOT_SHIFT)``: no object per cell to
allocate, update or have the garbage collector walk (a window's state holds millions of cells)."""
CLICK_MASK = (1 << BOT_SHIFT) - 1
BOT_CLICK = 1 + (1 << BOT_SHIFT)
"""One bot's click, packed."""


def packed(total: int, bot: int) -> int:
    """Return a cell's clicks and bots packed into one int (``BOT_SHIFT``)."""
    return total + (bot << BOT_SHIFT)


def unpacked(counts: int) -> Counts:
    """Return a packed cell count as ``Counts``."""
    return Counts(counts & CLICK_MASK, counts >> BOT_SHIFT)


@dataclass(slots=True)
class LinkCounts:
    """One link's clicks in one window: in all, by bots, by cell, and its unique visitors.

    Mutable: the counts of a batch are added in place (one object per link and row, not one per click).
    """

    account_id: str
    total: int = 0
    bot: int = 0
    cells: dict[Cell, int] = field(default_factory=dict)
    """Clicks by dimension values (one per ``DIMENSIONS`` entry), packed (``packed``), bounded by
    ``max_cells``."""
    slug: str | None = None
    """The link's latest known slug."""
    humans: Uniques = field(default_factory=Uniques)
    """Visitor keys of people."""
    bots: Uniques = field(default_factory=Uniques)
    """Visitor keys of bots."""

    def by(self, dimension: str) -> dict[str, Counts]:
        """Return the clicks by one dimension's values, summed over the other dimensions."""
        index = DIMENSIONS.index(dimension)
        sums: dict[str, int] = {}
        for cell, counts in self.cells.items():
            value = cell[index]
            sums[value] = sums.get(value, 0) + counts
        return {value: unpacked(counts) for value, counts in sums.items()}


@dataclass(slots=True)
class Row:
    """One window's counts for a bucket of a partition's links, and the last source offset applied."""

    last_offset: int = -1
    links: dict[str, LinkCounts] = field(default_factory=dict)


def encode_row(row: Row) -> dict[str, Any]:
    """Return ``row`` as stored (JSON-ready, positional: see the module docstring)."""
    return {"o": row.last_offset, "l": {link_id: encode_link(link) for link_id, link in row.links.items()}}


def encode_link(link: LinkCounts) -> list[Any]:
    """Return one link's counts as stored in a row."""
    return [
        link.account_id,
        link.total,
        link.bot,
        [(cell, counts & CLICK_MASK, counts >> BOT_SHIFT) for cell, counts in link.cells.items()],
        link.slug,
        _encode_sketch(link.humans),
        _encode_sketch(link.bots),
    ]


def decode_row(data: dict[str, Any]) -> Row:
    """Return the row stored as ``data`` (from ``encode_row``)."""
    return Row(data["o"], {link_id: _decode_link(link) for link_id, link in data["l"].items()})


def _decode_link(data: list[Any]) -> LinkCounts:
    account_id, total, bot, cells, slug = data[:5]
    if isinstance(cells, dict):  # rows written before the dimensions: {country: [total, bot]}
        cells = [(dims(country=country), *counts) for country, counts in cells.items()]
    return LinkCounts(
        account_id,
        total,
        bot,
        {tuple(cell): packed(n, bots) for cell, n, bots in cells},
        slug,
        _decode_sketch(data[5] if len(data) > 5 else None),
        _decode_sketch(data[6] if len(data) > 6 else None),
    )


def _encode_sketch(sketch: Uniques) -> str | None:
    return None if sketch.is_empty() else base64.b64encode(sketch.to_bytes()).decode("ascii")


def _decode_sketch(data: str | None) -> Uniques:
    return Uniques() if data is None else Uniques.from_bytes(base64.b64decode(data))


def sum_cells(links: Iterable[LinkCounts], dimension: str) -> dict[str, Counts]:
    """Return the clicks of ``links`` by one dimension's values."""
    out: dict[str, Counts] = {}
    for link in links:
        for value, counts in link.by(dimension).items():
            mine = out.setdefault(value, Counts())
            mine.total += counts.total
            mine.bot += counts.bot
    return out


def bucket_of(link_id: str, buckets: int) -> int:
    """Return the row bucket of ``link_id`` (stable across processes and restarts)."""
    return zlib.crc32(link_id.encode()) % buckets


def row_key(granularity: str, start_ms: int, partition: int, bucket: int) -> str:
    """Return the table key of a window row."""
    return f"{granularity}|{start_ms}|{partition}|{bucket}"
