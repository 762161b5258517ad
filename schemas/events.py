"""The event types carried on the click topic, as plain dataclasses.

Conversion to and from Avro records lives here so that both services build and read events the same way.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class EventType(enum.StrEnum):
    """What a message on the click topic records (the seed's envelope ``type``)."""

    UNKNOWN = "UNKNOWN"
    LINK_CLICK = "LINK_CLICK"
    LINK_NOT_FOUND = "LINK_NOT_FOUND"
    LINK_DISABLED = "LINK_DISABLED"
    LINK_EXPIRED = "LINK_EXPIRED"


def new_event_id() -> str:
    """Return a fresh, unique event id."""
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class LinkClick:
    """One visit to a smart link, as recorded by the producer.

    ``timestamp`` is the event time and must be timezone-aware; ``country`` is ISO 3166-1 alpha-2 or None.
    """

    link_id: str
    account_id: str
    destination: str
    timestamp: datetime
    country: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    type: EventType = EventType.LINK_CLICK
    event_id: str = field(default_factory=new_event_id)
    slug: str | None = None
    user_agent: str | None = None
    referer: str | None = None
    city: str | None = None
    region: str | None = None
    continent: str | None = None
    is_bot: bool = False
    device: str | None = None
    browser: str | None = None
    os: str | None = None
    referer_domain: str | None = None
    rule: str | None = None
    bot_reason: str | None = None
    visitor: int | None = None
    """A signed 64-bit visitor key (see the v3 schema); never the IP."""

    def __post_init__(self) -> None:
        # fastavro would write a naive datetime in the host's local time and read it back as UTC.
        if self.timestamp.utcoffset() is None:
            raise ValueError(f"timestamp must be timezone-aware, got {self.timestamp!r}")

    def to_record(self) -> dict[str, Any]:
        """Return the Avro record (a dict) for this event."""
        return {
            "type": self.type.value,
            "event_id": self.event_id,
            "link_id": self.link_id,
            "slug": self.slug,
            "account_id": self.account_id,
            "country": self.country,
            "destination": self.destination,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "timestamp": self.timestamp,
            "user_agent": self.user_agent,
            "referer": self.referer,
            "city": self.city,
            "region": self.region,
            "continent": self.continent,
            "is_bot": self.is_bot,
            "device": self.device,
            "browser": self.browser,
            "os": self.os,
            "referer_domain": self.referer_domain,
            "rule": self.rule,
            "bot_reason": self.bot_reason,
            "visitor": self.visitor,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> LinkClick:
        """Build an event from a decoded Avro record (of the current reader schema)."""
        timestamp = record["timestamp"]
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=UTC)
        return cls(
            link_id=record["link_id"],
            account_id=record["account_id"],
            destination=record["destination"],
            timestamp=timestamp,
            country=record["country"],
            latitude=record["latitude"],
            longitude=record["longitude"],
            type=EventType(record["type"]),
            event_id=record["event_id"],
            slug=record["slug"],
            user_agent=record["user_agent"],
            referer=record["referer"],
            city=record["city"],
            region=record["region"],
            continent=record["continent"],
            is_bot=record["is_bot"],
            device=record["device"],
            browser=record["browser"],
            os=record["os"],
            referer_domain=record["referer_domain"],
            rule=record["rule"],
            bot_reason=record["bot_reason"],
            visitor=record["visitor"],
        )

    @property
    def key(self) -> bytes:
        """The Kafka message key: the link id, so one link's clicks share a partition and stay in order."""
        return self.link_id.encode()
