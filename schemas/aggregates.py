"""The aggregate topic's record: a link's counts in one closed window, by every dimension, with its
unique-visitor sketches and its revision (``window_aggregate.v3``; v1 and v2 messages still decode, with no
cells or sketches, revision 0)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from schemas.aggregate_writer import AggregateWriter
from schemas.avro_schemas import load_schema
from schemas.codec import MAGIC, AvroCodec, schema_fingerprint
from schemas.errors import InvalidRecordError

WINDOW_AGGREGATE_VERSIONS: tuple[str, ...] = (
    "window_aggregate.v1.avsc",
    "window_aggregate.v2.avsc",
    "window_aggregate.v3.avsc",
)

DIMENSIONS: tuple[str, ...] = (
    "country",
    "continent",
    "region",
    "city",
    "device",
    "browser",
    "os",
    "referer",
    "rule",
    "url",
)
"""The dimensions of a cell, in the order of a cell key (the worker counts clicks by the same)."""


@dataclass(frozen=True, slots=True)
class WindowAggregate:
    """The counts of one link in one closed window (sent again, with a higher ``revision``, when late
    clicks amend it).

    ``countries`` maps a country (None: unknown) to (clicks, bot); ``cells`` maps dimension values (one per
    ``DIMENSIONS`` entry) to (clicks, bot); ``humans`` and ``bots`` are DataSketches HLL sketches of the
    visitor keys (compact bytes, empty when none), which merge across windows, partitions and workers.
    ``revision`` grows with every re-send that counts more (the highest source offset in the window's row):
    a sink keeps, per ``key``, the record of the highest revision.
    """

    granularity: str
    window_start_ms: int
    window_end_ms: int
    link_id: str
    account_id: str
    slug: str | None
    clicks: int
    bot: int
    countries: dict[str | None, tuple[int, int]]
    cells: dict[tuple[str, ...], tuple[int, int]] = field(default_factory=dict)
    humans: bytes = b""
    bots: bytes = b""
    revision: int = 0

    @property
    def human(self) -> int:
        """Clicks not flagged as bots."""
        return self.clicks - self.bot

    @property
    def key(self) -> bytes:
        """The message key: a compacted topic keeps the latest value per window and link."""
        return f"{self.granularity}|{self.window_start_ms}|{self.link_id}".encode()

    def to_record(self) -> dict[str, Any]:
        """Return the Avro record."""
        return {
            "granularity": self.granularity,
            "window_start": self.window_start_ms,
            "window_end": self.window_end_ms,
            "link_id": self.link_id,
            "account_id": self.account_id,
            "slug": self.slug,
            "clicks": self.clicks,
            "human": self.human,
            "bot": self.bot,
            "countries": [
                {"country": country, "clicks": clicks, "human": clicks - bot, "bot": bot}
                for country, (clicks, bot) in self.countries.items()
            ],
            "cells": [
                {**dict(zip(DIMENSIONS, cell, strict=True)), "clicks": clicks, "bot": bot}
                for cell, (clicks, bot) in self.cells.items()
            ],
            "uniques_human": self.humans,
            "uniques_bot": self.bots,
            "revision": self.revision,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> WindowAggregate:
        """Build from a decoded Avro record."""
        return cls(
            granularity=record["granularity"],
            window_start_ms=_millis(record["window_start"]),
            window_end_ms=_millis(record["window_end"]),
            link_id=record["link_id"],
            account_id=record["account_id"],
            slug=record["slug"],
            clicks=record["clicks"],
            bot=record["bot"],
            countries={c["country"]: (c["clicks"], c["bot"]) for c in record["countries"]},
            cells={
                tuple(cell[name] for name in DIMENSIONS): (cell["clicks"], cell["bot"])
                for cell in record.get("cells", ())
            },
            humans=_bytes(record.get("uniques_human", b"")),
            bots=_bytes(record.get("uniques_bot", b"")),
            revision=record.get("revision", 0),
        )


def _bytes(value: bytes | str) -> bytes:
    """A bytes field: fastavro gives a schema default (a JSON string of code points 0-255) as str."""
    return value if isinstance(value, bytes) else value.encode("latin-1")


def _millis(value: datetime | int) -> int:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return round(value.timestamp() * 1000)
    return value


class WindowAggregateCodec:
    """Single-object Avro codec of the aggregate topic: writes v3, reads v1, v2 and v3.

    Args:
        version: the schema version written (1 or 2 for consumers not yet on v3: 1 has no cells and no
            sketches, neither has a revision).
    """

    def __init__(self, version: int = len(WINDOW_AGGREGATE_VERSIONS)) -> None:
        schemas = [load_schema(name) for name in WINDOW_AGGREGATE_VERSIONS]
        writer = schemas[version - 1]
        self._avro = AvroCodec(writer, schemas[-1], known_schemas=schemas)
        self._fields = None if version == len(schemas) else {f["name"] for f in writer["fields"]}
        self._header = MAGIC + schema_fingerprint(writer)
        self._writer = AggregateWriter() if self._fields is None else None

    def encode(self, aggregate: WindowAggregate) -> bytes:
        """Return the message value for ``aggregate``."""
        if self._writer is not None:
            width = len(DIMENSIONS)
            if any(len(cell) != width for cell in aggregate.cells):
                raise InvalidRecordError(f"every cell must have {width} dimension values")
            return self._header + self._writer.body(aggregate)
        record = aggregate.to_record()
        if self._fields is not None:  # an older writer schema: leave out what it has no field for
            record = {name: value for name, value in record.items() if name in self._fields}
        return self._avro.encode(record)

    def decode(self, message: bytes) -> WindowAggregate:
        """Return the aggregate in a message."""
        return WindowAggregate.from_record(self._avro.decode(message))
