"""Turning a visit into a click event: pure functions, no framework."""

from __future__ import annotations

from datetime import datetime

from producer.bots import is_bot
from producer.geo import Geo
from producer.links import Link, LinkState
from producer.routing import choose_destination
from schemas.events import EventType, LinkClick, new_event_id

_EVENT_TYPE = {
    LinkState.LIVE: EventType.LINK_CLICK,
    LinkState.DISABLED: EventType.LINK_DISABLED,
    LinkState.EXPIRED: EventType.LINK_EXPIRED,
}


def visit_event(
    slug: str,
    link: Link | None,
    geo: Geo,
    now: datetime,
    *,
    user_agent: str | None,
    referer: str | None,
) -> tuple[str | None, LinkClick]:
    """Return where to send the visitor (None: nowhere, the link is missing or not live) and the event.

    A visit to a live link is a LINK_CLICK; to a missing, disabled or expired one, an event of that type.
    """
    state = link.state(now) if link is not None else None
    destination = choose_destination(link, geo.country) if link is not None else None
    event = click_event(
        EventType.LINK_NOT_FOUND if state is None else _EVENT_TYPE[state],
        slug,
        link,
        destination,
        geo,
        now,
        user_agent=user_agent,
        referer=referer,
        bot=is_bot(user_agent),
    )
    return (destination if state is LinkState.LIVE else None), event


def click_event(
    event_type: EventType,
    slug: str,
    link: Link | None,
    destination: str | None,
    geo: Geo,
    at: datetime,
    *,
    user_agent: str | None,
    referer: str | None,
    bot: bool,
    event_id: str | None = None,
) -> LinkClick:
    """Return the event recording a visit to ``slug`` (whose link may be missing) at ``at``."""
    return LinkClick(
        type=event_type,
        event_id=event_id or new_event_id(),
        link_id=link.link_id if link is not None else "",
        account_id=link.account_id if link is not None else "",
        slug=slug,
        destination=destination or "",
        timestamp=at,
        country=geo.country,
        latitude=geo.latitude,
        longitude=geo.longitude,
        city=geo.city,
        region=geo.region,
        continent=geo.continent,
        user_agent=user_agent,
        referer=referer,
        is_bot=bot,
    )
