"""Turning a visit into a click event: pure functions, no framework.

What an event copies from a request is bounded, so no request can make a record the broker refuses: the
user agent is cut to ``MAX_USER_AGENT`` characters and the referer to ``MAX_REFERER`` (the slug is at most 64
characters by its pattern, a destination at most 2,048 by validation, the geo texts at most 128 each). And
an event's time may not lie in the future beyond a clock skew: it would move the worker's watermark.

The dimensions (device, browser, OS, bot reason, referer domain, visitor key) are derived here, when the
event is built: off the request path, in the publisher's sender.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from producer.agents import Agent, describe
from producer.destinations import choose_destination
from producer.geo import Geo
from producer.ids import EventIds
from producer.links import Link, LinkState
from producer.visitors import VisitorKeys
from schemas.events import EventType, LinkClick
from schemas.referers import referer_domain

MAX_USER_AGENT = 1024
"""Characters of a User-Agent an event keeps (real ones are well under 512)."""
MAX_REFERER = 2048
"""Characters of a Referer an event keeps (as long as the longest destination)."""

_IDS = EventIds()

_EVENT_TYPE = {
    LinkState.LIVE: EventType.LINK_CLICK,
    LinkState.DISABLED: EventType.LINK_DISABLED,
    LinkState.EXPIRED: EventType.LINK_EXPIRED,
}


@dataclass(slots=True)
class Visit:
    """A visit as the redirect saw it: all an event needs, before it is built. The redirect hands this
    small object to the publisher; the event (id, dimensions, visitor key, record) is made off the request
    path. The IP lives here only, in memory, for the visitor key: no event, log or spool holds it."""

    event_type: EventType
    slug: str
    link: Link | None
    destination: str | None
    geo: Geo
    at: datetime
    user_agent: str | None  # capped
    referer: str | None
    rule: str | None = None  # the country whose destination rule fired
    ip: str | None = field(default=None, repr=False)
    visitors: VisitorKeys | None = field(default=None, repr=False)
    preview: str | None = None  # a HEAD, prefetch or preview (``producer.bots.preview_reason``): a bot's

    def event(self) -> LinkClick:
        """The click event recording this visit."""
        visitor = None if self.visitors is None else self.visitors.key(self.at, self.ip, self.user_agent)
        agent = describe(self.user_agent)
        if self.preview is not None and not agent.is_bot:
            agent = replace(agent, bot_reason=self.preview)
        return click_event(
            self.event_type,
            self.slug,
            self.link,
            self.destination,
            self.geo,
            self.at,
            user_agent=self.user_agent,
            referer=self.referer,
            agent=agent,
            rule=self.rule,
            visitor=visitor,
        )


def visit(
    slug: str,
    link: Link | None,
    geo: Geo,
    now: datetime,
    *,
    user_agent: str | None,
    referer: str | None,
    ip: str | None = None,
    visitors: VisitorKeys | None = None,
    preview: str | None = None,
) -> tuple[str | None, Visit]:
    """Return where to send the visitor (None: nowhere, the link is missing or not live) and the visit.

    A visit to a live link is a LINK_CLICK; to a missing, disabled or expired one, an event of that type.
    ``ip`` and ``visitors`` make the visitor key (None without them). ``preview`` (a HEAD's or a prefetch's
    reason) records the visit as a bot's with that reason, unless its user agent names a bot already.
    """
    user_agent = cap(user_agent, MAX_USER_AGENT)
    if link is None:
        seen = Visit(
            EventType.LINK_NOT_FOUND,
            slug,
            None,
            None,
            geo,
            now,
            user_agent,
            referer,
            None,
            ip,
            visitors,
            preview,
        )
        return None, seen
    state = link.state(now)
    destination, rule = choose_destination(link, geo.country)
    seen = Visit(
        _EVENT_TYPE[state],
        slug,
        link,
        destination,
        geo,
        now,
        user_agent,
        referer,
        rule,
        ip,
        visitors,
        preview,
    )
    return (destination if state is LinkState.LIVE else None), seen


def visit_event(
    slug: str,
    link: Link | None,
    geo: Geo,
    now: datetime,
    *,
    user_agent: str | None,
    referer: str | None,
    ip: str | None = None,
    visitors: VisitorKeys | None = None,
) -> tuple[str | None, LinkClick]:
    """``visit``, with the event built at once."""
    destination, seen = visit(
        slug, link, geo, now, user_agent=user_agent, referer=referer, ip=ip, visitors=visitors
    )
    return destination, seen.event()


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
    agent: Agent,
    rule: str | None = None,
    visitor: int | None = None,
    event_id: str | None = None,
) -> LinkClick:
    """Return the event recording a visit to ``slug`` (whose link may be missing) at ``at``; ``agent`` is
    what its user agent says, ``rule`` the country whose destination rule fired, ``visitor`` its key."""
    referer = cap(referer, MAX_REFERER)
    return LinkClick(
        type=event_type,
        event_id=event_id or _IDS.next(),
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
        user_agent=cap(user_agent, MAX_USER_AGENT),
        referer=referer,
        is_bot=agent.is_bot,
        device=agent.device,
        browser=agent.browser,
        os=agent.os,
        referer_domain=referer_domain(referer),
        rule=rule,
        bot_reason=agent.bot_reason,
        visitor=visitor,
    )


def cap(text: str | None, limit: int) -> str | None:
    """Return ``text`` cut to at most ``limit`` characters."""
    return text if text is None or len(text) <= limit else text[:limit]


def future_error(at: datetime, now: datetime, max_skew: timedelta) -> str | None:
    """Why a click at ``at`` cannot be taken at ``now`` (it lies more than ``max_skew`` ahead), or None."""
    if at - now > max_skew:
        return (
            f"timestamp {at.isoformat()} is more than {max_skew.total_seconds():g} s ahead of the "
            f"service's clock ({now.isoformat()})"
        )
    return None


def past_error(at: datetime, now: datetime, max_age: timedelta) -> str | None:
    """Why a click at ``at`` cannot be counted at ``now`` (it lies more than ``max_age`` back, past every
    window the worker keeps), or None."""
    if now - at > max_age:
        return (
            f"timestamp {at.isoformat()} is more than {max_age.days} days before the service's clock "
            f"({now.isoformat()}): no window keeps it"
        )
    return None
