"""Batch ingest for backfills (``POST /api/clicks/batch``): validate each record, publish the good ones.

Each click gets the dimensions a redirect's click gets (``producer.clicks``), derived from the user agent,
referer and optional IP it is given; the IP only makes the visitor key and is never stored or sent.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyAddress,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from producer.agents import Agent, describe
from producer.clicks import MAX_REFERER, MAX_USER_AGENT, click_event, future_error, past_error
from producer.deps import UNAUTHORIZED, AccountDep, ServicesDep, json_body, read_json
from producer.destinations import choose_destination
from producer.geo import Geo, parse_country
from producer.links import Link
from producer.visitors import VisitorKeys
from schemas.events import EventType, LinkClick

router = APIRouter(prefix="/api/clicks", tags=["clicks"], responses={**UNAUTHORIZED})

MAX_BATCH = 1_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
GIVEN = "is_bot given"
"""The bot reason of a click given as a bot whose user agent does not say so."""


class ClickIn(BaseModel):
    """One click to record, as it happened."""

    model_config = ConfigDict(extra="forbid")

    link_id: str = Field(max_length=64, description="One of the account's links.")
    timestamp: AwareDatetime = Field(
        description="When the click happened (with a UTC offset); at most MAX_CLOCK_SKEW_SECONDS (default "
        "300) ahead of the service's clock. The click counts in the windows of this time, unless they have "
        "closed (then it is late); it never closes windows."
    )
    event_id: str | None = Field(None, max_length=64, description="Unique id; generated when absent.")
    country: str | None = Field(None, description="ISO 3166-1 alpha-2, upper case.")
    city: str | None = Field(None, max_length=128)
    region: str | None = Field(None, max_length=128)
    continent: str | None = Field(None, pattern=r"^(AF|AN|AS|EU|NA|OC|SA)$")
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    user_agent: str | None = Field(
        None,
        max_length=MAX_USER_AGENT,
        description="The device type, browser, OS and bot verdict are derived from it, as for a redirect.",
    )
    referer: str | None = Field(
        None, max_length=MAX_REFERER, description="Its domain is derived, as for a redirect."
    )
    ip: IPvAnyAddress | None = Field(
        None,
        description="The visitor's IP address, used only to compute the visitor key (a keyed hash with the "
        "day's secret salt, for unique-visitor counts); never stored or sent. Without it the click has no "
        "visitor key.",
    )
    is_bot: bool | None = Field(
        None,
        description="Defaults to what the user agent says (a person when there is none). A click given as "
        f"a bot that its user agent does not name has the bot reason {GIVEN!r}.",
    )

    @field_validator("timestamp")
    @classmethod
    def _in_utc_range(cls, value: datetime) -> datetime:
        """A time in UTC from 1970 on: an offset can carry a time off datetime's range (0001-01-01T00:00
        at +23:59 is in year 0 in UTC), and event times are milliseconds since 1970."""
        try:
            utc = value.astimezone(UTC)
        except OverflowError:
            raise ValueError("the timestamp lies outside the years 1 to 9999 in UTC") from None
        if utc < EPOCH:
            raise ValueError("the timestamp lies before 1970-01-01T00:00:00Z")
        return utc


class ClickBatch(BaseModel):
    """Up to 1,000 clicks."""

    # Each record is validated on its own (a bad one is reported, its mates are taken), so the field takes
    # any objects; the document shows what each should be.
    clicks: Annotated[
        list[dict[str, Any]],
        Field(max_length=MAX_BATCH, json_schema_extra={"items": ClickIn.model_json_schema()}),
    ]


class RecordError(BaseModel):
    """Why one record was rejected."""

    index: int
    error: str


class BatchResult(BaseModel):
    """What became of a batch: accepted records are published; rejected ones say why."""

    accepted: int
    rejected: int
    errors: list[RecordError]


_CLICK = TypeAdapter(ClickIn)


@router.post("/batch", summary="Record a batch of clicks (backfill)", openapi_extra=json_body(ClickBatch))
async def ingest(account: AccountDep, services: ServicesDep, request: Request) -> BatchResult:
    """Validate each click; publish the valid ones in order, report each invalid one by index."""
    batch = await read_json(request, ClickBatch)  # once the key is known good
    links: dict[str, Link | None] = {}
    accepted: list[tuple[ClickIn, Link, Geo]] = []
    errors: list[RecordError] = []
    now, max_skew = services.clock(), timedelta(seconds=services.settings.max_clock_skew_seconds)
    max_age = timedelta(days=services.settings.max_backfill_days)
    for index, raw in enumerate(batch.clicks):
        try:
            click = _CLICK.validate_python(raw)
        except ValidationError as exc:
            errors.append(RecordError(index=index, error=_reason(exc)))
            continue
        if (ahead := future_error(click.timestamp, now, max_skew)) is not None:
            errors.append(RecordError(index=index, error=ahead))
            continue
        if (old := past_error(click.timestamp, now, max_age)) is not None:
            errors.append(RecordError(index=index, error=old))
            continue
        if click.link_id not in links:
            links[click.link_id] = await services.links.get(account, click.link_id)
        link = links[click.link_id]
        if link is None:
            errors.append(RecordError(index=index, error=f"no link {click.link_id!r} in this account"))
            continue
        country = parse_country(click.country)
        if click.country is not None and (country is None or country != click.country):
            errors.append(
                RecordError(index=index, error=f"{click.country!r} is not an ISO 3166-1 alpha-2 code")
            )
            continue
        geo = Geo(country, click.city, click.region, click.continent, click.latitude, click.longitude)
        accepted.append((click, link, geo))
    # Parsing unseen user agents takes a few hundred microseconds each: not on the event loop.
    events = await asyncio.to_thread(_events, accepted, services.visitors)
    for event in events:
        services.publisher.publish(event)
    return BatchResult(accepted=len(events), rejected=len(errors), errors=errors)


def _events(accepted: list[tuple[ClickIn, Link, Geo]], visitors: VisitorKeys) -> list[LinkClick]:
    """The events of valid clicks, with the dimensions and visitor key derived as for a redirect's."""
    events = []
    for click, link, geo in accepted:
        destination, rule = choose_destination(link, geo.country)
        ip = None if click.ip is None else str(click.ip)
        events.append(
            click_event(
                EventType.LINK_CLICK,
                link.slug,
                link,
                destination,
                geo,
                click.timestamp,
                user_agent=click.user_agent,
                referer=click.referer,
                agent=_agent(click),
                rule=rule,
                visitor=visitors.key(click.timestamp, ip, click.user_agent),
                event_id=click.event_id,
            )
        )
    return events


def _agent(click: ClickIn) -> Agent:
    """What the user agent says, with ``is_bot`` as given; a backfill without one is taken for a person."""
    said = describe(click.user_agent) if click.user_agent is not None else Agent()
    if click.is_bot is None or click.is_bot is said.is_bot:
        return said
    return replace(said, bot_reason=GIVEN if click.is_bot else None)


def _reason(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'record'}: {error['msg']}"
        for error in exc.errors()
    )
