"""Turning a visit into a click event: the visitor's geo data and request metadata, validated."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime

from producer.links import Link
from producer.routing import choose_destination
from schemas.events import EventType, LinkClick

_COUNTRY = re.compile(r"^[A-Z]{2}$")
# Cloudflare's CF-IPCountry uses these for "no country": unknown and Tor.
_NOT_A_COUNTRY = frozenset({"XX", "T1"})


def parse_country(value: str | None) -> str | None:
    """Return an ISO 3166-1 alpha-2 code from a CF-IPCountry header, or None when absent or not a country."""
    if not value:
        return None
    code = value.strip().upper()
    if not _COUNTRY.match(code) or code in _NOT_A_COUNTRY:
        return None
    return code


def parse_coordinate(value: str | None, limit: float) -> float | None:
    """Return a latitude/longitude within ±``limit``, or None when absent or invalid."""
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if not math.isfinite(number) or abs(number) > limit:
        return None
    return number


def build_click(link: Link, headers: Mapping[str, str], now: datetime) -> tuple[str, LinkClick]:
    """Return the destination for this visit and the click event that records it.

    ``headers`` must be case-insensitive (as Starlette's are).
    """
    country = parse_country(headers.get("cf-ipcountry"))
    destination = choose_destination(link, country)
    event = LinkClick(
        type=EventType.LINK_CLICK,
        link_id=link.link_id,
        account_id=link.account_id,
        destination=destination,
        timestamp=now,
        country=country,
        latitude=parse_coordinate(headers.get("cf-iplatitude"), 90.0),
        longitude=parse_coordinate(headers.get("cf-iplongitude"), 180.0),
        user_agent=headers.get("user-agent"),
        referer=headers.get("referer"),
        city=headers.get("cf-ipcity"),
        region=headers.get("cf-region"),
        continent=headers.get("cf-ipcontinent"),
    )
    return destination, event
