"""Folding clicks into window rows, idempotently: pure functions over typed records.

State is a set of rows, each belonging to one source partition. A row holds one window's counts for a
bucket of that partition's links, and the offset of the last source message applied to it: a message at or
below that offset was applied already (a replay after a crash) and is skipped, so at-least-once delivery
counts each click exactly once.

A ``Row`` is stored (``encode_row``, ``decode_row``) as compact, JSON-ready data::

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


@dataclass(slots=True)
class Counts:
    """Clicks, and how many of them were bots."""

    total: int = 0
    bot: int = 0


@dataclass(slots=True)
class LinkCounts:
    """One link's clicks in one window: in all, by bots, and by country (``UNKNOWN_COUNTRY`` for none).

    Mutable: the counts of a batch are added in place (one object per link and row, not one per click).
    """

    account_id: str
    total: int = 0
    bot: int = 0
    countries: dict[str, Counts] = field(default_factory=dict)
    slug: str | None = None
    """The link's latest known slug."""


@dataclass(slots=True)
class Row:
    """One window's counts for a bucket of a partition's links, and the last source offset applied."""

    last_offset: int = -1
    links: dict[str, LinkCounts] = field(default_factory=dict)


def encode_row(row: Row) -> dict[str, Any]:
    """Return ``row`` as stored (JSON-ready, positional: see the module docstring)."""
    return {
        "o": row.last_offset,
        "l": {
            link_id: [
                link.account_id,
                link.total,
                link.bot,
                {country: [counts.total, counts.bot] for country, counts in link.countries.items()},
                link.slug,
            ]
            for link_id, link in row.links.items()
        },
    }


def decode_row(data: dict[str, Any]) -> Row:
    """Return the row stored as ``data`` (from ``encode_row``)."""
    return Row(
        data["o"],
        {
            link_id: LinkCounts(
                account_id,
                total,
                bot,
                {country: Counts(*counts) for country, counts in countries.items()},
                slug,
            )
            for link_id, (account_id, total, bot, countries, slug) in data["l"].items()
        },
    )


def bucket_of(link_id: str, buckets: int) -> int:
    """Return the row bucket of ``link_id`` (stable across processes and restarts)."""
    return zlib.crc32(link_id.encode()) % buckets


def row_key(granularity: str, start_ms: int, partition: int, bucket: int) -> str:
    """Return the table key of a window row."""
    return f"{granularity}|{start_ms}|{partition}|{bucket}"


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
    links: dict[str, LinkCounts] = field(default_factory=dict)

    def add(self, click: Click) -> None:
        """Count ``click``."""
        link = self.links.get(click.link_id)
        if link is None:
            link = self.links[click.link_id] = LinkCounts(click.account_id, slug=click.slug)
        bot = 1 if click.is_bot else 0
        link.total += 1
        link.bot += bot
        country = click.country or UNKNOWN_COUNTRY
        counts = link.countries.get(country)
        if counts is None:
            link.countries[country] = Counts(1, bot)
        else:
            counts.total += 1
            counts.bot += bot
        if click.slug is not None:
            link.slug = click.slug
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
    links = row.links
    for link_id, added in delta.links.items():
        link = links.get(link_id)
        if link is None:
            links[link_id] = LinkCounts(
                added.account_id,
                added.total,
                added.bot,
                {country: Counts(c.total, c.bot) for country, c in added.countries.items()},
                added.slug,
            )
            continue
        if added.slug is not None:
            link.slug = added.slug
        link.total += added.total
        link.bot += added.bot
        mine = link.countries
        for country, c in added.countries.items():
            counts = mine.get(country)
            if counts is None:
                mine[country] = Counts(c.total, c.bot)
            else:
                counts.total += c.total
                counts.bot += c.bot
    row.last_offset = max(row.last_offset, delta.last_offset)
