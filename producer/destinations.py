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


def carry_query(destination: str, query: str) -> str:
    """The destination with the short link's query string ``query`` carried onto it (as Dub and Shlink do).

    The rules: the destination's own parameters keep their order; one the visit's query also names takes the
    visit's value (``?utm_source=x`` on the short link overrides the destination's ``utm_source``), at the
    place of its first occurrence, and the destination's further ones of that name are dropped; the visit's
    other parameters follow in their order; the destination's fragment stays last. Parameters are compared and
    copied as sent (percent-encoded), never decoded. An empty query leaves the destination as it is.
    """
    pairs = [pair for pair in query.split("&") if pair]
    if not pairs:
        return destination
    base, hash_mark, fragment = destination.partition("#")
    path, _, own = base.partition("?")
    visit: dict[str, list[str]] = {}
    for pair in pairs:
        visit.setdefault(pair.partition("=")[0], []).append(pair)
    merged: list[str] = []
    for pair in own.split("&"):
        if not pair:
            continue
        name = pair.partition("=")[0]
        if name not in visit:
            merged.append(pair)
        elif visit[name]:
            merged.extend(visit[name])
            visit[name] = []  # placed: the destination's further ones of this name are dropped
    merged.extend(pair for values in visit.values() for pair in values)
    return f"{path}?{'&'.join(merged)}{hash_mark}{fragment}"
