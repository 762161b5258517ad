"""Picking a link's destination for a visitor: pure functions, no framework."""

from __future__ import annotations

from producer.links import Link


def choose_destination(link: Link, country: str | None) -> str:
    """Return the destination for a visitor from ``country`` (alpha-2 or None): theirs, else the default."""
    if country is not None:
        return link.country_destinations.get(country, link.default_destination)
    return link.default_destination
