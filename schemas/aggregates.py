"""The aggregate topic's record: a link's final counts in one closed window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schemas.avro_schemas import load_schema
from schemas.codec import AvroCodec

WINDOW_AGGREGATE_VERSIONS: tuple[str, ...] = ("window_aggregate.v1.avsc",)


@dataclass(frozen=True, slots=True)
class WindowAggregate:
    """The final counts of one link in one closed window; ``countries`` maps a country (None: unknown) to
    (clicks, bot)."""

    granularity: str
    window_start_ms: int
    window_end_ms: int
    link_id: str
    account_id: str
    slug: str | None
    clicks: int
    bot: int
    countries: dict[str | None, tuple[int, int]]

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
        )


def _millis(value: datetime | int) -> int:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return round(value.timestamp() * 1000)
    return value


class WindowAggregateCodec:
    """Single-object Avro codec of the aggregate topic."""

    def __init__(self) -> None:
        schemas = [load_schema(name) for name in WINDOW_AGGREGATE_VERSIONS]
        self._avro = AvroCodec(schemas[-1], known_schemas=schemas)

    def encode(self, aggregate: WindowAggregate) -> bytes:
        """Return the message value for ``aggregate``."""
        return self._avro.encode(aggregate.to_record())

    def decode(self, message: bytes) -> WindowAggregate:
        """Return the aggregate in a message."""
        return WindowAggregate.from_record(self._avro.decode(message))
