"""Folding clicks into window rows, idempotently: pure functions over plain, JSON-ready dicts.

State is a set of rows, each belonging to one source partition. A row holds one window's counts for a
bucket of that partition's links, and the offset of the last source message applied to it: a message at or
below that offset was applied already (a replay after a crash) and is skipped, so at-least-once delivery
counts each click exactly once.

Row value::

    {"o": last_offset, "l": {link_id: [account_id, total, bot, {country: [total, bot]}, slug]}}
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from stream_app.windows import Granularity

UNKNOWN_COUNTRY = "unknown"
"""How a click without a known country is counted."""

Row = dict[str, Any]
LinkEntry = list[Any]  # [account_id, total, bot, {country: [total, bot]}, slug]
SLUG = 4
"""Index of the slug (the link's latest known slug, or None) in a link entry."""


def bucket_of(link_id: str, buckets: int) -> int:
    """Return the row bucket of ``link_id`` (stable across processes and restarts)."""
    return zlib.crc32(link_id.encode()) % buckets


def row_key(granularity: str, start_ms: int, partition: int, bucket: int) -> str:
    """Return the table key of a window row."""
    return f"{granularity}|{start_ms}|{partition}|{bucket}"


def new_row() -> Row:
    """Return an empty row."""
    return {"o": -1, "l": {}}


@dataclass(frozen=True, slots=True)
class Click:
    """What aggregation needs of a click."""

    offset: int
    timestamp_ms: int
    link_id: str
    account_id: str
    country: str | None
    is_bot: bool
    slug: str | None = None


@dataclass(slots=True)
class Delta:
    """Pre-aggregated counts of one batch for one row, and the last offset they cover."""

    last_offset: int = -1
    links: dict[str, LinkEntry] = field(default_factory=dict)

    def add(self, click: Click) -> None:
        """Count ``click``."""
        entry = self.links.get(click.link_id)
        if entry is None:
            entry = self.links[click.link_id] = [click.account_id, 0, 0, {}, click.slug]
        bot = 1 if click.is_bot else 0
        entry[1] += 1
        entry[2] += bot
        country = click.country or UNKNOWN_COUNTRY
        counts = entry[3].get(country)
        if counts is None:
            entry[3][country] = [1, bot]
        else:
            counts[0] += 1
            counts[1] += bot
        if click.slug is not None:
            entry[SLUG] = click.slug
        self.last_offset = click.offset


@dataclass(slots=True)
class Batch:
    """The outcome of folding a batch of one partition's clicks."""

    deltas: dict[tuple[str, int, int], Delta] = field(default_factory=dict)
    """Per (granularity, window start, bucket): the counts to add to that row."""
    late: list[tuple[Click, tuple[str, ...]]] = field(default_factory=list)
    """Clicks whose window had closed, with the granularities they were late for."""
    replayed: int = 0
    """(click, granularity) pairs skipped because their row had applied them already."""


AppliedOffset = Callable[[str, int, int], int]
"""Returns the last source offset applied to the row (granularity, window start, bucket), -1 for none."""


def fold(
    clicks: Iterable[Click],
    granularities: Iterable[Granularity],
    watermark_ms: int,
    buckets: int,
    applied: AppliedOffset,
) -> Batch:
    """Pre-aggregate one partition's clicks (in offset order) into per-row deltas.

    A click at or below its row's applied offset was counted before (a replay) and is skipped. A click whose
    window had closed at ``watermark_ms`` is not counted in it, and is reported as late. The watermark is
    fixed for the batch: clicks of one batch do not close windows for each other.
    """
    batch = Batch()
    grans = tuple(granularities)
    for click in clicks:
        late: list[str] = []
        bucket = bucket_of(click.link_id, buckets)
        for gran in grans:
            start = gran.start(click.timestamp_ms)
            if click.offset <= applied(gran.name, start, bucket):
                batch.replayed += 1
                continue
            if gran.is_closed(start, watermark_ms):
                late.append(gran.name)
                continue
            key = (gran.name, start, bucket)
            delta = batch.deltas.get(key)
            if delta is None:
                delta = batch.deltas[key] = Delta()
            delta.add(click)
        if late:
            batch.late.append((click, tuple(late)))
    return batch


def merge(row: Row, delta: Delta) -> None:
    """Add ``delta``'s counts to ``row`` and move the row's applied offset forward."""
    links = row["l"]
    for link_id, (account_id, total, bot, countries, slug) in delta.links.items():
        entry = links.get(link_id)
        if entry is None:
            links[link_id] = [account_id, total, bot, {c: list(v) for c, v in countries.items()}, slug]
            continue
        if slug is not None:
            entry[SLUG] = slug
        entry[1] += total
        entry[2] += bot
        mine = entry[3]
        for country, (c_total, c_bot) in countries.items():
            counts = mine.get(country)
            if counts is None:
                mine[country] = [c_total, c_bot]
            else:
                counts[0] += c_total
                counts[1] += c_bot
    row["o"] = max(row["o"], delta.last_offset)
