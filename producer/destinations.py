"""Picking a link's destination for a visitor: pure functions, no framework."""

from __future__ import annotations

from typing import NamedTuple

from producer.links import Link


class Choice(NamedTuple):
    """Where a visitor goes, and which country's rule sent them there (None: the default destination)."""

    destination: str
    rule: str | None


def choose_destination(link: Link, country: str | None) -> Choice:
    """Return the destination for a visitor from ``country`` (alpha-2 or None): theirs, else the default."""
    if country is not None and (destination := link.country_destinations.get(country)) is not None:
        return Choice(destination, country)
    return Choice(link.default_destination, None)
